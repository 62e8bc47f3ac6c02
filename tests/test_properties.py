"""Property-based tests (hypothesis) of every public estimator's input handling.

Generated bad X cells, bad y entries and bad parameter values must each give
a clear error: one of ValueError / TypeError / FileNotFoundError, raised by
sktransfer's own code or scikit-learn's parameter validation (never from
inside torch, PIL or numpy), that names the row or the parameter. Generated
valid but unusual inputs must give finite outputs of the right shape.
"""

import math
import os
import traceback

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.utils._param_validation import InvalidParameterError, make_constraint

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)
from sktransfer.selection import EncoderSelector

T, CNN = "sktransfer/tiny-text", "sktransfer/tiny-cnn"
FAST = dict(max_epochs=1, device="cpu", random_state=0)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TEXT = {
    "TextEncoder": lambda: TextEncoder(model=T, device="cpu"),
    "TextClassifier": lambda: TextClassifier(model=T, **FAST),
    "TextRegressor": lambda: TextRegressor(model=T, **FAST),
    "EncoderSelector": lambda: EncoderSelector([T], device="cpu"),
}
IMAGE = {
    "ImageEncoder": lambda: ImageEncoder(model=CNN, device="cpu"),
    "ImageClassifier": lambda: ImageClassifier(model=CNN, **FAST),
    "ImageRegressor": lambda: ImageRegressor(model=CNN, **FAST),
    "EncoderSelector": lambda: EncoderSelector([CNN], device="cpu"),
}
N = 8
LABELS = np.array([0, 1] * (N // 2))
GOOD_TEXTS = [f"text number {i}" for i in range(N)]
GOOD_IMAGES = list(np.random.default_rng(0).integers(0, 256, (N, 12, 12), dtype=np.uint8))
_OURS = (os.sep + "sktransfer" + os.sep, os.path.join("sklearn", "utils", "_param_validation.py"))


def _supervised(est):
    return not isinstance(est, (TextEncoder, ImageEncoder))


def _y(est):
    if isinstance(est, (TextRegressor, ImageRegressor)):
        return LABELS * 1.5 + 2
    return LABELS if _supervised(est) else None


def _assert_clear(exc, *needles):
    """The error is ours (or scikit-learn's parameter validation), clear, naming what is wrong."""
    assert isinstance(exc, (ValueError, TypeError, FileNotFoundError)), repr(exc)
    origin = traceback.extract_tb(exc.__traceback__)[-1].filename
    assert any(part in origin for part in _OURS), f"raised from {origin}: {exc!r}"
    message = str(exc)
    assert any(n in message for n in needles), f"{message!r} names none of {needles}"


def _fit_error(est, X, y):
    """What fitting (and, for transformers, transforming: images decode there) raises, or None."""
    try:
        est.fit(X, y)
        if hasattr(est, "transform"):
            est.transform(X)
    except Exception as exc:
        return exc
    return None


def _container(values, kind):
    if kind == "list":
        return list(values)
    if kind == "series":
        return pd.Series(
            values, index=[f"id{i}" for i in range(len(values))], name="col", dtype=object
        )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# --------------------------------------------------------------------------- bad X

_BAD_TEXT = st.one_of(
    st.sampled_from(
        [None, np.nan, pd.NA, pd.NaT, 3, 2.5, True, b"bytes", ("a", "b"), {"d": 1}, 1 + 2j]
    ),
    st.text(
        alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3
    ).map(lambda s: "ok " + s),
)


@pytest.mark.parametrize("name", sorted(TEXT))
@SETTINGS
@given(bad=_BAD_TEXT, pos=st.integers(0, N - 1), kind=st.sampled_from(["list", "series", "array"]))
def test_bad_text_cells_name_their_row(name, bad, pos, kind):
    values = list(GOOD_TEXTS)
    values[pos] = bad
    est = TEXT[name]()
    exc = _fit_error(est, _container(values, kind), _y(est))
    assert exc is not None, f"{name} accepted {bad!r} at row {pos}"
    _assert_clear(exc, f"row {pos}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "text.png").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(folder / "good.png")
    data = (folder / "good.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    return {
        "folder": str(folder),
        "missing": str(folder / "nope.png"),
        "text": str(folder / "text.png"),
        "empty": str(folder / "empty.jpg"),
        "cut": str(folder / "cut.png"),
    }


_BAD_IMAGE = st.sampled_from(
    [
        None,
        np.nan,
        3,
        "nope",
        b"bytes",
        {"d": 1},
        np.zeros((8, 8), np.float32),
        np.zeros((8, 8, 2), np.uint8),
        np.zeros(8, np.uint8),
        np.zeros((0, 5), np.uint8),
        np.zeros((8, 8), bool),
        np.zeros((2, 8, 8, 3), np.uint8),
        Image.new("RGB", (0, 3)),
        "@folder",
        "@missing",
        "@text",
        "@empty",
        "@cut",
    ]
)


@pytest.mark.parametrize("name", sorted(IMAGE))
@SETTINGS
@given(bad=_BAD_IMAGE, pos=st.integers(0, N - 1), kind=st.sampled_from(["list", "series", "array"]))
def test_bad_image_cells_name_their_row(files, name, bad, pos, kind):
    if isinstance(bad, str) and bad.startswith("@"):
        bad = files[bad[1:]]
    values = list(GOOD_IMAGES)
    values[pos] = bad
    est = IMAGE[name]()
    exc = _fit_error(est, _container(values, kind), _y(est))
    assert exc is not None, f"{name} accepted {bad!r} at row {pos}"
    _assert_clear(exc, f"row {pos}")


# --------------------------------------------------------------------------- bad y

_BAD_LABEL = st.sampled_from([None, np.nan, float("inf"), -float("inf"), pd.NA])
_BAD_NUMBER = st.sampled_from([None, np.nan, float("inf"), "many", "1,5", pd.NA, {"a": 1}])


@pytest.mark.parametrize(
    "name", ["TextClassifier", "TextRegressor", "ImageClassifier", "ImageRegressor"]
)
@SETTINGS
@given(data=st.data(), pos=st.integers(0, N - 1), as_series=st.booleans())
def test_bad_targets_name_their_row(name, data, pos, as_series):
    est = {**TEXT, **IMAGE}[name]()
    regression = isinstance(est, (TextRegressor, ImageRegressor))
    y = list(_y(est))
    y[pos] = data.draw(_BAD_NUMBER if regression else _BAD_LABEL)
    y = pd.Series(y, dtype=object) if as_series else y
    X = GOOD_TEXTS if name.startswith("Text") else GOOD_IMAGES
    exc = _fit_error(est, X, y)
    assert exc is not None, f"{name} accepted y[{pos}] = {y[pos]!r}"
    _assert_clear(exc, f"row {pos}")


ALL = sorted({f"text:{k}" for k in TEXT} | {f"image:{k}" for k in IMAGE})


def _make(name):
    kind, cls_name = name.split(":")
    return (
        (TEXT if kind == "text" else IMAGE)[cls_name](),
        GOOD_TEXTS if kind == "text" else GOOD_IMAGES,
    )


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(n_y=st.integers(0, 2 * N).filter(lambda n: n != N))
def test_y_of_another_length_is_an_error(name, n_y):
    est, X = _make(name)
    y = np.resize(_y(est) if _supervised(est) else LABELS, n_y)
    exc = _fit_error(est, X, y)
    assert exc is not None
    _assert_clear(exc, f"but y has {n_y}", "y is empty", f"y has {n_y}")


# --------------------------------------------------------------------------- bad parameters

_JUNK = [
    -1,
    -0.5,
    0,
    0.5,
    1.5,
    7,
    10**9,
    "x",
    "",
    None,
    [],
    {},
    (),
    float("nan"),
    float("inf"),
    True,
    object(),
    np.array([1.0, 2.0]),
]


def _rejects(constraints, value):
    return not any(make_constraint(c).is_satisfied_by(value) for c in constraints)


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(data=st.data())
def test_bad_parameter_values_name_the_parameter(name, data):
    est, X = _make(name)
    param = data.draw(st.sampled_from(sorted(est._parameter_constraints)))
    value = data.draw(st.sampled_from(_JUNK))
    assume(_rejects(est._parameter_constraints[param], value))
    exc = _fit_error(est.set_params(**{param: value}), X, _y(est) if _supervised(est) else LABELS)
    assert isinstance(exc, InvalidParameterError), (
        f"{type(est).__name__}({param}={value!r}): {exc!r}"
    )
    _assert_clear(exc, f"'{param}' parameter of {type(est).__name__}")


# --------------------------------------------------------------------------- unusual valid input


@SETTINGS
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=6))
def test_any_valid_text_gives_finite_features(texts):
    out = TextEncoder(model=T, device="cpu").fit_transform(texts)
    assert out.shape == (len(texts), 8) and np.isfinite(out).all()


@SETTINGS
@given(
    shapes=st.lists(
        st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([0, 1, 3, 4])),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
)
def test_any_valid_image_gives_finite_features(shapes, seed):
    rng = np.random.default_rng(seed)
    images = [
        rng.integers(0, 256, (h, w) + ((c,) if c else ()), dtype=np.uint8) for h, w, c in shapes
    ]
    out = ImageEncoder(model=CNN, device="cpu").fit_transform(images)
    assert out.shape == (len(images), 32) and np.isfinite(out).all()


@SETTINGS
@given(scale=st.floats(1e-30, 1e30), shift=st.floats(-1e30, 1e30))
def test_regression_targets_of_any_finite_scale(scale, shift):
    y = LABELS * scale + shift
    assume(np.isfinite(y).all() and np.ptp(y) > 0 and math.isfinite(float(np.var(y))))
    pred = TextRegressor(model=T, **FAST).fit(GOOD_TEXTS, y).predict(GOOD_TEXTS)
    assert np.isfinite(pred).all() and pred.shape == (N,)
