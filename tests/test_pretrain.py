"""Unsupervised and chained transfer: continued pretraining, fine-tuners as encoders, saving.

Real models and data wherever a user would have them: the shipped
all-MiniLM-L6-v2 on Rotten Tomatoes snippets, EfficientNet-Lite0 on digits
on photos; the tiny test networks where a test needs many fits or a killed
process.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
    pretrain,
)
from sktransfer.backbones import get_backbone, saved
from sktransfer.datasets import load_digits_on_photos, load_sentiment_snippets
from sktransfer.pretrain import continue_pretraining
from sktransfer.selection import rank_encoders
from sktransfer.zoo import model_info

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 255, (40, 20, 20), dtype=np.uint8)
LABELS = np.array(["cat", "dog"] * 20)


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# ----------------------------------------------------------------- fine-tuners as encoders


@pytest.mark.parametrize("k", [0, 1, "all"])
def test_image_fine_tuner_transform_is_what_its_saved_backbone_encodes(tmp_path, k):
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn",
        n_trainable_blocks=k,
        augment=False,
        max_epochs=3,
        lr=0.05,
        device="cpu",
        random_state=0,
    ).fit(IMAGES, LABELS)
    features = clf.transform(IMAGES)
    assert features.shape == (40, clf.embedding_dim_) == (40, 32)
    assert list(clf.get_feature_names_out()[:2]) == ["imageclassifier_0", "imageclassifier_1"]
    path = clf.save_backbone(tmp_path / "cnn")
    encoded = ImageEncoder(model=str(path), device="cpu").fit_transform(IMAGES)
    np.testing.assert_allclose(encoded, features, atol=1e-5)
    base = ImageEncoder(model="sktransfer/tiny-cnn", device="cpu").fit_transform(IMAGES)
    if k == 0:
        np.testing.assert_array_equal(features, base)  # nothing but the head trained
    else:
        assert np.abs(features - base).max() > 1e-3  # the trained blocks moved


def test_fine_tuner_transform_in_a_pipeline_and_as_pandas():
    clf = ImageRegressor(
        model="sktransfer/tiny-cnn", augment=False, max_epochs=2, device="cpu", random_state=0
    )
    frame = pd.DataFrame({"photo": list(IMAGES)})
    out = clf.set_output(transform="pandas").fit_transform(frame, IMAGES.mean(axis=(1, 2)))
    assert isinstance(out, pd.DataFrame) and out.shape == (40, 32)
    assert list(out.columns[:2]) == ["photo_0", "photo_1"]
    pipe = make_pipeline(
        ImageClassifier(
            model="sktransfer/tiny-cnn", augment=False, max_epochs=2, device="cpu", random_state=0
        ),
        LogisticRegression(max_iter=500),
    )
    assert pipe.fit(IMAGES, LABELS).predict(IMAGES[:3]).shape == (3,)


@pytest.mark.slow
def test_text_fine_tuner_saves_a_sentence_transformers_folder(tmp_path, reviews):
    from sentence_transformers import SentenceTransformer

    texts, labels = reviews["text"].tolist()[:60], reviews["label"].to_numpy()[:60]
    clf = TextClassifier(
        n_trainable_blocks=2, max_epochs=2, lr=1e-3, device="cpu", random_state=0
    ).fit(texts, labels)
    assert clf.cached_blocks_ == 5
    features = clf.transform(texts[:10])
    path = clf.save_backbone(tmp_path / "minilm-reviews")
    meta = json.loads((path / saved.MARKER).read_text())
    assert meta["history"][-1]["by"] == "TextClassifier" and meta["history"][-1]["n_rows"] == 60
    assert meta["architecture"] == "all-MiniLM-L6-v2" and "model.safetensors" in meta["files"]
    # sentence-transformers loads the folder itself, and so do our estimators.
    st = SentenceTransformer(str(path), device="cpu").encode(texts[:10])
    np.testing.assert_allclose(st, features, atol=1e-5)
    mine = TextEncoder(model=str(path), device="cpu").fit_transform(texts[:10])
    np.testing.assert_allclose(mine, features, atol=1e-5)
    base = TextEncoder(device="cpu").fit_transform(texts[:10])
    assert _cos(mine, base).mean() < 0.9999  # the top two layers changed
    info = model_info(str(path))
    assert info["modality"] == "text" and info["n_blocks"] == 7 and info["output_dim"] == 384
    assert (
        info["licence"] == "Apache-2.0"
        and "fine-tuned by TextClassifier" in (info["pretraining_data"])
    )
    # Chained transfer: the saved backbone fine-tuned again, and ranked.
    again = TextRegressor(model=str(path), n_trainable_blocks=1, max_epochs=1, device="cpu")
    again.fit(texts, np.arange(60.0))
    table = rank_encoders(texts, labels, [str(path), "all-MiniLM-L6-v2"], scores="logme")
    assert set(table["encoder"]) == {str(path), "all-MiniLM-L6-v2"}


def test_chained_saves_keep_the_history(tmp_path):
    kw = dict(augment=False, max_epochs=1, device="cpu", random_state=0)
    first = ImageClassifier(model="sktransfer/tiny-cnn", n_trainable_blocks=1, **kw)
    p1 = first.fit(IMAGES, LABELS).save_backbone(tmp_path / "one")
    second = ImageClassifier(model=str(p1), n_trainable_blocks="all", **kw).fit(IMAGES, LABELS)
    p2 = second.save_backbone(tmp_path / "two")
    meta = saved.read_meta(p2)
    assert [h["n_trainable_blocks"] for h in meta["history"]] == [1, "all"]
    assert meta["architecture"] == "sktransfer/tiny-cnn" and meta["base_model"] == str(p1)
    info = model_info(str(p2))
    assert info["family"] == "saved/testing" and info["source"] == f"local folder (from {p1})"
    # weights=None: the saved architecture from scratch, the baseline.
    scratch = get_backbone(str(p2), weights=None)
    assert scratch.identity != get_backbone(str(p2)).identity


def test_saved_backbone_errors(tmp_path):
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn", augment=False, max_epochs=1, device="cpu", random_state=0
    ).fit(IMAGES, LABELS)
    path = clf.save_backbone(tmp_path / "cnn")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        clf.save_backbone(path)
    clf.save_backbone(path, overwrite=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        clf.save_backbone(other)
    with pytest.raises(FileExistsError, match="not a saved backbone"):
        clf.save_backbone(other, overwrite=True)
    assert (other / "todo.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="weights='IMAGENET1K_V1' is not used by the saved"):
        get_backbone(str(path), weights="IMAGENET1K_V1")
    # A tampered weight file is refused, naming the file.
    with open(path / saved.WEIGHTS, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\0" * 8)
    with pytest.raises(saved.SavedBackboneError, match="changed since it was saved"):
        saved.build(path)
    # Another format version: a clear error, not a half-loaded network.
    meta = json.loads((path / saved.MARKER).read_text())
    (path / saved.MARKER).write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(saved.SavedBackboneError, match="format 99"):
        saved.build(path)
    (path / saved.MARKER).write_text(json.dumps({**meta, "architecture": "no-such-net"}))
    with pytest.raises(saved.SavedBackboneError, match="no backbone family here resolves"):
        saved.build(path, weights=None)


# ----------------------------------------------------------------- continued pretraining


@pytest.fixture(scope="module")
def unlabelled(reviews):
    return reviews["text"].tolist()[:48]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["tsdae", "simcse", "mlm"])
def test_continue_pretraining_text_real_minilm(tmp_path, unlabelled, reviews, method):
    path = continue_pretraining(
        "all-MiniLM-L6-v2",
        unlabelled,
        method=method,
        output_dir=tmp_path / method,
        epochs=1,
        device="cpu",
        random_state=0,
        verbose=False,
    )
    meta = saved.read_meta(path)
    step = meta["history"][-1]
    assert step["method"] == method and step["n_rows"] == 48 and step["steps"] >= 1
    assert np.isfinite(step["final_loss"])
    assert not (path / saved.CHECKPOINT).exists()  # a finished run leaves no checkpoint
    texts = reviews["text"].tolist()[100:110]
    after = TextEncoder(model=str(path), device="cpu").fit_transform(texts)
    before = TextEncoder(device="cpu").fit_transform(texts)
    similarity = _cos(after, before)
    assert 0.5 < similarity.mean() < 0.9999  # moved, and still the same model
    clf = TextClassifier(model=str(path), max_epochs=2, device="cpu", random_state=0)
    assert clf.fit(texts, ["a", "b"] * 5).predict(texts[:2]).shape == (2,)


@pytest.mark.slow
def test_continue_pretraining_is_reproducible_and_resumes(tmp_path, unlabelled, monkeypatch):
    unlabelled = unlabelled[:24]
    kw = dict(
        method="simcse", epochs=1, batch_size=4, n_trainable_blocks=2, device="cpu", verbose=False
    )
    a = continue_pretraining(
        "all-MiniLM-L6-v2", unlabelled, output_dir=tmp_path / "a", random_state=0, **kw
    )
    b = continue_pretraining(
        "all-MiniLM-L6-v2", unlabelled, output_dir=tmp_path / "b", random_state=0, **kw
    )
    c = continue_pretraining(
        "all-MiniLM-L6-v2", unlabelled, output_dir=tmp_path / "c", random_state=1, **kw
    )
    assert saved.read_meta(a)["files"] == saved.read_meta(b)["files"]  # same bytes
    assert saved.read_meta(a)["files"] != saved.read_meta(c)["files"]
    # Interrupted after its second checkpoint (dropout's RNG state included),
    # then called again: it resumes and ends with the same weights.
    from sktransfer import _pretrain_torch

    real_save, saves = _pretrain_torch._save_checkpoint, []

    def save_then_stop(folder, state):
        real_save(folder, state)
        saves.append(state["step"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_pretrain_torch, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        continue_pretraining(
            "all-MiniLM-L6-v2",
            unlabelled,
            output_dir=tmp_path / "d",
            random_state=0,
            checkpoint_every=2,
            **kw,
        )
    assert (tmp_path / "d" / saved.CHECKPOINT / "state.pt").is_file()
    monkeypatch.setattr(_pretrain_torch, "_save_checkpoint", real_save)
    d = continue_pretraining(
        "all-MiniLM-L6-v2",
        unlabelled,
        output_dir=tmp_path / "d",
        random_state=0,
        checkpoint_every=2,
        **kw,
    )
    assert saved.read_meta(d)["history"][-1]["resumed_at_step"] == 4
    assert saved.read_meta(d)["files"] == saved.read_meta(a)["files"]
    with pytest.raises(FileExistsError, match="already holds a saved backbone"):
        continue_pretraining("all-MiniLM-L6-v2", unlabelled, output_dir=d, **kw)


_KILLED_RUN = """
import os, signal, sys
import numpy as np
from sktransfer import _pretrain_torch
from sktransfer.pretrain import continue_pretraining

real, count = _pretrain_torch._save_checkpoint, []

def save_then_die(folder, state):
    real(folder, state)
    count.append(1)
    if len(count) == 3:
        os.kill(os.getpid(), signal.SIGKILL)

_pretrain_torch._save_checkpoint = save_then_die
images = np.random.default_rng(0).integers(0, 255, (40, 20, 20), dtype=np.uint8)
continue_pretraining("sktransfer/tiny-cnn", images, output_dir=sys.argv[1], epochs=4,
                     batch_size=16, checkpoint_every=1, device="cpu", random_state=0,
                     verbose=False)
"""


def test_simclr_killed_process_resumes_to_the_uninterrupted_result(tmp_path):
    kw = dict(epochs=4, batch_size=16, checkpoint_every=1, device="cpu", random_state=0)
    whole = continue_pretraining(
        "sktransfer/tiny-cnn", IMAGES, output_dir=tmp_path / "whole", verbose=False, **kw
    )
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_RUN), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL: no cleanup ran
    assert (out / saved.CHECKPOINT / "state.pt").is_file() and not saved.is_saved(out)
    resumed = continue_pretraining(
        "sktransfer/tiny-cnn", IMAGES, output_dir=out, verbose=False, **kw
    )
    step = saved.read_meta(resumed)["history"][-1]
    assert step["resumed_at_step"] == 3 and step["steps"] == 8
    assert saved.read_meta(resumed)["files"] == saved.read_meta(whole)["files"]
    a = ImageEncoder(model=str(resumed), device="cpu").fit_transform(IMAGES)
    b = ImageEncoder(model=str(whole), device="cpu").fit_transform(IMAGES)
    np.testing.assert_array_equal(a, b)


def test_a_stale_checkpoint_is_not_resumed(tmp_path):
    kw = dict(epochs=2, batch_size=16, device="cpu", verbose=False)
    from sktransfer import _pretrain_torch

    out = tmp_path / "run"
    _pretrain_torch._save_checkpoint(out / saved.CHECKPOINT, {"key": "another run", "step": 1})
    with pytest.warns(UserWarning, match="from another model, data or settings"):
        path = continue_pretraining("sktransfer/tiny-cnn", IMAGES, output_dir=out, **kw)
    assert saved.read_meta(path)["history"][-1]["resumed_at_step"] == 0


@pytest.mark.slow
def test_simclr_on_efficientnet_lite0_with_cached_frozen_blocks(tmp_path):
    images, digits = load_digits_on_photos(size=32)
    images, digits = images[:32], digits[:32]
    path = continue_pretraining(
        "efficientnet_lite0",
        images,
        output_dir=tmp_path / "lite0-photos",
        epochs=2,
        batch_size=16,
        n_views=2,
        device="cpu",
        random_state=0,
        verbose=False,
    )
    step = saved.read_meta(path)["history"][-1]
    assert step["method"] == "simclr" and step["n_trainable_blocks"] == 2 and step["steps"] == 4
    after = ImageEncoder(model=str(path), device="cpu").fit_transform(images[:8])
    before = ImageEncoder(device="cpu").fit_transform(images[:8])
    assert 0.5 < _cos(after, before).mean() < 0.9999
    # The lower blocks were frozen: their output is unchanged.
    low = ImageEncoder(model=str(path), layer=3, device="cpu").fit_transform(images[:8])
    np.testing.assert_allclose(
        low, ImageEncoder(layer=3, device="cpu").fit_transform(images[:8]), atol=1e-5
    )


def test_continue_pretraining_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="method='tsdae' is not an objective for image models"):
        continue_pretraining("sktransfer/tiny-cnn", IMAGES, method="tsdae", output_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="method"):
        continue_pretraining("sktransfer/tiny-cnn", IMAGES, method="byol", output_dir=tmp_path)
    with pytest.raises(ValueError, match="n_trainable_blocks=5 but 'sktransfer/tiny-cnn' has 3"):
        continue_pretraining(
            "sktransfer/tiny-cnn", IMAGES, n_trainable_blocks=5, output_dir=tmp_path / "x"
        )
    with pytest.raises(ValueError, match="needs a sentence-transformers model"):
        continue_pretraining(
            "sktransfer/tiny-text", ["a b", "c d"], method="tsdae", output_dir=tmp_path / "y"
        )
    with pytest.raises(ValueError, match="row 1"):
        continue_pretraining("sktransfer/tiny-text", ["a", None, "b"], output_dir=tmp_path / "z")
    with pytest.raises(ValueError, match="at least 2 rows"):
        continue_pretraining("sktransfer/tiny-text", ["a"], output_dir=tmp_path / "w")


# ----------------------------------------------------------------- inside a pipeline


def test_self_supervised_encoder_in_cross_validation_and_grid_search():
    words = ["loved it", "hated it", "great film", "awful film", "so good", "so bad"]
    texts = [f"{words[i % 6]} {i}" for i in range(36)]
    y = [1, 0, 1, 0, 1, 0] * 6
    enc = TextEncoder(model="sktransfer/tiny-text", self_supervised="simcse", random_state=0)
    fitted = clone(enc).fit(texts)
    assert fitted.self_supervised_["method"] == "simcse" and fitted.self_supervised_["steps"] > 0
    plain = TextEncoder(model="sktransfer/tiny-text").fit_transform(texts)
    out = fitted.transform(texts)
    assert np.abs(out - plain).max() > 1e-4
    assert (
        fitted.backbone_identity_
        != TextEncoder(model="sktransfer/tiny-text").fit(texts).backbone_identity_
    )
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(texts), out)
    # Fold-safe: each fold pretrains on its own training rows only.
    keys = []
    real = pretrain.pretrain_weights

    def spy(backbone, rows, **kw):
        keys.append(tuple(rows.values))
        return real(backbone, rows, **kw)

    pretrain.pretrain_weights, saved_fn = spy, real
    try:
        pipe = make_pipeline(enc, LogisticRegression())
        scores = cross_val_score(pipe, texts, y, cv=3)
    finally:
        pretrain.pretrain_weights = saved_fn
    assert len(scores) == 3 and len(set(keys)) == 3 and all(len(k) == 24 for k in keys)
    grid = GridSearchCV(
        make_pipeline(clone(enc), LogisticRegression()),
        {
            "textencoder__self_supervised": [None, "simcse"],
            "textencoder__self_supervised_epochs": [1],
        },
        cv=2,
    ).fit(texts, y)
    assert set(grid.cv_results_["param_textencoder__self_supervised"]) == {None, "simcse"}


def test_self_supervised_image_encoder_and_domain_rows():
    enc = ImageEncoder(
        model="sktransfer/tiny-cnn",
        self_supervised="simclr",
        self_supervised_epochs=2,
        device="cpu",
        random_state=0,
    )
    domains = np.where(np.arange(40) < 20, 1, -2)  # skada's layout: every row pretrains
    enc.fit(IMAGES, sample_domain=domains)
    assert enc.self_supervised_["epochs"] == 2 and enc.transform(IMAGES[:3]).shape == (3, 32)
    with pytest.raises(ValueError, match="sample_domain"):
        clone(enc).fit(IMAGES, sample_domain=domains[:5])
    with pytest.raises(InvalidParameterError, match="self_supervised"):
        ImageEncoder(model="sktransfer/tiny-cnn", self_supervised="tsdae").fit(IMAGES)


# ----------------------------------------------------------------- clustering


@pytest.mark.slow
def test_clustering_texts_by_kind_with_pretrained_embeddings():
    """Four kinds of text (reviews, film reviews, editorials, tweets), no labels used to fit."""
    df = load_sentiment_snippets().groupby("domain").sample(100, random_state=0)
    texts, kind = df["text"].tolist(), df["domain"].to_numpy()
    kmeans = make_pipeline(TextEncoder(device="cpu"), KMeans(4, n_init=10, random_state=0))
    ari = adjusted_rand_score(kind, kmeans.fit_predict(texts))
    tfidf = make_pipeline(
        TfidfVectorizer(), TruncatedSVD(50, random_state=0), KMeans(4, n_init=10, random_state=0)
    )
    ari_tfidf = adjusted_rand_score(kind, tfidf.fit_predict(texts))
    assert ari > 0.4 and ari > ari_tfidf + 0.3  # measured: 0.50 vs 0.07
    # HDBSCAN finds denser groups and leaves the rest as noise (-1).
    hdb = make_pipeline(
        TextEncoder(device="cpu"), PCA(10, random_state=0), HDBSCAN(min_cluster_size=10, copy=True)
    )
    labels = hdb.fit_predict(texts)
    assert len(labels) == 400 and adjusted_rand_score(kind, labels) > 0.05  # measured: 0.11
