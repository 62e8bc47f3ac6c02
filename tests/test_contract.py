"""The scikit-learn estimator contract, asserted with real text and images.

These are the properties of scikit-learn's estimator checks that cannot run
on numeric tabular X (see test_estimator_checks.py), checked with inputs the
encoders take. The tiny fake backbones keep them fast; the real models are
exercised in test_encoders.py.
"""

import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)

TEXTS = [
    f"review number {i}: " + ("great acting" if i % 2 else "boring plot") * (1 + i % 3)
    for i in range(24)
]
IMAGES = np.random.default_rng(0).integers(0, 256, size=(24, 20, 20, 3), dtype=np.uint8)
LABELS = np.arange(24) % 2


def _text(**kw):
    return TextEncoder(**{"model": "sktransfer/tiny-text", "device": "cpu", **kw})


def _image(**kw):
    return ImageEncoder(**{"model": "sktransfer/tiny-cnn", "device": "cpu", **kw})


CASES = {"text": (_text, TEXTS), "image": (_image, IMAGES)}


@pytest.fixture(params=sorted(CASES))
def case(request):
    make, X = CASES[request.param]
    return make, X


def test_fit_accepts_y_and_returns_self(case):
    make, X = case
    enc = make()
    assert enc.fit(X) is enc
    assert enc.fit(X, LABELS) is enc
    with pytest.raises(ValueError, match="24 rows but y has 3"):
        make().fit(X, LABELS[:3])


def test_fit_does_not_change_params(case):
    make, X = case
    enc = make(batch_size=5)
    before = enc.get_params()
    enc.fit(X)
    after = enc.get_params()
    assert before == after
    public = {k for k in vars(enc) if not k.startswith("_") and not k.endswith("_")}
    assert public == set(before)


def test_output_is_float32(case):
    make, X = case
    out = make().fit_transform(X)
    assert out.dtype == np.float32
    assert out.shape[0] == len(X) and out.shape[1] > 1
    assert np.isfinite(out).all()
    # Different samples get different features: the network really ran.
    assert len(np.unique(out.round(5), axis=0)) == len(X)


def test_readonly_array_input(case, tmp_path):
    make, X = case
    expected = make().fit_transform(X)
    if isinstance(X, list):
        arr = np.asarray(X, dtype=object)
    else:
        path = tmp_path / "images.npy"
        np.save(path, X)
        arr = np.load(path, mmap_mode="r")
        assert not arr.flags.writeable
        np.testing.assert_array_equal(make().fit_transform(np.asfortranarray(X)), expected)
    arr = np.array(arr)
    arr.setflags(write=False)
    np.testing.assert_array_equal(make().fit_transform(arr), expected)


def test_n_features_in_and_names(case):
    make, X = case
    enc = make().fit(X)
    assert enc.n_features_in_ == 1
    assert not hasattr(enc, "feature_names_in_")
    names = enc.get_feature_names_out()
    assert len(names) == enc.embedding_dim_
    assert names[0] == f"{type(enc).__name__.lower()}_0"

    df = pd.DataFrame({"col": list(X)})
    enc = make().fit(df)
    assert list(enc.feature_names_in_) == ["col"]
    assert list(enc.get_feature_names_out()[:2]) == ["col_0", "col_1"]
    assert list(enc.get_feature_names_out(["col"])[:1]) == ["col_0"]
    with pytest.raises(ValueError, match="one fitted column"):
        enc.get_feature_names_out(["other"])
    with pytest.raises(ValueError, match="feature names should match"):
        enc.transform(pd.DataFrame({"other": list(X)}))


def test_object_and_pandas_inputs(case):
    make, X = case
    expected = make().fit_transform(X)
    series = pd.Series(list(X), index=np.arange(100, 100 + len(X)), name="col")
    column = np.empty((len(X), 1), dtype=object)
    column[:, 0] = list(X)
    variants = [list(X), series, series.to_frame(), column]
    for variant in variants:
        np.testing.assert_array_equal(make().fit_transform(variant), expected)


def test_set_output_pandas(case):
    make, X = case
    series = pd.Series(list(X), index=[f"id{i}" for i in range(len(X))], name="col")
    out = make().set_output(transform="pandas").fit_transform(series.to_frame())
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == list(series.index)
    assert list(out.columns[:2]) == ["col_0", "col_1"]
    assert out.dtypes.unique().tolist() == [np.float32]


def test_fit_transform_equals_fit_then_transform(case):
    make, X = case
    np.testing.assert_array_equal(make().fit_transform(X), make().fit(X).transform(X))


def test_subset_and_order_invariance(case):
    make, X = case
    enc = make().fit(X)
    full = enc.transform(X)
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = [X[i] for i in order] if isinstance(X, list) else X[order]
    np.testing.assert_allclose(enc.transform(shuffled), full[order], rtol=1e-5, atol=1e-6)
    for start in range(0, len(X), 7):
        np.testing.assert_allclose(
            enc.transform(X[start : start + 7]), full[start : start + 7], rtol=1e-5, atol=1e-6
        )
    # Without the cache each batch is computed afresh: same values.
    np.testing.assert_allclose(
        make(cache=False, batch_size=3).fit(X).transform(X), full, rtol=1e-5, atol=1e-6
    )


def test_single_sample(case):
    make, X = case
    out = make().fit_transform(X[:1])
    assert out.shape[0] == 1


def test_transform_does_not_change_state(case):
    make, X = case
    enc = make().fit(X)
    state = pickle.dumps(enc.__dict__)
    enc.transform(X)
    assert pickle.dumps(enc.__dict__) == state


def test_fit_idempotent(case):
    make, X = case
    enc = make()
    first = enc.fit(X).transform(X)
    attrs = {k: v for k, v in vars(enc).items() if k.endswith("_")}
    second = enc.fit(X).transform(X)
    np.testing.assert_array_equal(first, second)
    assert {k: v for k, v in vars(enc).items() if k.endswith("_")}.keys() == attrs.keys()


def test_not_fitted_error(case):
    make, X = case
    with pytest.raises(NotFittedError):
        make().transform(X)
    with pytest.raises(NotFittedError):
        make().get_feature_names_out()


def test_clone_is_unfitted_with_same_params(case):
    make, X = case
    enc = make(batch_size=7).fit(X)
    copy = clone(enc)
    assert copy.get_params() == enc.get_params()
    assert not hasattr(copy, "embedding_dim_")


def test_pickle_roundtrip_identical(case):
    make, X = case
    enc = make().fit(X)
    expected = enc.transform(X)
    blob = pickle.dumps(enc)
    # Only parameters and fitted metadata travel: the frozen network is
    # reloaded by name (and checked against the fitted identity).
    assert len(blob) < 5000
    np.testing.assert_array_equal(pickle.loads(blob).transform(X), expected)
    pipe = make_pipeline(make(), LogisticRegression()).fit(X, LABELS)
    restored = joblib.load(_dump(pipe))
    np.testing.assert_array_equal(restored.predict_proba(X), pipe.predict_proba(X))


def _dump(obj):
    import io

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    buf.seek(0)
    return buf


def test_pickle_loads_on_cpu_only_machine(tmp_path):
    X = TEXTS
    enc = _text(device="auto").fit(X)
    path = tmp_path / "enc.joblib"
    joblib.dump(enc, path)
    np.save(tmp_path / "expected.npy", enc.transform(X))
    code = (
        "import joblib, numpy as np, torch, sys;"
        "assert not torch.cuda.is_available();"
        f"enc = joblib.load({str(path)!r});"
        f"out = enc.transform({X!r});"
        f"np.testing.assert_array_equal(out, np.load({str(tmp_path / 'expected.npy')!r}));"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_n_jobs_cross_validation_matches_serial(case):
    make, X = case
    pipe = make_pipeline(make(), LogisticRegression())
    serial = cross_val_score(pipe, X, LABELS, cv=3, n_jobs=1)
    parallel = cross_val_score(pipe, X, LABELS, cv=3, n_jobs=2)
    np.testing.assert_allclose(parallel, serial)


@pytest.mark.parametrize(
    "param, value",
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("batch_size", True),
        ("cache", 3),
        ("device", "tpu"),
        ("model", ""),
        ("weights", 3),
        ("verbose", "loud"),
    ],
)
def test_bad_parameters_fail_at_fit(case, param, value):
    make, X = case
    enc = make().set_params(**{param: value})  # setting never raises
    with pytest.raises(
        InvalidParameterError, match=rf"The '{param}' parameter of {type(enc).__name__} must be"
    ):
        enc.fit(X)


def test_unavailable_devices_are_explained(case):
    make, X = case
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(
            ValueError, match=rf"device='{device}' was asked for, but .* is not available here"
        ):
            make(device=device).fit(X)


def test_cache_that_is_a_file_is_explained(case, tmp_path):
    make, X = case
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    with pytest.raises(
        InvalidParameterError, match=r"The 'cache' parameter .* must be .*not an existing file"
    ):
        make(cache=str(path)).fit(X)


def test_wrong_modality_model_is_explained():
    with pytest.raises(
        ValueError, match="is an image model; TextEncoder needs a text model. Use ImageEncoder"
    ):
        TextEncoder(model="sktransfer/tiny-cnn").fit(TEXTS)
    with pytest.raises(
        ValueError, match="is a text model; ImageEncoder needs an image model. Use TextEncoder"
    ):
        ImageEncoder(model="sktransfer/tiny-text").fit(IMAGES)


# --------------------------------------------------------------------------- fine-tuners
def _text_tuner(cls, **kw):
    return cls(
        **{
            "model": "sktransfer/tiny-text",
            "n_trainable_blocks": 1,
            "max_epochs": 2,
            "device": "cpu",
            "random_state": 0,
            **kw,
        }
    )


def _image_tuner(cls, **kw):
    return cls(
        **{
            "model": "sktransfer/tiny-cnn",
            "n_trainable_blocks": 1,
            "max_epochs": 2,
            "device": "cpu",
            "random_state": 0,
            **kw,
        }
    )


TUNERS = {
    "text-classifier": (lambda **kw: _text_tuner(TextClassifier, **kw), TEXTS, LABELS),
    "text-regressor": (lambda **kw: _text_tuner(TextRegressor, **kw), TEXTS, LABELS * 2.5 + 1),
    "image-classifier": (lambda **kw: _image_tuner(ImageClassifier, **kw), IMAGES, LABELS),
    "image-regressor": (
        lambda **kw: _image_tuner(ImageRegressor, augment=False, **kw),
        IMAGES,
        LABELS * 2.5 + 1,
    ),
}


@pytest.fixture(params=sorted(TUNERS))
def tuner(request):
    return TUNERS[request.param]


def _predict(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


def test_fine_tuners_fit_contract(tuner):
    """Params unchanged by fit, fit returns self, n_features_in_, idempotence, state kept."""
    make, X, y = tuner
    est = make()
    before = est.get_params()
    assert est.fit(X, y) is est
    assert est.get_params() == before
    public = {k for k in vars(est) if not k.startswith("_") and not k.endswith("_")}
    assert public == set(before)
    assert est.n_features_in_ == 1 and not hasattr(est, "feature_names_in_")
    first = _predict(est, X)
    state = {k: v for k, v in vars(est).items() if k != "net_"}
    _predict(est, X)
    assert {k: v for k, v in vars(est).items() if k != "net_"}.keys() == state.keys()
    np.testing.assert_array_equal(_predict(est.fit(X, y), X), first)
    np.testing.assert_array_equal(_predict(clone(est).fit(X, y), X), first)


def test_fine_tuners_subset_and_order_invariance(tuner):
    make, X, y = tuner
    est = make().fit(X, y)
    full = _predict(est, X)
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = [X[i] for i in order] if isinstance(X, list) else X[order]
    np.testing.assert_allclose(_predict(est, shuffled), full[order], rtol=1e-5, atol=1e-5)
    for start in range(0, len(X), 7):
        np.testing.assert_allclose(
            _predict(est, X[start : start + 7]), full[start : start + 7], rtol=1e-5, atol=1e-5
        )
    # transform (the features the head reads) follows the same rows.
    features = est.transform(X)
    assert features.shape == (len(X), est.embedding_dim_) and features.dtype == np.float32
    np.testing.assert_allclose(est.transform(shuffled), features[order], rtol=1e-5, atol=1e-5)


def test_fine_tuners_check_the_column_at_predict(tuner):
    make, X, y = tuner
    est = make().fit(pd.DataFrame({"review": list(X)}), y)
    assert list(est.feature_names_in_) == ["review"]
    _predict(est, pd.DataFrame({"review": list(X)}))
    _predict(est, list(X))  # no names: nothing to compare
    with pytest.raises(
        ValueError, match=r"fitted on column\(s\) \['review'\] but got column\(s\) \['title'\]"
    ):
        _predict(est, pd.DataFrame({"title": list(X)}))


def test_fine_tuners_pickle_and_clone(tuner):
    make, X, y = tuner
    est = make().fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(_predict(restored, X), _predict(est, X))
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "net_")
    with pytest.raises(NotFittedError):
        _predict(copy, X)


def test_fine_tuners_in_parallel_cross_validation(tuner):
    make, X, y = tuner
    serial = cross_val_score(make(), X, y, cv=3, n_jobs=1)
    # Workers run torch with other thread counts: float32 sums in another order.
    np.testing.assert_allclose(
        cross_val_score(make(), X, y, cv=3, n_jobs=2), serial, rtol=1e-4, atol=1e-6
    )
