"""What every kind of input shares: validated rows, row labels in errors, the Modality interface.

A :class:`Modality` owns everything that depends on the kind of input (text,
images, ...) and on nothing else: validating and normalising ``X`` (every
input error is raised here, naming the row), the content hash a sample adds to
the cache key, the order and batching of samples, what the first block of a
backbone consumes, training-time augmentation, the non-neural baseline, and the
scikit-learn input tags. Estimators, the cache and model selection only talk to
this interface, so a new kind of input is one new module plus its backbone
family.
"""

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAX_LISTED = 5


def row_label(pos, index=None):
    """``"row 3"``, or ``"row 3 (index 'b')"`` when X had another pandas index label there.

    Examples
    --------
    >>> row_label(3), row_label(0, ["b"])
    ('row 3', "row 0 (index 'b')")
    """
    if index is None:
        return f"row {pos}"
    label = index[pos]
    if label == pos:
        return f"row {pos}"
    return f"row {pos} (index {label!r})"


def list_rows(bad, index, describe):
    """``"row 1: ...; row 4: ..."`` for the first few bad positions, and how many more."""
    shown = [f"{row_label(pos, index)}: {describe(pos)}" for pos in bad[:_MAX_LISTED]]
    text = "; ".join(shown)
    more = len(bad) - len(shown)
    if more > 0:
        text += f"; and {more} more row(s)"
    return text


def is_missing(value):
    """None, NaN, ``pd.NA`` or ``pd.NaT``."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    import pandas as pd

    return value is pd.NA or value is pd.NaT


def digest(data):
    """Content hash used as the cache key of one sample.

    Examples
    --------
    >>> digest(b"abc") == digest(b"abc"), digest(b"abc") == digest(b"abd")
    (True, False)
    """
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Rows:
    """Validated input: one value per row, and what the estimator contract needs.

    Attributes
    ----------
    values : list or ndarray
        One entry per row (a str, a path, a PIL image, an array...).
    index : pandas.Index or None
        The pandas index of the original X, used to name rows in errors.
    feature_names : ndarray of str or None
        The column names when X was a DataFrame.
    n_features : int
        Columns of X as scikit-learn counts them (1 for a column of texts or
        images).
    positions : ndarray or None
        For a subset (:meth:`take`), each row's position in the original X,
        so that errors still name it as the user knows it.
    channels : int
        Channels per row that a per-channel network encodes one by one
        (time series); its features are concatenated over them.
    """

    values: object
    index: object = None
    feature_names: object = None
    n_features: int = 1
    positions: object = None
    channels: int = 1

    def __len__(self):
        return len(self.values)

    def row(self, pos):
        original = pos if self.positions is None else int(self.positions[pos])
        return row_label(original, self.index)

    def take(self, rows):
        """The rows at positions ``rows``, still named by their original row in errors."""
        rows = np.asarray(rows, dtype=np.int64)
        values = (
            self.values[rows]
            if isinstance(self.values, np.ndarray)
            else [self.values[i] for i in rows]
        )
        positions = rows if self.positions is None else self.positions[rows]
        return Rows(
            values, self.index, self.feature_names, self.n_features, positions, self.channels
        )


def reject_containers(X, what, estimator):
    """Errors for X that is not a sequence of rows at all (None, a str, a dict, sparse)."""
    if X is None:
        raise TypeError(f"{estimator} got X=None; expected a sequence of {what}.")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(
            f"{estimator} got a sparse matrix; sparse input is not supported: it expects {what}."
        )
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{estimator} got a single {type(X).__name__} ({str(X)[:40]!r}); "
            f"expected a sequence of {what}. Wrap it in a list: [X]."
        )
    if isinstance(X, dict):
        raise TypeError(
            f"{estimator} got a dict (keys {list(X)[:5]}); expected a sequence of {what}. Pass its "
            "values (list(X.values())) or a pandas DataFrame column."
        )
    if isinstance(X, np.ndarray) and np.iscomplexobj(X):
        raise ValueError(f"{estimator}: Complex data not supported; expected {what}.")


def one_column(X, what, estimator):
    """``(values, index, feature_names)`` of a one-column pandas X, else ``(None, None, None)``."""
    import pandas as pd

    reject_containers(X, what, estimator)
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 0:
        raise ValueError(
            f"{estimator}: found array with 0 feature(s) (shape={X.shape}) while a minimum "
            f"of 1 is required; expected one column of {what}."
        )
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"{estimator} expects exactly one column of {what}, got a DataFrame "
                f"with {X.shape[1]} columns {list(X.columns)[:10]}. Select one column, "
                f"or use make_column_transformer(({estimator}(), 'column_name'), ...)."
            )
        return list(X.iloc[:, 0]), X.index, np.asarray([str(c) for c in X.columns], dtype=object)
    if isinstance(X, pd.Series):
        return list(X), X.index, None
    return None, None, None


def as_list(X, what, estimator, rows=(list, tuple)):
    """A non-pandas sequence as a list of cells; one-element rows of type ``rows`` unwrapped.

    A list of one-element rows is what a 2-D selection of one column gives.
    Images leave arrays alone: a 1-pixel-high image is an array of length 1.
    """
    try:
        values = list(X)
    except TypeError:
        raise TypeError(
            f"{estimator} expects a sequence of {what}, got {type(X).__name__}."
        ) from None
    if values and all(isinstance(v, rows) and len(v) == 1 for v in values):
        values = [v[0] for v in values]
    return values


def check_not_empty(values, estimator):
    if len(values) == 0:
        raise ValueError(f"{estimator} got an empty X (0 rows); at least one row is needed.")


class Sample:
    """One row: its content hash (``key``) and a way to load it for the network."""

    __slots__ = ("value", "key")

    def __init__(self, value, key):
        self.value = value
        self.key = key

    def load(self):
        return self.value


class FileSample:
    """One row that is a file path or a value in memory, and its content hash (``key``).

    A file is read once: the same bytes are hashed now and, on a cache miss,
    decoded by :meth:`load`. Subclasses hash values in memory (:meth:`value_key`).
    """

    __slots__ = ("value", "row", "key", "estimator", "_bytes")

    def __init__(self, value, row, estimator):
        self.value = value
        self.row = row
        self.estimator = estimator
        if isinstance(value, (str, os.PathLike)):
            self._bytes = Path(value).read_bytes()
            self.key = digest(self._bytes)
        else:
            self._bytes = None
            self.key = self.value_key(value)

    def value_key(self, value):
        raise NotImplementedError


def _identity(item):
    return item


class Modality:
    """The interface every kind of input implements (see the module docstring).

    Class attributes
    ----------------
    name : str
        What backbones and estimators call it (``"text"``, ``"image"``).
    noun : str
        What one row is, in the plural, for messages (``"texts"``).
    input_tags : dict
        scikit-learn ``InputTags`` fields the estimators of this modality declare.
    prefetch : bool
        Prepare the next batch in a thread while the network runs on this one
        (worth it when decoding costs, as for image files).
    cpu_chunk : int or None
        On a CPU, the network takes a batch this many rows at a time (None:
        whole). Small chunks keep a convolutional network's activations in
        the CPU's caches; the batch stays the unit of loading and caching.
    augmentations : tuple
        The values of an estimator's ``augment`` parameter that turn
        training-time augmentation on; empty when the modality has none.
    priority : int
        Order in which :func:`sktransfer.modalities.infer_modality` asks
        :meth:`looks_like` (lower first).
    options : dict
        Keyword arguments of :meth:`check_X` that are estimator parameters
        (name -> default): an estimator passes its values of them (time
        series: ``normalize``, ``length``, ``missing``).
    """

    name = None
    noun = "rows"
    input_tags = {}
    prefetch = False
    cpu_chunk = None
    augmentations = ()
    priority = 100
    options = {}

    def __repr__(self):
        return f"{type(self).__name__}()"

    # -- validation -------------------------------------------------------------
    def check_X(self, X, estimator, **options):
        """Validate and normalise X; return :class:`Rows`. Every input error names the row."""
        raise NotImplementedError

    def looks_like(self, X):
        """Whether X plausibly holds this kind of input (used when no model says)."""
        return False

    # -- samples and batches ----------------------------------------------------
    def samples(self, rows, estimator):
        """One :class:`Sample` (content key + loader) per row of ``rows``."""
        raise NotImplementedError

    def batch_order(self, samples):
        """Positions of ``samples`` in the order they should be batched (default: as given)."""
        return range(len(samples))

    def options_of(self, estimator):
        """The :attr:`options` an estimator object sets (its parameters of those names)."""
        return {k: getattr(estimator, k, v) for k, v in self.options.items()}

    def rows_in_memory(self, n_rows, batch_size):
        """How many rows to hash and load at a time when computing features."""
        return n_rows

    def prepare(self, items, backbone):
        """Loaded samples -> a batch (on the CPU) for ``backbone``'s first block."""
        raise NotImplementedError

    def to_device(self, batch, backbone):
        """A prepared batch, moved to the backbone's device in the form its first block consumes."""
        return batch.to(backbone.device)

    def dummy_batch(self, backbone):
        """A one-row batch for measuring output sizes."""
        raise NotImplementedError

    # -- fine-tuning ------------------------------------------------------------
    def item_transform(self, preprocess, augment):
        """A picklable ``loaded sample -> dataset item``: training (``augment``) or predicting."""
        return _identity

    def auto_augment(self, rows, estimator):
        """Whether ``augment="auto"`` augments these training rows (when blocks train)."""
        return bool(self.augmentations)

    def input_module(self, backbone):
        """A torch module run before the first block when it trains (images: normalisation)."""
        return None

    def row_lengths(self, samples, backbone):
        """Each sample's length in what a batch pads (text: tokens), or None (fixed size).

        Training batches rows of similar length together when this is given.
        """
        return None

    # -- baselines --------------------------------------------------------------
    def baseline(self, **options):
        """``(name, steps)``: unfitted transformers that turn X into features, without pretraining.

        The non-neural baseline of :func:`sktransfer.selection.transfer_report`
        puts a linear model after them. ``options``: the :attr:`options` the
        user set (audio's baseline needs the rate of waveform rows).
        """
        raise NotImplementedError
