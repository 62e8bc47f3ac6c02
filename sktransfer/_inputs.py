"""Turn user input X into validated samples; every input error is raised here.

Errors name the offending row (position, and the index label when X came with
a pandas index) and say what was expected, so a user with 50,000 rows knows
which one to fix.
"""

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAX_LISTED = 5


def _row_label(pos, index):
    if index is None:
        return f"row {pos}"
    label = index[pos]
    if label == pos:
        return f"row {pos}"
    return f"row {pos} (index {label!r})"


def _list_rows(bad, index, describe):
    shown = [f"{_row_label(pos, index)}: {describe(pos)}" for pos in bad[:_MAX_LISTED]]
    more = len(bad) - len(shown)
    text = "; ".join(shown)
    if more > 0:
        text += f"; and {more} more row(s)"
    return text


@dataclass
class Column:
    """Validated one-column input.

    Attributes
    ----------
    values : list
        One entry per row (a str, a path, a PIL image or an ndarray).
    name : str or None
        The column name when X was a named Series or a DataFrame.
    index : pandas.Index or None
        The pandas index of X, used to name rows in later errors.
    """

    values: list
    name: object = None
    index: object = None

    def __len__(self):
        return len(self.values)

    def row(self, pos):
        return _row_label(pos, self.index)

    def take(self, rows):
        """The rows at positions ``rows``; errors still name them by their original row."""
        rows = np.asarray(rows, dtype=np.int64)
        index = rows if self.index is None else self.index[rows]
        return Column([self.values[i] for i in rows], self.name, index)


def _one_column(X, what, estimator):
    """Split X into a list of cells, a column name and an index."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if X is None:
        raise TypeError(f"{estimator} got X=None; expected a sequence of {what}.")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(
            f"{estimator} got a sparse matrix; sparse input is not supported: it expects "
            f"one column of {what}."
        )
    if isinstance(X, np.ndarray):
        if np.iscomplexobj(X):
            raise ValueError(f"{estimator}: Complex data not supported; expected {what}.")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(
                f"{estimator}: found array with 0 feature(s) (shape={X.shape}) while a minimum "
                f"of 1 is required; expected one column of {what}."
            )
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{estimator} got a single {type(X).__name__} ({str(X)[:40]!r}); "
            f"expected a sequence of {what}. Wrap it in a list: [X]."
        )
    if pd is not None and isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"{estimator} expects exactly one column of {what}, got a DataFrame "
                f"with {X.shape[1]} columns {list(X.columns)[:10]}. Select one column, "
                f"or use make_column_transformer(({estimator}(), 'column_name'), ...)."
            )
        return list(X.iloc[:, 0]), X.columns[0], X.index
    if pd is not None and isinstance(X, pd.Series):
        return list(X), X.name, X.index
    return None, None, None


def _check_length(values, estimator):
    if len(values) == 0:
        raise ValueError(f"{estimator} got an empty X (0 rows); at least one row is needed.")


def _is_missing(value):
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def validate_text(X, estimator="TextEncoder"):
    """Validate text input and return it as a :class:`Column` of str.

    Parameters
    ----------
    X : list, tuple, ndarray of str, pandas Series or one-column DataFrame
        The texts, one per row. A 2-D array must have exactly one column.
    estimator : str
        Name used in error messages.

    Returns
    -------
    Column

    Examples
    --------
    >>> validate_text(["good film", "bad film"]).values
    ['good film', 'bad film']
    >>> validate_text(["ok", None])
    Traceback (most recent call last):
    ...
    ValueError: TextEncoder needs a str in every row, but found missing or non-text values in 1 row(s): row 1: None (missing). Fill or drop them first, e.g. X.fillna('').
    """
    values, name, index = _one_column(X, "str", estimator)
    if values is None:
        if isinstance(X, np.ndarray):
            if X.ndim == 2 and X.shape[1] == 1:
                X = X[:, 0]
            elif X.ndim != 1:
                raise ValueError(
                    f"{estimator} expects a 1-D sequence of str or a single column; "
                    f"got an array of shape {X.shape}."
                )
        try:
            values = list(X)
        except TypeError:
            raise TypeError(
                f"{estimator} expects a sequence of str, got {type(X).__name__}."
            ) from None
        # A list of one-element rows (what ColumnTransformer gives for ['col']).
        if values and all(isinstance(v, (list, tuple, np.ndarray)) and len(v) == 1 for v in values):
            values = [v[0] for v in values]
    _check_length(values, estimator)
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:

        def describe(pos):
            v = values[pos]
            if _is_missing(v):
                return f"{v!r} (missing)"
            return f"{type(v).__name__} {str(v)[:30]!r}, expected str"

        raise ValueError(
            f"{estimator} needs a str in every row, but found missing or non-text values "
            f"in {len(bad)} row(s): {_list_rows(bad, index, describe)}. "
            "Fill or drop them first, e.g. X.fillna('')."
        )
    return Column(values, name, index)


# --------------------------------------------------------------------------- images

_ARRAY_HINT = (
    "expected uint8 images: an array of shape (n, h, w) or (n, h, w, c) with c in "
    "{1, 3, 4}, or a list of (h, w) / (h, w, c) arrays"
)


def _check_image_array(a, where, estimator):
    if a.dtype != np.uint8:
        raise ValueError(
            f"{estimator}: {where} has dtype {a.dtype}; {_ARRAY_HINT}. Scale to 0-255 "
            "and cast first, e.g. (X / X.max() * 255).astype(np.uint8)."
        )
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4)):
        if min(a.shape[:2]) == 0:
            raise ValueError(f"{estimator}: {where} is an empty image of shape {a.shape}.")
        return
    raise ValueError(f"{estimator}: {where} has shape {a.shape}; {_ARRAY_HINT}.")


def validate_images(X, estimator="ImageEncoder"):
    """Validate image input and return it as a :class:`Column`.

    Each value is a path (str or Path), a PIL image, or a uint8 ndarray of
    shape (h, w) or (h, w, c). Missing files are reported here; files that
    exist but do not decode are reported when they are read.

    Parameters
    ----------
    X : sequence of paths / PIL images / arrays, uint8 ndarray (n, h, w[, c]),
        pandas Series or one-column DataFrame
        The images, one per row.
    estimator : str
        Name used in error messages.

    Returns
    -------
    Column

    Examples
    --------
    >>> import numpy as np
    >>> col = validate_images(np.zeros((2, 8, 8), dtype=np.uint8))
    >>> len(col), col.values[0].shape
    (2, (8, 8))
    >>> validate_images(np.zeros((2, 64)))
    Traceback (most recent call last):
    ...
    ValueError: ImageEncoder got an array of shape (2, 64) and dtype float64; expected uint8 images: an array of shape (n, h, w) or (n, h, w, c) with c in {1, 3, 4}, or a list of (h, w) / (h, w, c) arrays. Flat pixel rows must be reshaped first, e.g. X.reshape(-1, 8, 8).
    """
    values, name, index = _one_column(X, "images", estimator)
    if values is None:
        if isinstance(X, np.ndarray):
            if X.dtype == object and X.ndim in (1, 2):
                if X.ndim == 2 and X.shape[1] != 1:
                    raise ValueError(
                        f"{estimator} expects one column of images, got an object array "
                        f"of shape {X.shape}."
                    )
                values = list(X.reshape(-1))
            elif X.ndim == 3 or (X.ndim == 4 and X.shape[3] in (1, 3, 4)):
                if X.dtype != np.uint8:
                    _check_image_array(X, "X", estimator)  # raises the dtype error
                values = list(X)
            else:
                raise ValueError(
                    f"{estimator} got an array of shape {X.shape} and dtype {X.dtype}; "
                    f"{_ARRAY_HINT}. Flat pixel rows must be reshaped first, "
                    "e.g. X.reshape(-1, 8, 8)."
                )
        else:
            try:
                values = list(X)
            except TypeError:
                raise TypeError(
                    f"{estimator} expects a sequence of images, got {type(X).__name__}."
                ) from None
            if values and all(
                isinstance(v, (list, tuple)) and len(v) == 1 for v in values
            ):
                values = [v[0] for v in values]
    _check_length(values, estimator)

    from PIL import Image

    missing, wrong_type = [], []
    for i, v in enumerate(values):
        if isinstance(v, (str, os.PathLike)):
            if not os.path.isfile(v):
                missing.append(i)
        elif isinstance(v, np.ndarray):
            _check_image_array(v, _row_label(i, index), estimator)
        elif not isinstance(v, Image.Image):
            wrong_type.append(i)
    if wrong_type:
        raise TypeError(
            f"{estimator} expects an image path, a PIL image or a uint8 array in every row; "
            f"got {len(wrong_type)} other value(s): "
            + _list_rows(
                wrong_type,
                index,
                lambda p: f"{type(values[p]).__name__} {str(values[p])[:30]!r}"
                + (" (missing)" if _is_missing(values[p]) else ""),
            )
            + "."
        )
    if missing:
        raise FileNotFoundError(
            f"{estimator}: {len(missing)} image file(s) do not exist: "
            + _list_rows(missing, index, lambda p: str(values[p]))
            + "."
        )
    return Column(values, name, index)


def digest(data):
    """Content hash used as the cache key of one sample.

    Examples
    --------
    >>> digest(b"abc") == digest(b"abc"), digest(b"abc") == digest(b"abd")
    (True, False)
    """
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def text_digest(text):
    return digest(text.encode("utf-8", "surrogatepass"))


class ImageSample:
    """One image row: its content hash and a way to decode it to RGB."""

    __slots__ = ("value", "row", "key", "_bytes")

    def __init__(self, value, row):
        self.value = value
        self.row = row
        if isinstance(value, (str, os.PathLike)):
            # Read once: the same bytes are hashed and, on a cache miss, decoded.
            self._bytes = Path(value).read_bytes()
            self.key = digest(self._bytes)
        elif isinstance(value, np.ndarray):
            self._bytes = None
            a = np.ascontiguousarray(value)
            self.key = digest(repr((a.shape, a.dtype.str)).encode() + a.tobytes())
        else:
            self._bytes = None
            self.key = digest(repr((value.mode, value.size)).encode() + value.tobytes())

    def load(self, estimator="ImageEncoder"):
        """Decode to an RGB PIL image, naming the row and file if that fails."""
        from PIL import Image, UnidentifiedImageError

        if self._bytes is not None:
            try:
                img = Image.open(io.BytesIO(self._bytes))
                img.load()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise ValueError(
                    f"{estimator}: {self.row} ({self.value}) is not a readable image: {exc}"
                ) from exc
        elif isinstance(self.value, np.ndarray):
            a = self.value
            if a.ndim == 3 and a.shape[2] == 1:
                a = a[:, :, 0]
            img = Image.fromarray(np.ascontiguousarray(a))
        else:
            img = self.value
        if img.mode != "RGB":
            img = img.convert("RGB")
        return img


def check_consistent_length(X_len, y, estimator):
    """Raise if y does not have one entry per row of X."""
    if y is not None and len(y) != X_len:
        raise ValueError(
            f"{estimator}: X has {X_len} rows but y has {len(y)} entries; "
            "they must have the same length."
        )
