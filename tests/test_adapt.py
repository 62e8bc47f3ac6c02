"""Domain adaptation with skada: domain_arrays, encoders in skada pipelines,
model selection without target labels, bad input."""

import sys

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

# Importing skada turns scikit-learn's metadata routing on for the whole
# process; keep that to this module's tests (fixture below), so that the rest
# of the suite runs as it would without skada.
_ROUTING = sklearn.get_config()["enable_metadata_routing"]
skada = pytest.importorskip("skada")
sklearn.set_config(enable_metadata_routing=_ROUTING)

from skada import (  # noqa: E402
    CORALAdapter,
    DensityReweightAdapter,
    EntropicOTMappingAdapter,
    SubspaceAlignmentAdapter,
    make_da_pipeline,
)
from skada.metrics import PredictionEntropyScorer  # noqa: E402
from skada.model_selection import SourceTargetShuffleSplit  # noqa: E402

from sktransfer import ImageEncoder, TextEncoder  # noqa: E402
from sktransfer.adapt import FeatureScorer, RowSplitter, check_domain_arrays, domain_arrays  # noqa: E402
from sktransfer.backbones import get_backbone  # noqa: E402
from sktransfer.datasets import load_digit_images, load_printed_digits, load_sentiment_snippets  # noqa: E402


@pytest.fixture(autouse=True)
def _routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _weighted_lr(**kw):
    return LogisticRegression(max_iter=1000, **kw).set_fit_request(sample_weight=True)


# --------------------------------------------------------------------------- domain_arrays


def test_domain_arrays_texts():
    X, y, sd = domain_arrays(["good", "bad", "ok"], [1, 0, 1], ["fine", "awful"])
    assert X == ["good", "bad", "ok", "fine", "awful"]
    np.testing.assert_array_equal(y, [1, 0, 1, -1, -1])
    np.testing.assert_array_equal(sd, [1, 1, 1, -2, -2])
    assert sd.dtype.kind == "i" and y.dtype.kind == "i"


def test_domain_arrays_keeps_the_input_type():
    # uint8 images of one size: one array
    X, _, _ = domain_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1], np.ones((3, 8, 8), np.uint8))
    assert isinstance(X, np.ndarray) and X.shape == (5, 8, 8) and X.dtype == np.uint8
    assert X[2:].all() and not X[:2].any()
    # images of different sizes: a list of arrays (what ImageEncoder takes)
    X, _, _ = domain_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1], np.ones((1, 16, 16), np.uint8))
    assert isinstance(X, list) and [a.shape for a in X] == [(8, 8), (8, 8), (16, 16)]
    # Series: one Series with a fresh index, the name kept
    s = pd.Series(["a", "b"], index=[10, 11], name="review")
    t = pd.Series(["c"], index=[10], name="review")
    X, _, _ = domain_arrays(s, pd.Series([1, 0]), t)
    assert isinstance(X, pd.Series) and list(X) == ["a", "b", "c"] and list(X.index) == [0, 1, 2]
    assert X.name == "review"
    # DataFrames with the same columns
    X, _, _ = domain_arrays(s.to_frame(), [1, 0], t.to_frame())
    assert (
        isinstance(X, pd.DataFrame) and list(X.columns) == ["review"] and list(X.index) == [0, 1, 2]
    )
    # mixed: a list
    X, _, _ = domain_arrays(s, [1, 0], ["c"])
    assert X == ["a", "b", "c"]
    # a 2-D feature array
    X, _, _ = domain_arrays(np.zeros((2, 3)), [0, 1], np.ones((2, 3)))
    assert X.shape == (4, 3)


def test_domain_arrays_labels():
    # regression targets: NaN on target rows
    _, y, _ = domain_arrays(["a", "b"], [0.5, 2.25], ["c"])
    assert y.dtype.kind == "f" and y[:2].tolist() == [0.5, 2.25] and np.isnan(y[2])
    # unsigned and bool labels become signed ints, so -1 does not wrap to 255
    _, y, _ = domain_arrays(["a", "b"], np.array([3, 0], np.uint8), ["c"])
    assert y.tolist() == [3, 0, -1]
    _, y, _ = domain_arrays(["a", "b"], [True, False], ["c"])
    assert y.tolist() == [1, 0, -1]
    # known target labels are kept (semi-supervised use, or scoring)
    _, y, sd = domain_arrays(["a", "b"], [0, 1], ["c", "d"], y_target=[1, -1])
    assert y.tolist() == [0, 1, 1, -1] and sd.tolist() == [1, 1, -2, -2]


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((["a"], [1], []), {}, ValueError, "X_target has no rows"),
        (([], [], ["a"]), {}, ValueError, "X_source has no rows"),
        ((["a", "b"], None, ["c"]), {}, ValueError, r"No source labels \(y_source is None\)"),
        ((["a", "b"], [], ["c"]), {}, ValueError, r"No source labels \(y_source is empty\)"),
        (
            (["a", "b", "c"], [1, 0], ["d"]),
            {},
            ValueError,
            "X_source has 3 rows but y_source has 2 labels",
        ),
        (
            (["a"], [1], ["c", "d"]),
            {"y_target": [1]},
            ValueError,
            "X_target has 2 rows but y_target has 1 labels",
        ),
        ((["a", "b", "c"], [1, -1, 0], ["d"]), {}, ValueError, r"label -1 in 1 row\(s\): row 1"),
        ((["a", "b"], [0.5, np.nan], ["d"]), {}, ValueError, r"NaN in 1 row\(s\): row 1"),
        ((["a", "b"], ["pos", "neg"], ["d"]), {}, ValueError, "LabelEncoder"),
        ((["a", "b"], [[1], [0]], ["d"]), {}, ValueError, "must be 1-D"),
        (("ab", [1, 0], ["d"]), {}, TypeError, r"single str .* Wrap it in a list"),
        ((None, [1], ["d"]), {}, TypeError, "X_source is None"),
        (
            (pd.DataFrame({"a": ["x"]}), [1], pd.DataFrame({"b": ["y"]})),
            {},
            ValueError,
            "different columns",
        ),
    ],
)
def test_domain_arrays_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        domain_arrays(*args, **kwargs)


def test_check_domain_arrays():
    X = ["a", "b", "c", "d"]
    assert check_domain_arrays(X, [1, 0, -1, -1], [1, 1, -2, -2]) is None
    assert check_domain_arrays(X, None, [-2, -2, -2, -2]) is None  # prediction: target rows only
    with pytest.raises(ValueError, match="X has 4 rows but sample_domain has 3 entries"):
        check_domain_arrays(X, [1, 0, -1, -1], [1, 1, -2])
    with pytest.raises(ValueError, match="X has 4 rows but y has 3 entries"):
        check_domain_arrays(X, [1, 0, -1], [1, 1, -2, -2])
    with pytest.raises(ValueError, match="no target row"):
        check_domain_arrays(X, [1, 0, 1, 0], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="no source row"):
        check_domain_arrays(X, [-1, -1, -1, -1], [-2, -2, -2, -2])
    with pytest.raises(ValueError, match="No source labels: all 2 source rows"):
        check_domain_arrays(X, [-1, -1, -1, -1], [1, 1, -2, -2])
    with pytest.raises(ValueError, match="No source labels"):
        check_domain_arrays(X, [np.nan, np.nan, 0.5, np.nan], [1, 1, -2, -2])
    with pytest.raises(ValueError, match="sample_domain is None"):
        check_domain_arrays(X, [1, 0, -1, -1], None)
    with pytest.raises(ValueError, match="must hold integers"):
        check_domain_arrays(X, [1, 0, -1, -1], ["s", "s", "t", "t"])


def test_missing_skada_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skada", None)  # what an absent package looks like to import
    with pytest.raises(
        ImportError,
        match=r'domain_arrays needs the package .skada.*pip install "sktransfer\[adapt\]"',
    ):
        domain_arrays(["a"], [1], ["b"])


# --------------------------------------------------------------------------- plumbing (tiny
# networks)


def _text_domains(n=24):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "great", "awful", "fine", "poor", "nice", "dull"]
    texts = [" ".join(rng.choice(words, 4)) + f" {i}" for i in range(2 * n)]
    return texts[:n], np.arange(n) % 2, texts[n:]


@pytest.mark.parametrize(
    "adapter, weighted",
    [
        (CORALAdapter(reg=0.1), False),
        (SubspaceAlignmentAdapter(n_components=4, random_state=0), False),
        (DensityReweightAdapter(), True),
    ],
    ids=["mapping", "subspace", "reweighting"],
)
def test_text_encoder_in_a_da_pipeline(adapter, weighted):
    src, y_src, tgt = _text_domains()
    X, y, sd = domain_arrays(src, y_src, tgt)
    clf = _weighted_lr() if weighted else LogisticRegression()
    pipe = make_da_pipeline(TextEncoder(model="sktransfer/tiny-text"), adapter, clf)
    pipe.fit(X, y, sample_domain=sd)
    assert pipe.predict(tgt).shape == (len(tgt),)
    proba = pipe.predict_proba(tgt, sample_domain=np.full(len(tgt), -2))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(pipe.predict(tgt)) <= {0, 1}


def test_grid_search_with_text_rows_and_unsupervised_scorer():
    src, y_src, tgt = _text_domains()
    X, y, sd = domain_arrays(src, y_src, tgt)
    pipe = make_da_pipeline(
        TextEncoder(model="sktransfer/tiny-text"),
        SubspaceAlignmentAdapter(random_state=0),
        LogisticRegression(),
    )
    search = GridSearchCV(
        pipe,
        {"subspacealignmentadapter__n_components": [2, 4]},
        cv=RowSplitter(SourceTargetShuffleSplit(n_splits=2, test_size=0.25, random_state=0)),
        scoring=FeatureScorer(PredictionEntropyScorer()),
    ).fit(X, y, sample_domain=sd)
    assert search.best_params_["subspacealignmentadapter__n_components"] in (2, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert (search.cv_results_["mean_test_score"] <= 0).all()  # minus an entropy


def test_grid_search_over_an_encoder_parameter():
    """The encoder's own hyperparameters are grid-searched like the adapter's."""
    rng = np.random.default_rng(2)
    src = rng.integers(0, 120, (30, 12, 12), dtype=np.uint8)
    tgt = rng.integers(60, 255, (20, 12, 12), dtype=np.uint8)
    X, y, sd = domain_arrays(src, np.arange(30) % 3, tgt)
    pipe = make_da_pipeline(
        ImageEncoder(model="sktransfer/tiny-cnn", device="cpu"),
        CORALAdapter(reg=0.5),
        LogisticRegression(max_iter=1000),
    )
    search = GridSearchCV(
        pipe,
        {"imageencoder__layer": [None, "stage1"], "coraladapter__reg": [0.1, 1.0]},
        cv=RowSplitter(SourceTargetShuffleSplit(n_splits=2, test_size=0.3, random_state=0)),
        scoring=FeatureScorer(PredictionEntropyScorer()),
        error_score="raise",
    ).fit(X, y, sample_domain=sd)
    assert (
        len(search.cv_results_["params"]) == 4
        and np.isfinite(search.cv_results_["mean_test_score"]).all()
    )
    encoder = search.best_estimator_.named_steps["imageencoder"].get_estimator()
    assert encoder.layer == search.best_params_["imageencoder__layer"]
    assert encoder.embedding_dim_ == (32 if encoder.layer is None else 16)


def test_row_splitter_gives_the_skada_splits():
    X, y, sd = domain_arrays(
        [f"s{i}" for i in range(10)], np.arange(10) % 2, [f"t{i}" for i in range(6)]
    )
    cv = SourceTargetShuffleSplit(n_splits=3, test_size=0.5, random_state=0)
    ours = list(RowSplitter(cv).split(X, y, sample_domain=sd))
    theirs = list(cv.split(np.zeros((len(X), 1)), y, sample_domain=sd))
    assert len(ours) == 3
    for (a, b), (c, d) in zip(ours, theirs):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert RowSplitter(cv).get_n_splits(X, y, sample_domain=sd) == 3
    with pytest.raises(ValueError, match="X has 16 rows but sample_domain has 15 entries"):
        next(RowSplitter(cv).split(X, y, sample_domain=sd[:-1]))


def test_feature_scorer_equals_skada_on_image_arrays():
    """On uint8 image arrays skada's scorer works on the whole pipeline: same value."""
    rng = np.random.default_rng(0)
    src = rng.integers(0, 120, (30, 12, 12), dtype=np.uint8)
    tgt = rng.integers(100, 255, (20, 12, 12), dtype=np.uint8)
    X, y, sd = domain_arrays(src, np.arange(30) % 3, tgt)
    pipe = make_da_pipeline(
        ImageEncoder(model="sktransfer/tiny-cnn"), CORALAdapter(reg=0.5), LogisticRegression()
    )
    pipe.fit(X, y, sample_domain=sd)
    ours = FeatureScorer(PredictionEntropyScorer())(pipe, X, y, sample_domain=sd)
    theirs = PredictionEntropyScorer()(pipe, X, y, sample_domain=sd)
    assert ours == pytest.approx(theirs, rel=1e-6)
    with pytest.raises(ValueError, match="X has 50 rows but sample_domain has 49 entries"):
        FeatureScorer(PredictionEntropyScorer())(pipe, X, y, sample_domain=sd[1:])


def test_mismatched_sample_domain_in_a_grid_search_is_a_clear_error():
    src, y_src, tgt = _text_domains()
    X, y, sd = domain_arrays(src, y_src, tgt)
    pipe = make_da_pipeline(
        TextEncoder(model="sktransfer/tiny-text"), CORALAdapter(reg=0.1), LogisticRegression()
    )
    search = GridSearchCV(
        pipe,
        {"coraladapter__reg": [0.1, 1.0]},
        cv=RowSplitter(SourceTargetShuffleSplit(n_splits=2, random_state=0)),
        scoring=FeatureScorer(PredictionEntropyScorer()),
    )
    with pytest.raises(
        ValueError, match=f"X has {len(X)} rows but sample_domain has {len(X) - 2} entries"
    ):
        search.fit(X, y, sample_domain=sd[:-2])


def test_the_cache_embeds_each_image_once_across_pipelines():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 255, (16, 10, 10), dtype=np.uint8)
    tgt = rng.integers(0, 255, (12, 10, 10), dtype=np.uint8)
    X, y, sd = domain_arrays(src, np.arange(16) % 2, tgt)
    backbone = get_backbone("sktransfer/tiny-cnn", device="cpu")
    before = backbone.n_forwarded
    for adapter, clf in [
        (CORALAdapter(reg=0.5), LogisticRegression()),
        (SubspaceAlignmentAdapter(n_components=3, random_state=0), LogisticRegression()),
        (DensityReweightAdapter(), _weighted_lr()),
    ]:
        make_da_pipeline(ImageEncoder(model="sktransfer/tiny-cnn", device="cpu"), adapter, clf).fit(
            X, y, sample_domain=sd
        ).predict(tgt)
    assert backbone.n_forwarded - before == len(X)


# --------------------------------------------------------------------------- real shifts, real
# models


def _split_target(X, y, n_adapt):
    """First n_adapt rows: unlabelled adaptation rows; the rest: test rows."""
    return X[:n_adapt], X[n_adapt:], y[n_adapt:]


@pytest.mark.slow
def test_image_adapters_on_digits_on_photos_with_efficientnet():
    """Handwritten digits (source) -> the same kind of digits on real photos (target).

    One adapter of each family behind a real EfficientNet-Lite0 encoder: the
    best beats source-only on the target, and the shared cache embeds each
    image once for all four pipelines.
    """
    from sktransfer.datasets import load_digits_on_photos

    grey, target = load_digit_images()
    on_photos, _ = load_digits_on_photos(random_state=0)
    order = np.random.default_rng(0).permutation(len(target))
    src, tgt = order[:200], order[200:500]
    Xs, ys = grey[src], target[src]
    Xt_adapt, Xt_test, yt_test = _split_target(on_photos[tgt], target[tgt], 150)
    X, y, sd = domain_arrays(Xs, ys, Xt_adapt)
    assert isinstance(X, list) and len(X) == 350  # 8x8 grey and 32x32 colour: a list of arrays

    backbone = get_backbone("efficientnet_lite0", device="cpu")
    before = backbone.n_forwarded

    def encoder():
        return ImageEncoder(model="efficientnet_lite0", device="cpu")

    accuracy = {}
    for name, adapter, clf in [
        ("source-only", None, LogisticRegression(max_iter=1000)),
        ("mapping: CORAL", CORALAdapter(reg=0.1), LogisticRegression(max_iter=1000)),
        (
            "subspace: SA",
            SubspaceAlignmentAdapter(n_components=64, random_state=0),
            LogisticRegression(max_iter=1000),
        ),
        ("reweighting: density", DensityReweightAdapter(), _weighted_lr()),
    ]:
        steps = [encoder()] + ([adapter] if adapter is not None else []) + [clf]
        pipe = make_da_pipeline(*steps).fit(X, y, sample_domain=sd)
        accuracy[name] = pipe.score(Xt_test, yt_test)
    # 350 fitted rows + 150 test rows, each through the network once
    assert backbone.n_forwarded - before == 500
    adapted = {k: v for k, v in accuracy.items() if k != "source-only"}
    # measured: source-only 0.25, CORAL 0.43 (in-domain would be about 0.6)
    assert max(adapted.values()) >= accuracy["source-only"] + 0.10, accuracy


@pytest.mark.slow
def test_printed_to_handwritten_pipeline_runs_on_efficientnet():
    """The printed -> handwritten shift through the same path (no accuracy claim:
    on frozen EfficientNet features no shallow adapter beats source-only there,
    see benchmarks/bench_adapt.py)."""
    Xs, ys = load_printed_digits(n_per_class=10, random_state=0)
    Xt, yt = load_digit_images()
    X, y, sd = domain_arrays(Xs, ys, Xt[:100])
    assert isinstance(X, np.ndarray) and X.shape == (200, 8, 8)
    pipe = make_da_pipeline(
        ImageEncoder(model="efficientnet_lite0", device="cpu"),
        CORALAdapter(reg=1.0),
        LogisticRegression(max_iter=1000),
    ).fit(X, y, sample_domain=sd)
    # well above chance (10 %) on unseen handwritten digits, from 10 printed digits per class
    assert pipe.score(Xt[100:200], yt[100:200]) > 0.2


def _sentiment_shift():
    df = load_sentiment_snippets(["movies", "tweets"])
    df = df[df["label"] != "neutral"]
    src = df[df["domain"] == "movies"].sample(400, random_state=0)
    tgt = df[df["domain"] == "tweets"].sample(600, random_state=0)
    from sklearn.model_selection import train_test_split

    adapt, test = train_test_split(tgt, test_size=0.5, random_state=0, stratify=tgt["label"])
    X, y, sd = domain_arrays(src["text"], (src["label"] == "positive").astype(int), adapt["text"])
    return X, y, sd, test["text"].tolist(), (test["label"] == "positive").astype(int).to_numpy()


@pytest.mark.slow
def test_text_adapters_on_film_reviews_to_tweets_with_minilm():
    """Film-review sentences (source) -> tweets (target), all-MiniLM-L6-v2."""
    X, y, sd, X_test, y_test = _sentiment_shift()
    assert isinstance(X, pd.Series) and list(X.index) == list(range(700))
    backbone = get_backbone("all-MiniLM-L6-v2", device="cpu")
    before = backbone.n_forwarded
    accuracy = {}
    for name, adapter, clf in [
        ("source-only", None, LogisticRegression(max_iter=1000)),
        ("mapping: CORAL", CORALAdapter(reg=1.0), LogisticRegression(max_iter=1000)),
        (
            "mapping: entropic OT",
            EntropicOTMappingAdapter(reg_e=0.1),
            LogisticRegression(max_iter=1000),
        ),
        (
            "subspace: SA",
            SubspaceAlignmentAdapter(n_components=8, random_state=0),
            LogisticRegression(max_iter=1000),
        ),
        ("reweighting: density", DensityReweightAdapter(), _weighted_lr()),
    ]:
        steps = (
            [TextEncoder(model="all-MiniLM-L6-v2", device="cpu")]
            + ([adapter] if adapter else [])
            + [clf]
        )
        pipe = make_da_pipeline(*steps).fit(X, y, sample_domain=sd)
        accuracy[name] = pipe.score(X_test, y_test)
    assert backbone.n_forwarded - before == len(set(X)) + len(set(X_test) - set(X))
    # measured: source-only 0.57, CORAL 0.73, subspace alignment 0.74
    assert (
        max(v for k, v in accuracy.items() if k != "source-only") >= accuracy["source-only"] + 0.10
    ), accuracy


@pytest.mark.slow
def test_grid_search_picks_an_adapter_setting_without_target_labels():
    """skada's entropy scorer, in GridSearchCV with skada's splitter, on our
    TextEncoder pipeline: its ranking follows the true target accuracy, and
    the chosen n_components is within 3 points of the best one."""
    from scipy.stats import spearmanr

    X, y, sd, X_test, y_test = _sentiment_shift()
    pipe = make_da_pipeline(
        TextEncoder(model="all-MiniLM-L6-v2", device="cpu"),
        SubspaceAlignmentAdapter(random_state=0),
        LogisticRegression(max_iter=1000),
    )
    grid = [1, 2, 8, 32]
    search = GridSearchCV(
        pipe,
        {"subspacealignmentadapter__n_components": grid},
        cv=RowSplitter(SourceTargetShuffleSplit(n_splits=3, test_size=0.3, random_state=0)),
        scoring=FeatureScorer(PredictionEntropyScorer()),
    ).fit(X, y, sample_domain=sd)
    true_accuracy = [
        sklearn.clone(pipe)
        .set_params(subspacealignmentadapter__n_components=k)
        .fit(X, y, sample_domain=sd)
        .score(X_test, y_test)
        for k in grid
    ]
    chosen = grid.index(search.best_params_["subspacealignmentadapter__n_components"])
    assert true_accuracy[chosen] >= max(true_accuracy) - 0.03, (search.best_params_, true_accuracy)
    # at most one neighbouring pair out of order (Spearman 0.8 for 4 candidates)
    assert spearmanr(search.cv_results_["mean_test_score"], true_accuracy).statistic > 0.75
    # refit on all rows: the best estimator predicts the target
    assert search.best_estimator_.score(X_test, y_test) == pytest.approx(true_accuracy[chosen])
