"""skops persistence: every estimator round-trips, nothing but numpy arrays and known types is
stored, and a changed file or another version is refused."""

import io
import json
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)
from sktransfer.persist import dump, load, trusted_types
from sktransfer.selection import EncoderSelector

sio = pytest.importorskip("skops.io")

TEXTS = [f"review number {i} says {'good' if i % 2 else 'bad'} things" for i in range(60)]
IMAGES = np.random.default_rng(0).integers(0, 256, size=(60, 16, 16, 3), dtype=np.uint8)
LABELS = np.arange(60) % 2
NUMBERS = np.linspace(0.0, 3.0, 60)


def _cases():
    tiny_text, tiny_cnn = "sktransfer/tiny-text", "sktransfer/tiny-cnn"
    fine = dict(max_epochs=2, random_state=0)
    return {
        "TextEncoder": (TextEncoder(model=tiny_text), TEXTS, None),
        "ImageEncoder": (ImageEncoder(model=tiny_cnn, layer=-2), IMAGES, None),
        # Frozen blocks cached, one block trained (the trained network holds one block).
        "TextClassifier": (
            TextClassifier(model=tiny_text, n_trainable_blocks=1, **fine),
            TEXTS,
            LABELS,
        ),
        "TextRegressor": (TextRegressor(model=tiny_text, **fine), TEXTS, NUMBERS),
        # Every block trained from the raw images, with early stopping's ValidSplit.
        "ImageClassifier": (
            ImageClassifier(model=tiny_cnn, n_trainable_blocks="all", **fine),
            IMAGES,
            LABELS,
        ),
        "ImageRegressor": (
            ImageRegressor(model=tiny_cnn, weights=None, **fine),
            IMAGES,
            np.c_[NUMBERS, -NUMBERS],
        ),
        "EncoderSelector": (
            EncoderSelector([tiny_cnn, ImageEncoder(model=tiny_cnn, layer=-2)]),
            IMAGES,
            LABELS,
        ),
    }


CASES = _cases()


def _outputs(est, X):
    out = {}
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(est, method):
            out[method] = np.asarray(getattr(est, method)(X))
    return out


def _round_trip(est):
    buffer = io.BytesIO()
    dump(est, buffer)
    data = buffer.getvalue()
    return load(io.BytesIO(data)), data


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_fitted_and_unfitted(name):
    est, X, y = CASES[name]
    est = clone(est)
    unfitted, _ = _round_trip(est)
    assert type(unfitted) is type(est)
    assert repr(unfitted.get_params(deep=False)) == repr(est.get_params(deep=False))

    est.fit(X, y)
    loaded, data = _round_trip(est)
    expected, got = _outputs(est, X), _outputs(loaded, X)
    assert expected and set(got) == set(expected)
    for method in expected:
        np.testing.assert_array_equal(got[method], expected[method], err_msg=method)
    # Only skops' defaults and the types sktransfer declares are in the file, and it holds
    # no pickled bytes: a schema and numpy arrays.
    assert set(sio.get_untrusted_types(data=data)) <= set(trusted_types())
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names[0] == "schema.json" or "schema.json" in names
    assert all(n == "schema.json" or n.endswith(".npy") for n in names)
    # The loaded estimator fits again as a fresh one would.
    refit = loaded.fit(X, y)
    np.testing.assert_array_equal(
        _outputs(refit, X)[list(expected)[0]], expected[list(expected)[0]]
    )


def test_fine_tuner_weights_are_arrays_and_the_backbone_is_not_copied():
    est = ImageClassifier(
        model="sktransfer/tiny-cnn", n_trainable_blocks=1, augment=False, max_epochs=2
    ).fit(IMAGES, LABELS)
    assert est.cached_blocks_ == 2  # stem and stage1 frozen and cached: loaded by name
    _, data = _round_trip(est)
    schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    weights = schema["content"]["content"]["_net_weights"]["content"]
    assert weights and all(w["__loader__"] == "NdArrayNode" for w in weights.values())
    assert {k.split(".")[0] for k in weights} == {"blocks", "head"}
    assert {k.split(".")[1] for k in weights if k.startswith("blocks.")} == {"0"}
    # A text network reaches its blocks by two names: each tensor is stored once.
    text = clone(CASES["TextClassifier"][0]).fit(TEXTS, LABELS)
    _, data = _round_trip(text)
    schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    weights = schema["content"]["content"]["_net_weights"]["content"]
    arrays = [k for k, w in weights.items() if w["__loader__"] == "NdArrayNode"]
    assert "encoder.embed.weight" not in arrays and "blocks.0.weight" in arrays
    est = text
    # skorch's history comes back as a History, with the same entries.
    loaded = load(io.BytesIO(data))
    assert type(loaded.history_).__name__ == "History"
    assert loaded.history_[:, "train_loss"] == est.history_[:, "train_loss"]


def test_pickle_keeps_working_and_loading_leaves_the_rng_alone():
    import torch

    est, X, y = CASES["ImageClassifier"]
    est = clone(est).fit(X, y)
    before = torch.random.get_rng_state()
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert torch.equal(torch.random.get_rng_state(), before)
    # A second save of a loaded (rebuilt) estimator is the same estimator.
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


def test_a_pipeline_of_encoder_and_linear_model():
    pipe = make_pipeline(TextEncoder(model="sktransfer/tiny-text"), LogisticRegression())
    pipe.fit(pd.DataFrame({"review": TEXTS}), LABELS)
    loaded, _ = _round_trip(pipe)
    np.testing.assert_array_equal(
        loaded.predict_proba(pd.DataFrame({"review": TEXTS})),
        pipe.predict_proba(pd.DataFrame({"review": TEXTS})),
    )


def test_a_domain_adapted_fine_tuner():
    pytest.importorskip("skada")
    from sktransfer.adapt import domain_arrays

    X, y, domain = domain_arrays(IMAGES[:40], LABELS[:40], IMAGES[40:])
    est = ImageClassifier(
        model="sktransfer/tiny-cnn",
        n_trainable_blocks=1,
        domain_loss="dann",
        max_epochs=2,
        random_state=0,
    ).fit(X, y, sample_domain=domain)
    loaded, data = _round_trip(est)
    np.testing.assert_array_equal(loaded.predict_proba(IMAGES), est.predict_proba(IMAGES))
    assert set(sio.get_untrusted_types(data=data)) <= set(trusted_types())


def _edit(data, change):
    """``data`` (a skops file) with ``change(schema_content, zip_entries)`` applied."""
    source = zipfile.ZipFile(io.BytesIO(data))
    entries = {n: source.read(n) for n in source.namelist()}
    schema = json.loads(entries["schema.json"])
    change(schema["content"]["content"], entries)
    entries["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, payload in entries.items():
            z.writestr(name, payload)
    return out.getvalue()


def _set_json(content, key, value):
    content[key]["content"] = json.dumps(value)


@pytest.fixture(scope="module")
def saved_classifier():
    est, X, y = CASES["ImageClassifier"]
    est = clone(est).fit(X, y)
    return est, _round_trip(est)[1]


def test_changed_weights_are_refused(saved_classifier):
    _, data = saved_classifier

    def change(content, entries):
        node = next(iter(content["_net_weights"]["content"].values()))
        array = np.load(io.BytesIO(entries[node["file"]]))
        buffer = io.BytesIO()
        np.save(buffer, array + 1e-3)
        entries[node["file"]] = buffer.getvalue()

    with pytest.raises(ValueError, match="do not match the checksum.*changed after it was written"):
        load(io.BytesIO(_edit(data, change)))


def test_another_backbone_hash_is_refused(saved_classifier):
    _, data = saved_classifier
    edited = _edit(data, lambda c, e: _set_json(c, "backbone_identity_", "0" * 32))
    with pytest.raises(ValueError, match="checksum"):
        load(io.BytesIO(edited))


def test_an_encoder_fitted_on_other_weights_says_so_when_used():
    est = TextEncoder(model="sktransfer/tiny-text").fit(TEXTS)
    _, data = _round_trip(est)
    loaded = load(io.BytesIO(_edit(data, lambda c, e: _set_json(c, "backbone_identity_", "0"))))
    with pytest.raises(RuntimeError, match="differ from those TextEncoder was fitted with"):
        loaded.transform(TEXTS)


def test_a_file_from_another_version_is_refused(saved_classifier):
    _, data = saved_classifier
    edited = _edit(data, lambda c, e: _set_json(c, "_sktransfer_version", "0.0.1"))
    with pytest.raises(ValueError, match=r"saved by sktransfer 0\.0\.1.*sktransfer==0\.0\.1"):
        load(io.BytesIO(edited))
    with pytest.raises(ValueError, match="saved by sktransfer 0.0.1"):
        est = TextEncoder()
        state = est.__getstate__()
        state["_sktransfer_version"] = "0.0.1"
        TextEncoder.__new__(TextEncoder).__setstate__(state)


def test_an_untrusted_type_is_not_built(saved_classifier):
    _, data = saved_classifier

    def change(content, entries):
        content["fit_plan_"]["__module__"] = "os"
        content["fit_plan_"]["__class__"] = "system"

    with pytest.raises(Exception, match="os.system"):
        load(io.BytesIO(_edit(data, change)))


def test_a_cuda_estimator_loads_on_a_cpu_only_process(tmp_path, saved_classifier):
    # No GPU here: the file of an estimator with device="cuda" is what a GPU
    # machine writes, since the weights are stored as numpy arrays either way.
    est, _ = saved_classifier
    est = pickle.loads(pickle.dumps(est)).set_params(device="cuda")
    path = tmp_path / "cuda.skops"
    dump(est, path)
    np.save(tmp_path / "X.npy", IMAGES)
    np.save(tmp_path / "expected.npy", saved_classifier[0].predict_proba(IMAGES))
    script = textwrap.dedent(
        f"""
        import numpy as np, torch
        from sktransfer.persist import load
        assert not torch.cuda.is_available()
        est = load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        try:
            est.predict_proba(X)
        except ValueError as exc:
            assert "CUDA is not available here" in str(exc), exc
        else:
            raise AssertionError("device='cuda' predicted without CUDA")
        got = est.set_params(device="cpu").predict_proba(X)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        print("ok")
        """
    )
    env = {"CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.slow
def test_real_minilm_fine_tuner_round_trip(reviews):
    clf = TextClassifier(
        model="all-MiniLM-L6-v2", n_trainable_blocks=1, max_epochs=1, random_state=0
    ).fit(reviews["text"][:80], reviews["label"][:80])
    loaded, data = _round_trip(clf)
    texts = reviews["text"][80:120]
    np.testing.assert_array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))
    np.testing.assert_array_equal(loaded.transform(texts), clf.transform(texts))
    assert len(data) < 20e6  # one transformer layer and the head, not the whole model
