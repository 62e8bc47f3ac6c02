"""Model choice and negative transfer: rank_encoders, EncoderSelector, transfer_report."""

import logging
import pickle
import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline

from sktransfer import ImageEncoder, TextEncoder
from sktransfer.backbones import get_backbone
from sktransfer.selection import (
    EncoderSelector,
    NegativeTransferWarning,
    infer_modality,
    rank_encoders,
    transfer_report,
)


@pytest.fixture(scope="module")
def digits200(digit_images):
    images, target = digit_images
    X, _, y, _ = train_test_split(images, target, train_size=200, stratify=target, random_state=0)
    return X, y


def _bright_half(n=40, seed=0):
    """Random images; class 1 has a bright top half: easy for any reasonable feature."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 255, (n, 16, 16), dtype=np.uint8)
    y = np.repeat([0, 1], n // 2)
    X[y == 1, :8] = 255
    return X, y


@pytest.fixture(scope="module")
def faces():
    """scikit-image's LFW subset: 100 real face crops and 100 non-face crops (25x25 grey)."""
    from skimage import data

    X = (data.lfw_subset() * 255).round().astype(np.uint8)
    return X, np.repeat([1, 0], 100)


FACE_CANDIDATES = [ImageEncoder("efficientnet_lite0", layer=layer) for layer in (2, 4, 6, 7)] + [
    "efficientnet_lite0",
    ImageEncoder("efficientnet_lite0", weights=None),
    ImageEncoder("resnet18", weights=None),
    ImageEncoder("mobilenet_v3_small", weights=None),
]


def test_imagenet_weights_rank_above_random_weights_on_real_faces(faces, tmp_path):
    X, y = faces
    table = rank_encoders(
        X,
        y,
        ["efficientnet_lite0", ImageEncoder("efficientnet_lite0", weights=None)],
        probe_cv=5,
        plot=tmp_path / "rank.png",
    )
    assert list(table["encoder"]) == ["efficientnet_lite0", "efficientnet_lite0 (weights=None)"]
    top, bottom = table.iloc[0], table.iloc[1]
    for score in ("logme", "h_score", "gbc", "knn", "probe_score"):
        assert top[score] > bottom[score], score
    assert (table["embed_time_s"] > 0).all() and (table["n_features"] == 1280).all()
    assert (tmp_path / "rank.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The features went through the shared cache: ranking again embeds nothing.
    backbone = get_backbone("efficientnet_lite0", device="cpu")
    before = backbone.n_forwarded
    rank_encoders(X, y, ["efficientnet_lite0"], scores="logme")
    assert backbone.n_forwarded == before


@pytest.mark.slow
def test_logme_order_agrees_with_linear_probe_accuracy(faces):
    """Kendall tau between LogME and linear-probe accuracy on 8 real feature sets (measured: 0.64).

    The probe trains on 40 images per split: with all 160 it is 97-100 %
    for every ImageNet feature set, and the ties leave tau to chance.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    X, y = faces
    table = rank_encoders(
        X,
        y,
        FACE_CANDIDATES,
        scores=["logme"],
        probe_cv=StratifiedShuffleSplit(n_splits=20, train_size=40, random_state=0),
    )
    tau = kendalltau(table["logme"], table["probe_score"]).statistic
    assert tau > 0.5, table[["encoder", "logme", "probe_score"]]
    # Both orders put every ImageNet feature set above every random-weights network.
    pretrained = ~table["encoder"].str.contains("weights=None")
    assert table["logme"][pretrained].min() > table["logme"][~pretrained].max()
    assert table["probe_score"][pretrained].min() > table["probe_score"][~pretrained].max()


def test_minilm_ranks_above_its_random_init_and_tiny_net_on_reviews(reviews):
    table = rank_encoders(
        reviews["text"],
        reviews["label"],
        ["sktransfer/tiny-text", TextEncoder(weights=None), "all-MiniLM-L6-v2"],
        scores=["logme", "knn"],
        sort_by="knn",
    )
    assert table["encoder"].iloc[0] == "all-MiniLM-L6-v2"
    assert table.attrs["sort_by"] == "knn" and table.attrs["task"] == "classification"
    minilm = table.set_index("encoder").loc["all-MiniLM-L6-v2"]
    assert minilm["knn"] > 0.6  # real sentiment signal in 300 snippets
    assert (table.set_index("encoder")["logme"].idxmax()) == "all-MiniLM-L6-v2"


def test_rank_encoders_regression_and_default_candidates(digits200):
    X, y = _bright_half()
    target = y * 2.5 + np.random.default_rng(0).normal(0, 0.1, len(y))
    table = rank_encoders(
        X, target, ["sktransfer/tiny-cnn", ImageEncoder("sktransfer/tiny-cnn", layer=0)]
    )
    assert table.attrs["task"] == "regression"
    assert [c for c in table.columns if c in ("logme", "h_score", "gbc", "knn")] == ["logme", "knn"]
    with pytest.raises(ValueError, match=r"regression target; \['gbc'\] need class labels"):
        rank_encoders(X, target, ["sktransfer/tiny-cnn"], scores=["logme", "gbc"])
    # No encoders given: every image model with weights here (EfficientNet-Lite0 ships).
    from sktransfer.zoo import default_candidates

    assert "efficientnet_lite0" in default_candidates("image")
    assert "all-MiniLM-L6-v2" in default_candidates("text")


def test_rank_encoders_bad_input():
    X, y = _bright_half()
    with pytest.raises(
        ValueError, match=r"Unknown model 'efficientnet_lite1'.*Did you mean 'efficientnet_lite0'"
    ):
        rank_encoders(X, y, ["efficientnet_lite1"])
    with pytest.raises(ValueError, match=r"too few samples per class: class 2 has 1"):
        rank_encoders(X[:5], [0, 0, 1, 1, 2], ["sktransfer/tiny-cnn"])
    with pytest.raises(ValueError, match=r"X has 40 rows but y has 39"):
        rank_encoders(X, y[:-1], ["sktransfer/tiny-cnn"])
    with pytest.raises(ValueError, match=r"mix image and text models"):
        rank_encoders(X, y, ["sktransfer/tiny-cnn", "sktransfer/tiny-text"])
    with pytest.raises(ValueError, match=r"Unknown score\(s\) \['fancy'\]"):
        rank_encoders(X, y, ["sktransfer/tiny-cnn"], scores=["fancy"])
    with pytest.raises(ValueError, match=r"sort_by='gbc' is not one of the computed scores"):
        rank_encoders(X, y, ["sktransfer/tiny-cnn"], scores=["logme"], sort_by="gbc")
    with pytest.raises(ValueError, match=r"appear more than once"):
        rank_encoders(X, y, ["sktransfer/tiny-cnn", ImageEncoder("sktransfer/tiny-cnn")])
    with pytest.raises(TypeError, match=r"model name or an unfitted transformer"):
        rank_encoders(X, y, [LogisticRegression])


def test_infer_modality(tmp_path, photo_files):
    assert infer_modality(["great film", "dull"]) == "text"
    assert infer_modality(np.zeros((3, 8, 8), np.uint8)) == "image"
    assert infer_modality([str(p) for p in photo_files]) == "image"
    with pytest.raises(ValueError, match="X is empty"):
        infer_modality([])


def test_encoder_selector_chooses_inside_each_fold():
    X, y = _bright_half(60)
    cands = [
        "sktransfer/tiny-cnn",
        ImageEncoder("sktransfer/tiny-cnn", weights=None),
        ImageEncoder("sktransfer/tiny-cnn", layer=0),
    ]
    sel = EncoderSelector(cands, scoring="knn")
    fitted = clone(sel).fit(X[:40], y[:40])
    expected = rank_encoders(X[:40], y[:40], cands, scores=["knn"])
    assert fitted.best_ == expected["encoder"].iloc[0]
    assert list(fitted.ranking_["encoder"]) == list(expected["encoder"])
    out = fitted.transform(X[40:])
    assert out.shape == (20, fitted.encoder_.embedding_dim_)
    np.testing.assert_allclose(out, fitted.encoder_.transform(X[40:]))
    assert list(fitted.get_feature_names_out())[:1] == ["imageencoder_0"]
    assert fitted.set_output(transform="pandas").transform(X[:3]).shape == (3, out.shape[1])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(X[40:]), out)
    pipe = make_pipeline(EncoderSelector(cands), LogisticRegression(max_iter=1000))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    search = GridSearchCV(pipe, {"encoderselector__scoring": ["logme", "knn"]}, cv=2).fit(X, y)
    assert search.best_estimator_[0].best_ in {c if isinstance(c, str) else None for c in cands} | {
        "sktransfer/tiny-cnn (weights=None)",
        "sktransfer/tiny-cnn (layer=0)",
    }
    with pytest.raises(ValueError, match="requires y"):
        EncoderSelector(cands).fit(X, None)
    with pytest.raises(ValueError, match="The 'scoring' parameter of EncoderSelector must be"):
        EncoderSelector(cands, scoring="best").fit(X, y)
    # Bad input names the estimator the user called, and the row.
    with pytest.raises(ValueError, match=r"EncoderSelector: X has 60 rows but y has 59"):
        EncoderSelector(cands).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"EncoderSelector.*class 1 has 1"):
        EncoderSelector(cands).fit(X[:5], np.array([0, 0, 0, 0, 1]))
    bad = list(X[:4]) + [np.zeros((8, 8), dtype=np.float32)]
    with pytest.raises(ValueError, match=r"EncoderSelector.*row 4"):
        EncoderSelector(cands).fit(bad, [0, 0, 1, 1, 1])


def test_encoder_selector_contract(photo_files):
    """What scikit-learn's estimator checks assert, with real images (they feed numbers)."""
    import pandas as pd
    from sklearn.exceptions import NotFittedError

    X, y = _bright_half(40)
    X = np.ascontiguousarray(X)
    X.setflags(write=False)  # read-only input is fine
    sel = EncoderSelector(
        ["sktransfer/tiny-cnn", ImageEncoder("sktransfer/tiny-cnn", layer=0)], device="cpu"
    )
    with pytest.raises(NotFittedError):
        sel.transform(X)
    params = sel.get_params()
    assert sel.fit(X, y) is sel
    assert sel.get_params() == params and sel.n_features_in_ == 1
    state = pickle.dumps(sel)
    out = sel.transform(X)
    assert out.dtype == np.float32 and pickle.dumps(sel) == state  # transform changes nothing
    np.testing.assert_allclose(clone(sel).fit(X, y).transform(X), out)  # idempotent, deterministic
    np.testing.assert_allclose(sel.fit_transform(X, y), out)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(sel.transform(X[order]), out[order])
    np.testing.assert_allclose(sel.transform(X[:5]), out[:5])
    np.testing.assert_allclose(sel.transform(X[:1]), out[:1])
    frame = pd.DataFrame({"img": list(photo_files[:4])})
    fitted = clone(sel).fit(frame, [0, 1, 0, 1])
    assert list(fitted.feature_names_in_) == ["img"]
    with pytest.raises(TypeError, match=r"row 1: NoneType 'None' \(missing\)"):
        clone(sel).fit([photo_files[0], None, photo_files[1], photo_files[2]], [0, 0, 1, 1])
    with pytest.raises((TypeError, ValueError), match=r"(?i)numeric|float|image"):
        clone(sel).fit(np.random.default_rng(0).normal(size=(10, 3)), [0, 1] * 5)


def test_transfer_report_flags_negative_transfer_on_digits(digits200):
    """8x8 digits: raw pixels + a linear model beat ImageNet features upsampled to 224 px."""
    X, y = digits200
    with pytest.warns(NegativeTransferWarning, match="Negative transfer"):
        report = transfer_report(X, y, "efficientnet_lite0", cv=3, fine_tune=False, scratch=False)
    assert list(report.index) == [
        "pretrained features + linear",
        "baseline: raw pixels (32x32) + linear model",
    ]
    pixels = report.loc["baseline: raw pixels (32x32) + linear model"]
    pretrained = report.loc["pretrained features + linear"]
    assert pixels["mean"] > pretrained["mean"]
    assert pretrained["gain_vs_best_non_pretrained"] == pytest.approx(
        pretrained["mean"] - pixels["mean"]
    )
    assert len(pretrained["fold_scores"]) == 3 and pretrained["std"] > 0
    ctx = report.attrs["context"]
    assert ctx["n_classes"] == 10 and ctx["min_per_class"] == 19 and ctx["regime"] == "few-shot"
    assert report.attrs["verdict"].startswith("Negative transfer")


def test_transfer_report_says_transfer_helps_on_reviews(reviews):
    """300 film snippets: MiniLM features beat TF-IDF trained on so little text."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", NegativeTransferWarning)
        report = transfer_report(
            reviews["text"],
            reviews["label"],
            "all-MiniLM-L6-v2",
            cv=5,
            fine_tune=False,
            scratch=False,
        )
    gain = report.loc["pretrained features + linear", "gain_vs_best_non_pretrained"]
    assert gain > 0.05, report
    assert report.attrs["verdict"].startswith("Transfer helps")
    assert report.attrs["context"]["median_per_class"] == 150


@pytest.mark.slow
def test_transfer_report_with_fine_tuning_and_scratch(digits200):
    X, y = digits200
    X, y = X[:100], y[:100] % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeTransferWarning)
        report = transfer_report(
            X,
            y,
            "sktransfer/tiny-cnn",
            cv=2,
            fine_tune_params={"n_trainable_blocks": 1, "max_epochs": 2, "augment": False},
        )
    assert list(report.index) == [
        "pretrained features + linear",
        "fine-tuned (n_trainable_blocks=1)",
        "scratch (weights=None, n_trainable_blocks=1)",
        "baseline: raw pixels (32x32) + linear model",
    ]
    assert report["pretrained"].tolist() == [True, True, False, False]
    assert report["fit_time_s"].gt(0).all()
    assert report["mean"].between(0, 1).all()
    with pytest.raises(ValueError, match="X has 100 rows but y has 99"):
        transfer_report(X, y[:-1], "sktransfer/tiny-cnn")
    with pytest.raises(ValueError, match="too few samples per class"):
        transfer_report(X[:3], [0, 1, 1], "sktransfer/tiny-cnn")


@pytest.mark.slow
def test_transfer_report_budgets_progress_per_fold_and_n_jobs(caplog, monkeypatch):
    from sktransfer import selection

    X = [f"{'good' if i % 2 else 'bad'} film number {i}" for i in range(300)]
    y = np.arange(300) % 2
    seen = []
    fold = selection._fold

    def recording(est, *args):
        seen.append(est.get_params())
        return fold(est, *args)

    monkeypatch.setattr(selection, "_fold", recording)
    kw = dict(cv=3, baseline=False, fine_tune_params={"n_trainable_blocks": 1})
    with caplog.at_level(logging.INFO, logger="sktransfer.selection"):
        report = transfer_report(X, y, "sktransfer/tiny-text", **kw)
    tuned, scratch = seen[3], seen[6]
    # 200 training rows per fold: 20 % held out (40 rows), the most it holds out.
    assert tuned["validation_fraction"] == scratch["validation_fraction"] == 0.2
    assert tuned["max_epochs"] == "auto" and tuned["n_trainable_blocks"] == 1
    assert scratch["max_epochs"] == selection.SCRATCH_MAX_EPOCHS == 5
    assert scratch["weights"] is None and scratch["n_trainable_blocks"] == 1
    folds = [r.getMessage() for r in caplog.records if ", fold " in r.getMessage()]
    assert len(folds) == 9 and folds[0].startswith(
        "transfer_report: pretrained features + linear, fold 1 of 3: "
    )
    # Parallel fits give the same scores as one at a time.
    monkeypatch.setattr(selection, "_fold", fold)
    parallel = transfer_report(X, y, "sktransfer/tiny-text", n_jobs=2, **kw)
    np.testing.assert_allclose(
        np.stack(parallel["fold_scores"]), np.stack(report["fold_scores"]), atol=1e-9
    )
    assert selection._validation_fraction(400) == 0.125
    assert selection._validation_fraction(1000) == 0.1
