"""Time series: the modality's layouts and errors, Fracast's shipped weights, own networks
pretrained on a source set and transferred, on the UCR sets that ship with sktransfer."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sktransfer import TimeSeriesClassifier, TimeSeriesEncoder, TimeSeriesRegressor
from sktransfer.backbones import get_backbone
from sktransfer.backbones.testing import TINY_SERIES
from sktransfer.datasets import load_ucr, read_ts
from sktransfer.modalities import get_modality, infer_modality
from sktransfer.modalities.minirocket import MiniRocket

pytest.importorskip("fracast")

TS = get_modality("timeseries")


def check(X, **options):
    return TS.check_X(X, "TimeSeriesEncoder", **options)


# ----------------------------------------------------------------------- layouts


def test_layouts_give_the_same_rows():
    X, _ = load_ucr("BasicMotions", split="train")
    X = X[:5]
    as_3d = check(X)
    as_list = check(list(X))
    as_series = check(pd.Series(list(X), index=list("abcde")))
    nested = pd.DataFrame(
        {f"dim_{c}": [pd.Series(X[i, c]) for i in range(5)] for c in range(X.shape[1])}
    )
    as_nested = check(nested)
    for rows in (as_list, as_series, as_nested):
        np.testing.assert_array_equal(rows.values, as_3d.values)
        assert rows.channels == 6
    assert as_3d.values.shape == (5, 6, 100) and as_3d.values.dtype == np.float32
    # scikit-learn's count of features: the channels of a 3-D array, the columns of a frame.
    assert as_3d.n_features == 6 and as_nested.n_features == 6
    assert list(as_nested.feature_names) == [f"dim_{c}" for c in range(6)]


def test_a_wide_frame_is_one_series_per_row_named_by_its_columns():
    X, _ = load_ucr("ItalyPowerDemand", split="train")
    frame = pd.DataFrame(X[:4], columns=[f"h{i}" for i in range(24)])
    rows = check(frame)
    assert rows.values.shape == (4, 1, 24) and rows.n_features == 24
    np.testing.assert_allclose(rows.values, check(X[:4]).values)
    assert rows.feature_names[0] == "h0"


def test_normalisation_per_series_and_channel():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 10.0]])
    z = check(x).values[:, 0]
    np.testing.assert_allclose(z[0], (x[0] - 2.5) / np.std(x[0]), rtol=1e-6)
    assert (z[1] == 0).all()  # a constant series has no scale: zeros, not NaN
    np.testing.assert_allclose(check(x, normalize="minmax").values[0, 0], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(check(x, normalize=None).values[:, 0], x)


def test_ragged_series_are_aligned_at_their_end_and_length_crops():
    rows = check([np.arange(5.0), np.arange(3.0)], normalize=None)
    assert rows.values.shape == (2, 1, 5)
    np.testing.assert_array_equal(rows.values[1, 0], [np.nan, np.nan, 0, 1, 2])
    cropped = check([np.arange(5.0), np.arange(3.0)], normalize=None, length=4)
    np.testing.assert_array_equal(cropped.values[0, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(cropped.values[1, 0], [np.nan, 0, 1, 2])


def test_missing_values_policy():
    x = [[1.0, np.nan, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(ValueError, match=r"1 series hold NaN values: row 0: 1 of 4 values"):
        check(x)
    filled = check(x, missing="interpolate", normalize=None).values[0, 0]
    np.testing.assert_array_equal(filled, [1, 2, 3, 5])
    zero = check(x, missing="zero").values[0, 0]
    assert zero[1] == 0 and np.isfinite(zero).all()
    with pytest.raises(ValueError, match=r"row 0: every value is NaN"):
        check([[np.nan, np.nan]], missing="interpolate")


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        ([[1.0, np.inf, 2.0]], ValueError, r"infinite values: row 0: 1 values"),
        ([np.ones(3), np.ones((2, 3))], ValueError, r"row 0 has 1, but row 1: 2"),
        ([np.ones(3), np.ones(0)], ValueError, r"row 1 is an empty series"),
        ([np.ones(3), None], ValueError, r"row 1 is missing \(None\)"),
        ([np.ones(3), "abc"], TypeError, r"row 1 is a str \('abc'\)"),
        ([np.ones(3), ["a", "b"]], TypeError, r"row 1 cannot be read as numbers"),
        (np.ones(5), ValueError, r"Reshape your data"),
        ([1.0, 2.0, 3.0], ValueError, r"flat sequence of 3 numbers"),
        (np.ones((4, 3, 2, 2)), ValueError, r"shape \(4, 3, 2, 2\)"),
    ],
)
def test_bad_input_names_the_row(X, error, match):
    with pytest.raises(error, match=match):
        check(X)


def test_errors_name_the_pandas_index_label():
    X = pd.Series([np.ones(3), np.array([1.0, np.nan, 2.0])], index=["a", "b"])
    with pytest.raises(ValueError, match=r"row 1 \(index 'b'\)"):
        TimeSeriesEncoder(model=TINY_SERIES, device="cpu").fit(X)


def test_infer_modality_knows_a_float_matrix_and_a_list_of_series():
    X, _ = load_ucr("GunPoint", split="train")
    assert infer_modality(X) == "timeseries"
    assert infer_modality([np.arange(5.0), np.arange(3.0)]) == "timeseries"
    assert infer_modality(np.zeros((2, 8, 8), np.uint8)) == "image"


def test_read_ts_reports_the_line():
    with pytest.raises(ValueError, match=r"line 3"):
        read_ts(["@classLabel true a", "@data", "1,2,x:a"], source="toy.ts")


# ----------------------------------------------------------------------- networks


def test_fracast_backbone_is_fracasts_own_core():
    """The two blocks reproduce the core of fracast's own release loader, to the bit."""
    import torch
    from fracast.inference import FracastModel

    backbone = get_backbone("fracast", device="cpu")
    reference = FracastModel.from_pretrained(weights="fp32")
    X, _ = load_ucr("GunPoint", split="train")
    x = torch.from_numpy(backbone.preprocess.batch(check(X[:3], normalize=None).values))
    with torch.no_grad():
        ours = backbone.net.block_output(x, 1)[:, 0, :, :64]
        values, observed = x[:, 0, 0:1], x[:, 0, 1:2] > 0.5
        theirs = reference.core(values, observed, observed.float())
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert backbone.block_names == ["stem", "stages"]


def test_fracast_scales_each_series_itself():
    X, _ = load_ucr("ItalyPowerDemand", split="train")
    raw = TimeSeriesEncoder(normalize=None, device="cpu").fit_transform(X[:4] * 50 + 7)
    zscored = TimeSeriesEncoder(device="cpu").fit_transform(X[:4])
    np.testing.assert_allclose(raw, zscored, atol=2e-4)


@pytest.mark.slow
def test_fracast_features_classify_gunpoint():
    X, y = load_ucr("GunPoint", split="train")
    Xt, yt = load_ucr("GunPoint", split="test")
    clf = make_pipeline(TimeSeriesEncoder(device="cpu"), LogisticRegression(max_iter=2000))
    assert clf.fit(X, y).score(Xt[:100], yt[:100]) >= 0.8


def test_fracast_probe_and_regression_on_real_sets():
    X, y = load_ucr("ItalyPowerDemand", split="train")
    Xt, yt = load_ucr("ItalyPowerDemand", split="test")
    clf = TimeSeriesClassifier(device="cpu", random_state=0).fit(X, y)
    assert clf.embedding_dim_ == 128 and clf.cached_blocks_ == 2
    assert clf.score(Xt[:200], yt[:200]) >= 0.85  # 0.93 on the whole test split

    X, y = load_ucr("Covid3Month", split="train")
    reg = TimeSeriesRegressor(device="cpu", random_state=0).fit(X[:60], y[:60])
    assert reg.predict(X[60:70]).shape == (10,)


@pytest.mark.parametrize("name", ["fcn", "resnet1d", "lstm", "gru"])
def test_own_networks_by_name(name):
    X, _ = load_ucr("BasicMotions", split="train")
    enc = TimeSeriesEncoder(model=name, weights=None, device="cpu").fit(X[:3])
    out = enc.transform(X[:3])
    assert out.shape == (3, 6 * 128) == (3, enc.embedding_dim_)
    # Each channel alone through the same network: the features are its, side by side.
    first = TimeSeriesEncoder(model=name, weights=None, device="cpu").fit_transform(X[:3, :1])
    np.testing.assert_allclose(out[:, :128], first, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="No pretrained weights are published"):
        TimeSeriesEncoder(model=name, device="cpu").fit(X[:3])


@pytest.fixture(scope="module")
def pretrained_fcn(tmp_path_factory):
    """An FCN trained from scratch on a source set (GunPoint's test split), saved as a backbone."""
    X, y = load_ucr("GunPoint", split="test")
    source = TimeSeriesClassifier(
        model="fcn",
        weights=None,
        n_trainable_blocks="all",
        max_epochs=30,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    folder = tmp_path_factory.mktemp("fcn") / "gunpoint-fcn"
    source.save_backbone(folder)
    return folder, source


def test_a_network_pretrained_on_a_source_set_transfers(pretrained_fcn):
    """Few target labels: the pretrained network's probe beats the same probe on a random one."""
    folder, source = pretrained_fcn
    assert source.score(*load_ucr("GunPoint", split="test")) >= 0.9  # it learnt its source
    X, y = load_ucr("GunPoint", split="train")
    few = np.concatenate([np.flatnonzero(y == c)[:5] for c in np.unique(y)])
    test = np.setdiff1d(np.arange(len(y)), few)
    scores = {}
    for weights, model in (("DEFAULT", folder), (None, "fcn")):
        clf = TimeSeriesClassifier(model=model, weights=weights, device="cpu", random_state=0)
        scores[weights] = clf.fit(X[few], y[few]).score(X[test], y[test])
    assert scores["DEFAULT"] >= 0.85 and scores["DEFAULT"] >= scores[None] + 0.1, scores
    # The saved network encodes a multichannel target channel by channel.
    X6, _ = load_ucr("BasicMotions", split="train")
    assert TimeSeriesEncoder(model=folder, device="cpu").fit_transform(X6[:2]).shape == (2, 768)


def test_fine_tuning_the_top_block_caches_the_frozen_ones(pretrained_fcn):
    folder, _ = pretrained_fcn
    X, y = load_ucr("GunPoint", split="train")
    clf = TimeSeriesClassifier(
        model=folder, n_trainable_blocks=1, max_epochs=3, device="cpu", random_state=0
    ).fit(X, y)
    assert clf.cached_blocks_ == 2 and clf.n_trainable_blocks_ == 1
    assert clf.predict_proba(X[:4]).shape == (4, 2)


# ----------------------------------------------------------------------- baseline


def test_minirocket_matches_the_published_accuracy():
    """MiniRocket + ridge on GunPoint: 99.3 % here; the paper reports 99.3 % over 30 resamples."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler

    X, y = load_ucr("GunPoint", split="train")
    Xt, yt = load_ucr("GunPoint", split="test")
    model = make_pipeline(
        MiniRocket(random_state=0),
        StandardScaler(with_mean=False),
        RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)),
    )
    assert model.fit(X, y).score(Xt, yt) >= 0.97
    features = MiniRocket(random_state=0).fit(X)
    assert features.transform(Xt[:3]).shape == (3, 9996)
    assert ((features.transform(Xt[:3]) >= 0) & (features.transform(Xt[:3]) <= 1)).all()


def test_minirocket_multivariate_and_short_series():
    X, y = load_ucr("BasicMotions", split="train")
    out = MiniRocket(n_features=840, random_state=0).fit(X).transform(X[:2])
    assert out.shape == (2, 840)
    short = MiniRocket(n_features=84, random_state=0).fit(np.random.default_rng(0).random((5, 4)))
    assert short.transform(np.zeros((1, 4))).shape == (1, 84)


# ----------------------------------------------------------------------- the rest of the API


def test_domain_adaptation_with_sample_domain():
    """Source rows labelled, target rows not (skada's layout): deep CORAL on a series network."""
    X, y = load_ucr("GunPoint", split="train")
    target = X[:20] * 1.5 + 0.3  # the same movements, recorded at another scale and offset
    Xa = np.concatenate([X, target])
    ya = np.concatenate([y, np.full(20, "-1", dtype=object)])
    domain = np.r_[np.ones(len(X), int), -2 * np.ones(20, int)]
    clf = TimeSeriesClassifier(
        model=TINY_SERIES,
        n_trainable_blocks=1,
        domain_loss="deepcoral",
        normalize=None,
        max_epochs=2,
        device="cpu",
        random_state=0,
    ).fit(Xa, ya, sample_domain=domain)
    assert clf.domain_rows_ == (50, 20) and clf.predict(target).shape == (20,)


def test_rank_encoders_and_transfer_report_on_series():
    from sktransfer.selection import NegativeTransferWarning, rank_encoders, transfer_report

    X, y = load_ucr("GunPoint", split="train")
    table = rank_encoders(X, y, encoders=["fracast", TINY_SERIES])
    assert list(table["encoder"])[0] == "fracast"  # pretrained beats the tiny random network
    # A random tiny network loses to MiniRocket, and the report says so.
    with pytest.warns(NegativeTransferWarning, match="MiniRocket"):
        report = transfer_report(
            X,
            y,
            model=TINY_SERIES,
            cv=2,
            fine_tune_params={"n_trainable_blocks": 1, "max_epochs": 2},
            random_state=0,
        )
    assert "baseline: MiniRocket + linear model" in report.index
    assert report.loc["baseline: MiniRocket + linear model", "mean"] >= 0.9


# ----------------------------------------------------------------------- forecasting


def _windows(series, context, horizon, starts):
    X = np.stack([series[t - context : t] for t in starts])
    Y = np.stack([series[t : t + horizon] for t in starts])
    return X, Y


def test_forecast_head_starts_from_fracasts_own_forecast():
    """head_init="forecast" before any step gives what fracast's release forecasts, on the
    series' own scale; training then moves it."""
    from fracast.inference import FracastModel

    from sktransfer.datasets import load_airline

    y = load_airline().to_numpy()
    X, Y = _windows(y, 36, 12, range(36, 48))
    untrained = TimeSeriesRegressor(
        head_init="forecast", normalize=None, max_epochs=1, lr=1e-9, device="cpu", random_state=0
    ).fit(X, Y)
    reference = FracastModel.from_pretrained(weights="fp32").forecast_batch(X[:4], horizon=12)
    np.testing.assert_allclose(untrained.predict(X[:4]), reference[..., 4], rtol=1e-4, atol=1e-2)
    assert untrained.cached_blocks_ == 0 and untrained.fine_tuning_helped_ is None
    trained = TimeSeriesRegressor(
        head_init="forecast", normalize=None, max_epochs=2, device="cpu", random_state=0
    ).fit(X, Y)
    assert not np.allclose(trained.predict(X[:4]), untrained.predict(X[:4]))


@pytest.mark.parametrize(
    ("params", "y_width", "X_channels", "match"),
    [
        ({}, 12, 1, r"normalize='zscore' removes; pass normalize=None"),
        ({"normalize": None}, 49, 1, r"y has 49 outputs, but 'fracast' forecasts at most 48"),
        ({"normalize": None}, 12, 2, r"takes series of one channel; X has 2"),
        ({"normalize": None, "model": TINY_SERIES}, 12, 1, r"has none"),
    ],
)
def test_forecast_head_errors(params, y_width, X_channels, match):
    X = np.random.default_rng(0).random((6, X_channels, 30))
    reg = TimeSeriesRegressor(head_init="forecast", device="cpu", **params)
    with pytest.raises(ValueError, match=match):
        reg.fit(X, np.zeros((6, y_width)))
    with pytest.raises(ValueError, match="head_init"):
        TimeSeriesClassifier(head_init="forecast", device="cpu").fit(X, [0, 1] * 3)
