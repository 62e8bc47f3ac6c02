"""checkpoint_dir: a fine-tune killed part-way resumes to the uninterrupted result.

The fits are small (the tiny CNN on 240 digits), with what makes resuming
hard switched on: augmentation and dropout-free shuffling draw from torch's
RNG every epoch, early stopping keeps a patience counter and the best
weights, the learning-rate schedule keeps its step, and the probe floor
needs the probe fitted before fine-tuning.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from skorch.callbacks import Callback

from sktransfer import ImageClassifier, TextClassifier
from sktransfer.datasets import load_digit_images
from sktransfer.finetune import _checkpoint

KW = dict(
    model="sktransfer/tiny-cnn",
    n_trainable_blocks=1,
    augment=True,
    max_epochs=6,
    early_stopping=True,
    validation_fraction=0.25,
    patience=10,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def data():
    X, y = load_digit_images()
    return X[:240], y[:240]


@pytest.fixture(scope="module")
def uninterrupted(data):
    return ImageClassifier(**KW).fit(*data)


@pytest.fixture
def epochs_trained(monkeypatch):
    """Counts the epochs this process trains (each ends with a checkpoint)."""
    count = []
    real = _checkpoint.EpochCheckpoint.on_epoch_end

    def counting(self, net, **kwargs):
        count.append(len(net.history))
        real(self, net, **kwargs)

    monkeypatch.setattr(_checkpoint.EpochCheckpoint, "on_epoch_end", counting)
    return count


def assert_same_fit(a, b, X):
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    assert [h["valid_loss"] for h in a.history_] == [h["valid_loss"] for h in b.history_]
    assert a.validation_scores_ == b.validation_scores_
    assert a.fine_tuning_helped_ == b.fine_tuning_helped_


# The child process: the same fit, killed (SIGKILL: nothing cleans up) in
# the middle of its 4th epoch, after the 3rd epoch's checkpoint.
_KILLED_FIT = """
import os, signal, sys
import numpy as np
from sktransfer import ImageClassifier
from sktransfer.datasets import load_digit_images
from sktransfer.finetune import _checkpoint

def die_in_epoch_4(self, net, **kwargs):
    if len(net.history) == 4 and len(net.history[-1]["batches"]) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

_checkpoint.EpochCheckpoint.on_batch_end = die_in_epoch_4
X, y = load_digit_images()
ImageClassifier(**{kw}, checkpoint_dir=sys.argv[1]).fit(X[:240], y[:240])
"""


def test_a_killed_fine_tune_resumes_to_the_uninterrupted_result(
    tmp_path, data, uninterrupted, epochs_trained
):
    import torch

    folder = tmp_path / "checkpoints"
    # The child computes with this process's thread count: float32 results
    # differ in their last bits between thread counts, and the comparison is exact.
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_FIT).format(kw=KW), str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (saved,) = folder.glob("ImageClassifier-*.pt")
    assert (folder / "features").is_dir()  # the probe's frozen features, kept for the resume

    resumed = ImageClassifier(**KW, checkpoint_dir=folder).fit(*data)
    assert resumed.resumed_at_epoch_ == 3
    assert epochs_trained == [4, 5, 6]  # only the epochs that had not finished
    assert_same_fit(resumed, uninterrupted, data[0])
    assert [p.name for p in folder.glob("*.pt")] == [saved.name]
    assert not list(folder.glob("*.tmp"))

    # Fitted once more, the finished fit is loaded: nothing is trained.
    again = ImageClassifier(**KW, checkpoint_dir=folder).fit(*data)
    assert again.resumed_at_epoch_ == 6 and epochs_trained == [4, 5, 6]
    assert_same_fit(again, uninterrupted, data[0])


def test_a_checkpointed_fit_equals_one_without(tmp_path, data, uninterrupted, epochs_trained):
    est = ImageClassifier(**KW, checkpoint_dir=tmp_path).fit(*data)
    assert est.resumed_at_epoch_ == 0 and epochs_trained == [1, 2, 3, 4, 5, 6]
    assert uninterrupted.resumed_at_epoch_ is None
    assert_same_fit(est, uninterrupted, data[0])


def test_other_data_or_parameters_do_not_resume(tmp_path, data):
    X, y = data
    kw = {**KW, "max_epochs": 2, "early_stopping": False, "checkpoint_dir": tmp_path}
    ImageClassifier(**kw).fit(X, y)
    assert ImageClassifier(**{**kw, "lr": 1e-3}).fit(X, y).resumed_at_epoch_ == 0
    assert ImageClassifier(**kw).fit(X[:200], y[:200]).resumed_at_epoch_ == 0
    y_other = y.copy()
    y_other[0] = (y[0] + 1) % 10
    assert ImageClassifier(**kw).fit(X, y_other).resumed_at_epoch_ == 0
    assert len(list(tmp_path.glob("*.pt"))) == 4
    # What does not change the result does not change the file: loaded, not trained.
    assert ImageClassifier(**{**kw, "verbose": True}).fit(X, y).resumed_at_epoch_ == 2


def test_a_damaged_checkpoint_starts_again(tmp_path, data):
    kw = {**KW, "max_epochs": 2, "early_stopping": False, "checkpoint_dir": tmp_path}
    first = ImageClassifier(**kw).fit(*data)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(path.read_bytes()[:100])
    again = ImageClassifier(**kw).fit(*data)
    assert again.resumed_at_epoch_ == 0
    np.testing.assert_array_equal(first.predict_proba(data[0]), again.predict_proba(data[0]))


class CtrlC(Callback):
    """Ctrl+C in the 3rd epoch."""

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == 3:
            raise KeyboardInterrupt


def saved_state(folder):
    (path,) = folder.glob("*.pt")
    name, key = path.stem.split("-", 1)
    return _checkpoint.Run(folder, name, key).load()


def test_ctrl_c_is_not_saved_as_finished(tmp_path, data):
    """skorch ends training quietly on KeyboardInterrupt; the checkpoint must not call it done."""
    kw = {**KW, "checkpoint_dir": tmp_path, "callbacks": [("ctrl_c", CtrlC())]}
    interrupted = ImageClassifier(**kw).fit(*data)
    assert len(interrupted.history_) == 3  # skorch keeps the partly trained net
    state = saved_state(tmp_path)
    assert state["done"] is False and len(json.loads(state["history"])) == 2
    assert ImageClassifier(**kw).fit(*data).resumed_at_epoch_ == 2


def test_an_unpicklable_parameter_is_a_clear_error(tmp_path, data):
    class Local(Callback):
        pass

    est = ImageClassifier(**KW, checkpoint_dir=tmp_path, callbacks=[Local()])
    with pytest.raises(ValueError, match="callbacks=.*must be picklable|must be picklable"):
        est.fit(*data)


def test_an_unseeded_fit_resumes_with_the_seed_it_drew(tmp_path, data, interrupt_after_saves):
    kw = {**KW, "random_state": None, "max_epochs": 3, "checkpoint_dir": tmp_path}
    interrupt_after_saves(2)
    with pytest.raises(RuntimeError, match="killed"):
        ImageClassifier(**kw).fit(*data)
    seed = saved_state(tmp_path)["seed"]
    interrupt_after_saves(None)
    resumed = ImageClassifier(**kw).fit(*data)
    assert resumed.resumed_at_epoch_ == 2
    assert saved_state(tmp_path)["seed"] == seed and saved_state(tmp_path)["done"]
    again = ImageClassifier(**kw).fit(*data)
    assert again.resumed_at_epoch_ == 3
    np.testing.assert_array_equal(again.predict_proba(data[0]), resumed.predict_proba(data[0]))


@pytest.mark.slow
def test_contrastive_text_fit_resumes(tmp_path, interrupt_after_saves):
    from sktransfer.datasets import load_rotten_tomatoes

    rt = load_rotten_tomatoes().groupby("label").head(12)
    X, y = rt["text"].tolist(), rt["label"].to_numpy()
    kw = dict(
        n_trainable_blocks=1,
        objective="contrastive",
        max_epochs=4,
        device="cpu",
        random_state=0,
        checkpoint_dir=tmp_path,
    )
    whole = TextClassifier(**{**kw, "checkpoint_dir": None}).fit(X, y)
    interrupt_after_saves(2)
    with pytest.raises(RuntimeError, match="killed"):
        TextClassifier(**kw).fit(X, y)
    interrupt_after_saves(None)
    resumed = TextClassifier(**kw).fit(X, y)
    assert resumed.resumed_at_epoch_ == 2
    np.testing.assert_allclose(resumed.predict_proba(X), whole.predict_proba(X), atol=1e-6)
    assert [h.get("contrastive_loss") for h in resumed.history_] == [
        h.get("contrastive_loss") for h in whole.history_
    ]


def test_checkpoint_dir_must_be_a_folder(tmp_path, data):
    path = tmp_path / "a_file"
    path.write_text("x")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        ImageClassifier(**KW, checkpoint_dir=str(path)).fit(*data)
    assert os.path.isfile(path)
