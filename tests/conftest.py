import os

# Nothing in the suite may reach a model hub: the real loading code must work
# from what the install ships.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pytest

import sktransfer
from sktransfer.datasets import load_digit_images, load_rotten_tomatoes

# tests/data holds reference files and the script that makes them in another environment.
collect_ignore_glob = ["data/*"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts from an empty shared feature cache."""
    sktransfer.clear_cache()
    yield
    sktransfer.clear_cache()


@pytest.fixture(scope="session")
def reviews():
    """A fixed, balanced sample of real Rotten Tomatoes snippets."""
    df = load_rotten_tomatoes()
    parts = [g.sample(150, random_state=0) for _, g in df.groupby("label")]
    import pandas as pd

    return pd.concat(parts).sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def digit_images():
    images, target = load_digit_images()
    return images, target


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory):
    """Real photos (scikit-learn's sample images), saved as JPEG and PNG files."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, array in enumerate(load_sample_images().images):
        img = Image.fromarray(array)
        for fmt in ("jpg", "png"):
            path = folder / f"photo{i}.{fmt}"
            img.save(path)
            paths.append(str(path))
        small = img.resize((160, 120)).convert("L")  # grayscale, other size
        path = folder / f"photo{i}_gray.png"
        small.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def random_images():
    return np.random.default_rng(0).integers(0, 256, size=(12, 24, 24, 3), dtype=np.uint8)


@pytest.fixture
def interrupt_after_saves(monkeypatch):
    """``arm(n)``: the n-th checkpoint a fit saves is written, then the fit dies
    (RuntimeError "killed"); ``arm(None)`` saves normally again."""
    from sktransfer.finetune import _checkpoint

    real = _checkpoint.Run.save

    def arm(n):
        if n is None:
            monkeypatch.setattr(_checkpoint.Run, "save", real)
            return
        count = []

        def save_then_die(self, state):
            real(self, state)
            count.append(1)
            if len(count) == n:
                raise RuntimeError("killed")

        monkeypatch.setattr(_checkpoint.Run, "save", save_then_die)

    return arm
