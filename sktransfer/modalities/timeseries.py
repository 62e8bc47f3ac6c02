"""Time series: one series per row, of one or several channels, of equal or different lengths."""

import warnings
from dataclasses import dataclass

import numpy as np

from .._deps import require
from .base import (
    Modality,
    Rows,
    Sample,
    check_not_empty,
    digest,
    is_missing,
    list_rows,
    reject_containers,
    row_label,
)

WHAT = (
    "time series: a float array (n, length) or (n, channels, length), a list of 1-D "
    "(length,) or 2-D (channels, length) arrays, or a pandas column of them"
)
# The check_X options an estimator passes, with their defaults (their constraints and
# documentation: _contract.SERIES_CONSTRAINTS and SERIES_DOCS).
DEFAULTS = {"normalize": "zscore", "length": None, "missing": "error"}


def _cells(X, estimator):
    """``(cells, index, feature_names, n_features)``: one array-like per row, before checks."""
    import pandas as pd

    reject_containers(X, "time series", estimator)
    if isinstance(X, pd.DataFrame):
        if X.shape[1] == 0:
            raise ValueError(f"{estimator}: X has 0 columns; expected {WHAT}.")
        names = np.asarray([str(c) for c in X.columns], dtype=object)
        if all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):
            # A wide frame: one row per series, one column per time point.
            return list(X.to_numpy(np.float64)), X.index, names, X.shape[1]
        first = X.iloc[0, 0] if len(X) else None
        if isinstance(first, pd.Series) or X.shape[1] > 1:
            # sktime's nested layout: one column per channel, a pd.Series per cell.
            rows = [
                [np.asarray(c, dtype=object) if c is not None else None for c in X.iloc[i]]
                for i in range(len(X))
            ]
            return rows, X.index, names, X.shape[1]
        return list(X.iloc[:, 0]), X.index, names, 1
    if isinstance(X, pd.Series):
        return list(X), X.index, None, 1
    if not isinstance(X, (np.ndarray, list, tuple)) and hasattr(X, "__array__"):
        X = np.asarray(X)  # an array-like (a memmap, a torch tensor, ...)
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        if X.ndim in (2, 3):
            if X.shape[1] == 0 or X.shape[-1] == 0:
                raise ValueError(
                    f"{estimator}: found array with 0 feature(s) (shape={X.shape}) while a "
                    f"minimum of 1 is required; expected {WHAT}."
                )
            return list(X), None, None, X.shape[1]
        raise ValueError(
            f"{estimator} got an array of shape {X.shape}; expected {WHAT}. Reshape your data: "
            "a single series is one row, X.reshape(1, -1)."
        )
    try:
        cells = list(X)
    except TypeError:
        raise TypeError(f"{estimator} expects {WHAT}; got {type(X).__name__}.") from None
    if cells and all(isinstance(c, (list, tuple, np.ndarray)) for c in cells):
        # Rows of equal shape are the array they make, as scikit-learn reads a
        # list of lists: their columns are its features.
        try:
            stacked = np.asarray(cells, dtype=np.float64)
        except (TypeError, ValueError):
            stacked = None
        if stacked is not None and stacked.ndim in (2, 3):
            return _cells(stacked, estimator)
    if cells and all(np.isscalar(c) and not isinstance(c, str) for c in cells):
        raise ValueError(
            f"{estimator} got a flat sequence of {len(cells)} numbers; expected {WHAT}. A single "
            "series is one row: [x]."
        )
    return cells, None, None, 1


def _as_series(cell, where, estimator):
    """One cell -> a float64 (channels, length) array; errors name the row."""
    if cell is None or (not hasattr(cell, "__len__") and is_missing(cell)):
        raise ValueError(f"{estimator}: {where} is missing ({cell!r}); expected a series.")
    if isinstance(cell, (str, bytes)):
        raise TypeError(
            f"{estimator}: {where} is a {type(cell).__name__} ({str(cell)[:30]!r}); "
            "expected a series of numbers."
        )
    try:
        if isinstance(cell, (list, tuple)) and cell and not np.isscalar(cell[0]):
            # A nested row: one sequence per channel.
            lengths = {len(c) if c is not None and hasattr(c, "__len__") else -1 for c in cell}
            if len(lengths) != 1 or -1 in lengths:
                raise ValueError(
                    f"{estimator}: the channels of {where} differ in length or are "
                    "missing; every channel of a series needs the same length."
                )
        a = np.asarray(cell, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(estimator):
            raise
        raise TypeError(
            f"{estimator}: {where} cannot be read as numbers ({type(cell).__name__}: {exc})."
        ) from None
    if np.iscomplexobj(a):
        raise ValueError(f"{estimator}: Complex data not supported ({where}).")
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(
            f"{estimator}: {where} has shape {a.shape}; a series is (length,) or "
            "(channels, length)."
        )
    if a.shape[1] == 0 or a.shape[0] == 0:
        raise ValueError(f"{estimator}: {where} is an empty series (shape {a.shape}).")
    return a


def _interpolate(a):
    """NaNs filled linearly inside each channel, with the nearest value at the ends."""
    out = a.copy()
    t = np.arange(a.shape[1])
    for c in range(a.shape[0]):
        ok = np.isfinite(a[c])
        out[c] = np.interp(t, t[ok], a[c, ok])
    return out


def _normalize(a, how):
    if how is None:
        return a
    with np.errstate(invalid="ignore"):
        if how == "zscore":
            loc = np.nanmean(a, axis=1, keepdims=True)
            scale = np.nanstd(a, axis=1, keepdims=True)
        else:
            loc = np.nanmin(a, axis=1, keepdims=True)
            scale = np.nanmax(a, axis=1, keepdims=True) - loc
    # A constant channel has no scale: it becomes zeros, not NaN.
    scale = np.where(scale > 1e-8, scale, 1.0)
    return (a - loc) / scale


@dataclass(frozen=True)
class SeriesPreprocess:
    """What a network's first block takes from validated ``(n, channels, length)`` series.

    ``context=None`` (the convolutional and recurrent networks): the series
    as they are, NaN (not observed, or padding) as 0. ``context=int`` (Fracast):
    the last ``context`` points, min-max scaled per series and channel over
    the observed points, left-padded to ``context``, stacked with the mask of
    observed points, as Fracast was trained, and with a third row that keeps
    the scaling (its first two values: the minimum and the span), which a
    forecasting head needs to give values on the series' own scale:
    ``(n, channels, 3, context)``.
    """

    context: int = None

    def batch(self, x):
        x = np.asarray(x, dtype=np.float32)
        if self.context is None:
            return np.nan_to_num(x, nan=0.0)
        tail = x[..., -self.context :]
        observed = np.isfinite(tail)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-padding channel
            low = np.nanmin(tail, axis=-1, keepdims=True)
            span = np.maximum(np.nanmax(tail, axis=-1, keepdims=True) - low, 1e-5)
        scaled = np.where(observed, (tail - np.nan_to_num(low)) / span, 0.0)
        out = np.zeros((*x.shape[:2], 3, self.context), dtype=np.float32)
        out[:, :, 0, self.context - tail.shape[-1] :] = scaled
        out[:, :, 1, self.context - tail.shape[-1] :] = observed
        out[:, :, 2, 0] = np.nan_to_num(low[..., 0])
        out[:, :, 2, 1] = span[..., 0]
        return out


class TimeSeriesModality(Modality):
    """Time series: 2-D ``(n, length)`` / 3-D ``(n, channels, length)`` arrays, lists, pandas.

    Rows become float32 ``(channels, length)`` arrays, checked (no inf; NaN
    by the ``missing`` option), normalised per series and channel
    (``normalize``), and brought to one length: ``length=int`` keeps each
    series' last ``length`` points; shorter series, and with ``length=None``
    series shorter than the longest in X, are padded at the start with NaN,
    which networks read as "not observed" (zeros for the convolutional and
    recurrent networks, a mask for Fracast). Aligning series at their end
    keeps the most recent points where a forecasting model expects them.

    ``n_features_in_`` is what scikit-learn would count: the columns of a 2-D
    array or wide DataFrame (time points), the channels of a 3-D array.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.modalities import get_modality
    >>> ts = get_modality("timeseries")
    >>> rows = ts.check_X([np.arange(4.0), np.arange(2.0)], "TimeSeriesEncoder")
    >>> rows.values.shape, rows.channels
    ((2, 1, 4), 1)
    >>> np.round(rows.values[1, 0], 2).tolist()
    [nan, nan, -1.0, 1.0]
    >>> ts.check_X([[1.0, np.nan, 3.0]], "TimeSeriesEncoder")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: TimeSeriesEncoder: 1 series hold NaN values: row 0: 1 of 3 values. Fill them, or
    pass missing='interpolate' (linear, inside each channel) or missing='zero' (after
    normalisation).
    """

    name = "timeseries"
    noun = "series"
    input_tags = {"two_d_array": True, "three_d_array": True}
    priority = 5
    options = DEFAULTS

    def check_X(self, X, estimator, normalize="zscore", length=None, missing="error"):
        cells, index, names, n_features = _cells(X, estimator)
        check_not_empty(cells, estimator)
        series = [_as_series(c, row_label(i, index), estimator) for i, c in enumerate(cells)]
        channels = series[0].shape[0]
        other = [i for i, s in enumerate(series) if s.shape[0] != channels]
        if other:
            raise ValueError(
                f"{estimator}: every series needs the same number of channels; row 0 has "
                f"{channels}, but "
                + list_rows(other, index, lambda p: f"{series[p].shape[0]}")
                + "."
            )
        infinite = [i for i, s in enumerate(series) if np.isinf(s).any()]
        if infinite:
            raise ValueError(
                f"{estimator}: {len(infinite)} series hold infinite values: "
                + list_rows(infinite, index, lambda p: f"{int(np.isinf(series[p]).sum())} values")
                + ". Replace them (e.g. with NaN and missing='interpolate')."
            )
        nan = [i for i, s in enumerate(series) if np.isnan(s).any()]
        if nan and missing == "error":
            raise ValueError(
                f"{estimator}: {len(nan)} series hold NaN values: "
                + list_rows(
                    nan,
                    index,
                    lambda p: f"{int(np.isnan(series[p]).sum())} of {series[p].size} values",
                )
                + ". Fill them, or pass missing='interpolate' (linear, inside each channel) or "
                "missing='zero' (after normalisation)."
            )
        empty = [i for i in nan if np.isnan(series[i]).all(axis=1).any()]
        if empty:
            raise ValueError(
                f"{estimator}: {len(empty)} series have a channel with no value at all: "
                + list_rows(empty, index, lambda p: "every value is NaN")
                + "."
            )
        for i in nan:
            if missing == "interpolate":
                series[i] = _interpolate(series[i])
        series = [_normalize(s, normalize) for s in series]
        if missing == "zero":
            for i in nan:
                series[i] = np.nan_to_num(series[i], nan=0.0)
        target = max(s.shape[1] for s in series) if length is None else int(length)
        values = np.full((len(series), channels, target), np.nan, dtype=np.float32)
        for i, s in enumerate(series):
            tail = s[:, -target:]
            values[i, :, target - tail.shape[1] :] = tail
        return Rows(values, index, names, n_features, channels=channels)

    def looks_like(self, X):
        import pandas as pd

        if isinstance(X, np.ndarray):
            return X.ndim == 2 and X.dtype.kind == "f"
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
        try:
            sample = list(values[:20])
        except TypeError:
            return False
        return bool(sample) and all(
            isinstance(v, (np.ndarray, pd.Series))
            and np.asarray(v).dtype.kind == "f"
            and np.asarray(v).ndim in (1, 2)
            for v in sample
        )

    def samples(self, rows, estimator):
        return [Sample(v, digest(repr(v.shape).encode() + v.tobytes())) for v in rows.values]

    def prepare(self, items, backbone):
        torch = require("torch")
        return torch.from_numpy(backbone.preprocess.batch(np.stack(items)))

    def dummy_batch(self, backbone):
        torch = require("torch")
        return torch.from_numpy(backbone.preprocess.batch(np.zeros((1, 1, 64), np.float32)))

    def item_transform(self, preprocess, augment):
        return SeriesItem(preprocess)

    def baseline(self, **options):
        from sklearn.preprocessing import StandardScaler

        from .minirocket import MiniRocket

        return "MiniRocket", [MiniRocket(), StandardScaler()]


class SeriesItem:
    """One validated series -> the tensor the first block takes (picklable, for data loaders)."""

    def __init__(self, preprocess):
        self.preprocess = preprocess

    def __call__(self, series):
        torch = require("torch")
        return torch.from_numpy(self.preprocess.batch(series[None])[0])
