"""MiniRocket (Dempster, Schmidt & Webb, KDD 2021) in numpy: the non-neural time-series baseline.

Written from the paper and its reference implementation's published algorithm
(84 fixed kernels of length 9 with weights -1 and 2, exponentially spaced
dilations, biases from quantiles of one random training series' convolution,
proportion-of-positive-values pooling, "same" padding on alternate
kernel/dilation pairs; several channels are summed before convolving, as
MiniRocketMultivariate does), so that ``transfer_report`` has a strong
baseline without numba, which sktime's and aeon's versions need.
"""

from itertools import combinations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

KERNELS = np.asarray(list(combinations(range(9), 3)), dtype=np.int64)  # the 84 positions of 2


def _dilations(length, n_features, max_dilations):
    """Dilations (exponentially spaced up to the series length) and features per dilation."""
    per_kernel = n_features // len(KERNELS)
    true_max = min(per_kernel, max_dilations)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((length - 1) / (9 - 1))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int64), return_counts=True
    )
    counts = (counts * multiplier).astype(np.int64)
    remainder = per_kernel - counts.sum()
    i = 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations, counts


def _quantiles(n):
    """A low-discrepancy sequence in [0, 1): fractional parts of multiples of the golden ratio."""
    return (np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1


def _shifts(x, dilation):
    """``(9, n, length)``: x at offsets -4d .. 4d, zero outside the series."""
    n, length = x.shape
    out = np.zeros((9, n, length), dtype=np.float32)
    for j in range(9):
        offset = (j - 4) * dilation
        if offset >= 0:
            out[j, :, : length - offset] = x[:, offset:] if offset < length else 0
        else:
            out[j, :, -offset:] = x[:, : length + offset] if -offset < length else 0
    return out


def _convolve(shifts, kernel):
    """The kernel with weight 2 at ``kernel``'s three positions and -1 elsewhere."""
    return -shifts.sum(axis=0) + 3 * shifts[kernel].sum(axis=0)


class MiniRocket(TransformerMixin, BaseEstimator):
    """MiniRocket features of time series: random-free convolutions pooled as proportions.

    Takes what :class:`~sktransfer.TimeSeriesEncoder` takes (validated and
    z-normalised per series the same way; NaN padding counts as 0).
    Followed by a linear model it is the baseline
    :func:`~sktransfer.selection.transfer_report` compares pretrained
    networks with on time series.

    Parameters
    ----------
    n_features : int, default=10_000
        Rounded down to a multiple of 84 (the kernels).
    max_dilations_per_kernel : int, default=32
    random_state : int, RandomState instance or None, default=None
        Picks the series whose convolutions set the biases, and the channels
        each kernel sums.

    Attributes
    ----------
    dilations_ : ndarray of int
    features_per_dilation_ : ndarray of int
    channels_ : list of ndarray
        For each (dilation, kernel) pair, the channels summed.
    biases_ : ndarray of shape (n_features_out,)
    n_features_in_ : int

    Examples
    --------
    >>> from sktransfer.datasets import load_ucr
    >>> X, y = load_ucr("GunPoint", split="train")
    >>> MiniRocket(random_state=0).fit_transform(X).shape
    (50, 9996)
    """

    _parameter_constraints = {}

    def __init__(self, n_features=10_000, max_dilations_per_kernel=32, random_state=None):
        self.n_features = n_features
        self.max_dilations_per_kernel = max_dilations_per_kernel
        self.random_state = random_state

    def _series(self, X):
        from . import get_modality

        rows = get_modality("timeseries").check_X(X, type(self).__name__)
        x = np.nan_to_num(rows.values)
        if x.shape[2] < 9:  # the kernels span 9 points
            x = np.concatenate([np.zeros((*x.shape[:2], 9 - x.shape[2]), np.float32), x], axis=2)
        return rows, x

    def fit(self, X, y=None):
        rows, x = self._series(X)
        rng = check_random_state(self.random_state)
        n, n_channels, length = x.shape
        self.dilations_, self.features_per_dilation_ = _dilations(
            length, self.n_features, self.max_dilations_per_kernel
        )
        quantiles = _quantiles(len(KERNELS) * int(self.features_per_dilation_.sum()))
        max_exponent = np.log2(min(n_channels, 9) + 1)
        biases, channels, start = [], [], 0
        for dilation, count in zip(self.dilations_, self.features_per_dilation_):
            for kernel in KERNELS:
                k = int(2 ** rng.uniform(0, max_exponent))
                chosen = np.sort(rng.choice(n_channels, min(k, n_channels), replace=False))
                example = x[rng.randint(n)][chosen].sum(axis=0)[None]
                conv = _convolve(_shifts(example, int(dilation)), kernel)[0]
                biases.append(np.quantile(conv, quantiles[start : start + count]))
                channels.append(chosen)
                start += count
        self.biases_ = np.concatenate(biases).astype(np.float32)
        self.channels_ = channels
        self.n_features_in_ = rows.n_features
        self._length = length
        return self

    def transform(self, X):
        check_is_fitted(self, "biases_")
        _, x = self._series(X)
        out = np.empty((len(x), len(self.biases_)), dtype=np.float32)
        for lo in range(0, len(x), 256):  # bounds the (9, rows, length) shifted copies
            out[lo : lo + 256] = self._features(x[lo : lo + 256])
        return out

    def _features(self, x):
        feats, start, pair = [], 0, 0
        univariate = x.shape[1] == 1
        for d, (dilation, count) in enumerate(zip(self.dilations_, self.features_per_dilation_)):
            padding = 4 * int(dilation)
            shared = _shifts(x[:, 0], int(dilation)) if univariate else None
            for k, kernel in enumerate(KERNELS):
                chosen = self.channels_[pair]
                shifts = shared if univariate else _shifts(x[:, chosen].sum(axis=1), int(dilation))
                conv = _convolve(shifts, kernel)
                if (d + k) % 2 == 1 and conv.shape[1] > 2 * padding:
                    conv = conv[:, padding:-padding]
                b = self.biases_[start : start + count]
                feats.append((conv[:, :, None] > b[None, None, :]).mean(axis=1))
                start += count
                pair += 1
        return np.concatenate(feats, axis=1)
