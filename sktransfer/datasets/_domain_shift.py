"""Real domain shifts for domain adaptation: printed vs handwritten digits,
handwritten digits on photos, and sentiment in film reviews, product reviews,
editorials and tweets."""

import os
from importlib import resources

import numpy as np

from .._deps import require

SENTIMENT_DOMAINS = ("amazon", "movies", "nyt", "tweets")

# Fonts that matplotlib ships (mpl-data/fonts/ttf) and that have real digit
# glyphs: DejaVu Sans / Sans Mono / Serif, STIX General (each regular, bold,
# italic, bold italic) and five Computer Modern faces. cmmi10 has old-style
# figures, cmex10/cmsy10 and the STIX "NonUni"/size fonts have no digits.
PRINTED_DIGIT_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmti10.ttf",
    "cmtt10.ttf",
)


def load_sentiment_snippets(domain=None):
    """Sentences from four kinds of text, each rated for sentiment by 20 people.

    The ground-truth data of the VADER paper (Hutto & Gilbert, ICWSM 2014),
    vendored from the vaderSentiment 3.3.2 source distribution (MIT licence;
    see ``datasets/data/README-vader_sentiment_snippets.md``). Every sentence was rated from -4
    (extremely negative) to +4 (extremely positive) by at least 20 screened
    raters; ``rating`` is their mean. The same rating protocol across four
    styles of text makes a clean domain shift: the task is the same, only the
    kind of text changes.

    ======== ===== =========================================================
    domain   rows  text
    ======== ===== =========================================================
    amazon   3697  sentences of customer reviews of 5 products (Hu & Liu 2004)
    movies   10603 sentences of film reviews from rottentomatoes.com
                   (the 2,000 reviews of Pang & Lee 2004)
    nyt      5119  sentences of 500 New York Times opinion editorials
    tweets   4200  tweets from Twitter's public timeline (user names and URLs
                   anonymised), plus 200 contrived tweet-like texts
    ======== ===== =========================================================

    Parameters
    ----------
    domain : str or list of str, optional
        Keep only these domains (``"amazon"``, ``"movies"``, ``"nyt"``,
        ``"tweets"``); all of them by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``text``, ``rating`` (mean human rating, -4 to 4), ``label``
        (``"positive"`` for rating >= 0.5, ``"negative"`` for rating <= -0.5,
        ``"neutral"`` in between), ``domain`` and ``id`` (the row's id in the
        original files).

    Examples
    --------
    >>> df = load_sentiment_snippets()
    >>> df.groupby("domain").size().to_dict()
    {'amazon': 3697, 'movies': 10603, 'nyt': 5119, 'tweets': 4200}
    >>> tweets = load_sentiment_snippets("tweets")
    >>> tweets["label"].value_counts().to_dict()
    {'positive': 2345, 'negative': 1087, 'neutral': 768}
    """
    import pandas as pd

    with (
        resources.files(__package__)
        .joinpath("data/vader_sentiment_snippets.csv.gz")
        .open("rb") as fh
    ):
        df = pd.read_csv(
            fh, compression="gzip", keep_default_na=False, dtype={"text": str, "id": str}
        )
    if domain is not None:
        wanted = [domain] if isinstance(domain, str) else list(domain)
        unknown = sorted(set(wanted) - set(SENTIMENT_DOMAINS))
        if unknown:
            raise ValueError(f"Unknown domain(s) {unknown}; choose from {list(SENTIMENT_DOMAINS)}.")
        df = df[df["domain"].isin(wanted)].reset_index(drop=True)
    label = np.where(
        df["rating"] >= 0.5, "positive", np.where(df["rating"] <= -0.5, "negative", "neutral")
    )
    df.insert(2, "label", label)
    return df


def _font_dir():
    matplotlib = require(
        "matplotlib", purpose="load_printed_digits (it renders digits with matplotlib's fonts)"
    )
    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")


def _render_digit(digit, font, rng, size):
    """One printed digit, normalised like scikit-learn's digits (UCI optdigits).

    optdigits: a 32x32 bitmap of the digit, size-normalised and centred, cut
    into 4x4 blocks whose counts of ink give the 8x8 image. Here: draw the
    glyph large, thicken the stroke a random amount (pens and fonts vary),
    rotate a little, fit its bounding box into the 32x32 box with a little
    random scale, width and offset, then average 32/size x 32/size blocks.
    """
    from PIL import Image, ImageDraw, ImageFilter

    canvas = Image.new("L", (192, 192), 0)
    ImageDraw.Draw(canvas).text((48, 24), str(digit), fill=255, font=font)
    width = int(rng.choice([1, 3, 5, 7], p=[0.25, 0.35, 0.25, 0.15]))
    if width > 1:
        canvas = canvas.filter(ImageFilter.MaxFilter(width))
    canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR)
    ink_rows, ink_cols = np.nonzero(np.asarray(canvas) > 40)
    glyph = canvas.crop((ink_cols.min(), ink_rows.min(), ink_cols.max() + 1, ink_rows.max() + 1))
    w, h = glyph.size
    scale = 32 * rng.uniform(0.85, 1.0) / max(w, h)
    new_h = max(1, round(h * scale))
    new_w = max(1, min(32, round(w * scale * rng.uniform(0.9, 1.25))))
    glyph = glyph.resize((new_w, new_h), Image.LANCZOS)
    box = Image.new("L", (32, 32), 0)
    left = int(np.clip((32 - new_w) // 2 + rng.integers(-1, 2), 0, 32 - new_w))
    top = int(np.clip((32 - new_h) // 2 + rng.integers(-1, 2), 0, 32 - new_h))
    box.paste(glyph, (left, top))
    block = 32 // size
    ink = np.asarray(box, dtype=np.float64).reshape(size, block, size, block).mean(axis=(1, 3))
    return np.round(ink).astype(np.uint8)


def load_printed_digits(n_per_class=100, *, size=8, random_state=0):
    """Digits 0-9 printed in 21 real fonts, in the style of scikit-learn's digits.

    The printed counterpart of :func:`load_digit_images` (handwritten): the
    glyphs of fonts that ship with matplotlib (DejaVu Sans, Sans Mono and
    Serif, STIX General, each in four styles, and five Computer Modern faces),
    with random stroke width, rotation (+-12 degrees), scale and offset, fitted
    into a 32x32 box and block-averaged to ``size`` x ``size`` as the UCI
    optdigits preprocessing does. Printed (source) vs handwritten (target) is
    a real domain shift with the same ten classes. Needs matplotlib (for its
    fonts).

    Parameters
    ----------
    n_per_class : int, default=100
        Images per digit.
    size : {8, 16, 32}, default=8
        Output side in pixels; 8 matches ``load_digit_images()``.
    random_state : int or numpy Generator, default=0
        Fonts, stroke widths, rotations and offsets are drawn from it, so the
        same value gives the same images.

    Returns
    -------
    images : ndarray of shape (10 * n_per_class, size, size), dtype uint8
        Ink from 0 (paper) to 255, shuffled.
    target : ndarray of shape (10 * n_per_class,)
        The digit in each image.

    Examples
    --------
    >>> images, target = load_printed_digits(n_per_class=3)
    >>> images.shape, images.dtype, sorted(set(target.tolist())) == list(range(10))
    ((30, 8, 8), dtype('uint8'), True)
    >>> np.array_equal(images, load_printed_digits(n_per_class=3)[0])  # deterministic
    True
    """
    from PIL import ImageFont

    if (
        not isinstance(n_per_class, (int, np.integer))
        or isinstance(n_per_class, bool)
        or n_per_class < 1
    ):
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}.")
    if size not in (8, 16, 32):
        raise ValueError(f"size must be 8, 16 or 32 (a divisor of the 32x32 box), got {size!r}.")
    rng = np.random.default_rng(random_state)
    folder = _font_dir()
    fonts = [ImageFont.truetype(os.path.join(folder, name), 96) for name in PRINTED_DIGIT_FONTS]
    images, target = [], []
    for digit in range(10):
        for _ in range(n_per_class):
            font = fonts[rng.integers(len(fonts))]
            images.append(_render_digit(digit, font, rng, size))
            target.append(digit)
    order = rng.permutation(len(target))
    return np.stack(images)[order], np.asarray(target)[order]


def load_digits_on_photos(*, size=32, random_state=0):
    """scikit-learn's handwritten digits blended onto patches of real photos.

    The MNIST-M recipe (Ganin & Lempitsky, 2015) applied to
    :func:`load_digit_images`: each 8x8 digit is upsampled to ``size`` x
    ``size`` and blended with a random patch of one of scikit-learn's two
    sample photos (``load_sample_images``: a Chinese temple and a flower) as
    ``|patch - digit|``, so the stroke inverts the photo's colours. Clean grey
    digits (source) vs the same kind of digits on photos (target) is a shift of
    colour and texture with the same classes and handwriting. Row ``i`` is
    digit ``i`` of ``load_digit_images()``: use disjoint rows for source and
    target.

    Parameters
    ----------
    size : int, default=32
        Side in pixels of the output images (the digit is upsampled bilinearly).
    random_state : int or numpy Generator, default=0
        Which photo and patch each digit gets.

    Returns
    -------
    images : ndarray of shape (1797, size, size, 3), dtype uint8
    target : ndarray of shape (1797,)

    Examples
    --------
    >>> images, target = load_digits_on_photos()
    >>> images.shape, images.dtype, target[:5].tolist()
    ((1797, 32, 32, 3), dtype('uint8'), [0, 1, 2, 3, 4])
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from . import load_digit_images

    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}.")
    rng = np.random.default_rng(random_state)
    photos = [np.asarray(p, dtype=np.int16) for p in load_sample_images().images]
    digits, target = load_digit_images()
    out = np.empty((len(digits), size, size, 3), dtype=np.uint8)
    for i, digit in enumerate(digits):
        ink = np.asarray(
            Image.fromarray(digit).resize((size, size), Image.BILINEAR), dtype=np.int16
        )
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(0, photo.shape[0] - size + 1)
        left = rng.integers(0, photo.shape[1] - size + 1)
        patch = photo[top : top + size, left : left + size]
        out[i] = np.abs(patch - ink[:, :, None]).astype(np.uint8)
    return out, target
