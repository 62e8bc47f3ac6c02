"""Images: file paths, PIL images or uint8 arrays, one per row; and their preprocessing."""

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._deps import require
from .base import (
    FileSample,
    Modality,
    Rows,
    as_list,
    check_not_empty,
    digest,
    is_missing,
    list_rows,
    one_column,
    row_label,
)

_ARRAY_HINT = (
    "expected uint8 images: an array of shape (n, h, w) or (n, h, w, c) with c in "
    "{1, 3, 4}, or a list of (h, w) / (h, w, c) arrays"
)
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _check_array(a, where, estimator):
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


def _array_values(X, estimator):
    """The rows of an ndarray X: paths (a str array), images (object or uint8 arrays)."""
    if X.dtype.kind in "US" and (X.ndim == 1 or (X.ndim == 2 and X.shape[1] == 1)):
        return [str(v) for v in X.reshape(-1)]
    if X.dtype == object and X.ndim in (1, 2):
        if X.ndim == 2 and X.shape[1] != 1:
            raise ValueError(
                f"{estimator} expects one column of images, got an object array of shape {X.shape}."
            )
        return list(X.reshape(-1))
    if X.ndim == 3 or (X.ndim == 4 and X.shape[3] in (1, 3, 4)):
        if X.dtype != np.uint8:
            _check_array(X, "X", estimator)  # raises the dtype error
        return list(X)
    raise ValueError(
        f"{estimator} got an array of shape {X.shape} and dtype {X.dtype}; {_ARRAY_HINT}. "
        "Flat pixel rows must be reshaped first, e.g. X.reshape(-1, 8, 8)."
    )


# ------------------------------------------------------------------ decoding


def _png_rows_missing(data):
    """PNG bytes whose pixel data ends before the last row: (rows there, rows declared).

    Pillow decodes such a file without an error and leaves the missing rows
    black. Returns None for a complete (or non-PNG, or unparsable) file.
    """
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos, header, inflate, produced = 8, None, zlib.decompressobj(), 0
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR" and len(body) == 13:
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            # Count the inflated bytes without keeping them.
            chunk = body
            while chunk:
                produced += len(inflate.decompress(chunk, 1 << 20))
                chunk = inflate.unconsumed_tail
        elif kind == b"IEND":
            break
    if header is None or header[6] != 0:  # interlaced files: Pillow reports their truncation itself
        return None
    width, height, depth, colour = header[:4]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if channels is None:
        return None
    row_bytes = 1 + (width * channels * depth + 7) // 8
    if produced >= row_bytes * height:
        return None
    return produced // row_bytes, height


def _rgb(img, where, estimator):
    """An RGB copy of ``img``, converting 16-bit and float pixels with their real range."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(img, dtype=np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(
                f"{estimator}: {where} is a 32-bit integer image with values in [{a.min()}, "
                f"{a.max()}], which has no known range; convert it to 8 bits (0-255) first."
            )
        # 16-bit range 0..65535 onto 0..255.
        img = Image.fromarray(np.round(a / 257.0).astype(np.uint8))
    elif mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise ValueError(
                f"{estimator}: {where} is a floating-point image with values in [{np.nanmin(a):g}, "
                f"{np.nanmax(a):g}]; float images must hold values in [0, 1]. Rescale it, or "
                "convert it to 8 bits (0-255) first."
            )
        img = Image.fromarray(np.round(a * 255.0).astype(np.uint8))
    if img.mode != "RGB":
        try:
            img = img.convert("RGB")
        except ValueError as exc:
            raise ValueError(
                f"{estimator}: {where} has mode {img.mode!r}, which cannot become RGB: {exc}"
            ) from exc
    return img


class ImageSample(FileSample):
    """One image row: its content hash and a way to decode it to RGB."""

    __slots__ = ()

    def __init__(self, value, row, estimator="ImageEncoder"):
        super().__init__(value, row, estimator)

    def value_key(self, value):
        if isinstance(value, np.ndarray):
            a = np.ascontiguousarray(value)
            return digest(repr((a.shape, a.dtype.str)).encode() + a.tobytes())
        return digest(repr((value.mode, value.size)).encode() + value.tobytes())

    def load(self):
        """Decode to an RGB PIL image, naming the row (and file) if that fails."""
        from PIL import Image, ImageOps, UnidentifiedImageError

        name = self.estimator
        if self._bytes is not None:
            where = f"{self.row} ({self.value})"
            try:
                img = Image.open(io.BytesIO(self._bytes))
                img.load()
            except Image.DecompressionBombError as exc:
                raise ValueError(
                    f"{name}: {where} is too large to decode safely ({exc}). If you trust the "
                    "file, raise PIL.Image.MAX_IMAGE_PIXELS, or shrink the image first."
                ) from exc
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
                raise ValueError(f"{name}: {where} is not a readable image: {exc}") from exc
            missing = _png_rows_missing(self._bytes) if img.format == "PNG" else None
            if missing is not None:
                raise ValueError(
                    f"{name}: {where} is not a readable image: its pixel data ends after "
                    f"{missing[0]} of the {missing[1]} rows its header declares (a truncated or "
                    "damaged PNG)."
                )
            # Cameras store the orientation separately from the pixels.
            if img.getexif().get(0x0112, 1) != 1:
                img = ImageOps.exif_transpose(img)
        elif isinstance(self.value, np.ndarray):
            where = self.row
            a = self.value
            if a.ndim == 3 and a.shape[2] == 1:
                a = a[:, :, 0]
            img = Image.fromarray(np.ascontiguousarray(a))
        else:
            where = self.row
            img = self.value
        if min(img.size) == 0:
            raise ValueError(
                f"{name}: {where} is an empty image ({img.size[0]}x{img.size[1]} pixels)."
            )
        return _rgb(img, where, name)


# ------------------------------------------------------------------ preprocessing


@dataclass(frozen=True)
class ImagePreprocess:
    """Evaluation-time image preprocessing: resize, centre crop, normalise.

    Taken from the weights' own metadata (torchvision's ``weights.transforms()``)
    so features match what the network saw in pre-training.
    """

    resize_size: int
    crop_size: int
    mean: tuple
    std: tuple
    interpolation: str = "bilinear"

    @classmethod
    def from_torchvision(cls, preset):
        interp = getattr(preset, "interpolation", "bilinear")
        interp = getattr(interp, "value", interp)
        resize = preset.resize_size
        crop = preset.crop_size
        return cls(
            resize_size=int(resize[0] if isinstance(resize, (list, tuple)) else resize),
            crop_size=int(crop[0] if isinstance(crop, (list, tuple)) else crop),
            mean=tuple(float(m) for m in preset.mean),
            std=tuple(float(s) for s in preset.std),
            interpolation=str(interp),
        )

    def to_uint8_tensor(self, img):
        """One RGB PIL image -> uint8 tensor (3, crop, crop)."""
        tv = require("torchvision.transforms.v2.functional", "image preprocessing")
        modes = require("torchvision.transforms", "image preprocessing").InterpolationMode
        img = tv.resize(
            img, self.resize_size, interpolation=modes(self.interpolation), antialias=True
        )
        img = tv.center_crop(img, self.crop_size)
        return tv.pil_to_tensor(img)

    def normalize(self, batch_uint8):
        """uint8 batch (n, 3, h, w) -> normalised float32 batch, vectorised."""
        torch = require("torch")
        x = batch_uint8.float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)


class ImageTransform:
    """RGB PIL image -> uint8 tensor: eval preprocessing, or random augmentation."""

    def __init__(self, preprocess, augment):
        self.preprocess = preprocess
        self.augment = augment
        self._aug = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_aug"] = None
        return state

    def __call__(self, img):
        if not self.augment:
            return self.preprocess.to_uint8_tensor(img)
        if self._aug is None:
            from torchvision.transforms import v2

            size = self.preprocess.crop_size
            # At least 80 % of the area, near the image's own shape: small
            # images whose object fills the frame (digits, glyphs) keep it.
            ops = [v2.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True)]
            if self.augment == "flip":
                ops.append(v2.RandomHorizontalFlip())
            self._aug = {
                # Grey images get no colour jitter: there is no colour to vary,
                # and grey sets (digits, glyphs, scans) carry their signal in
                # the contrast of stroke and background.
                True: v2.Compose([*ops, v2.PILToTensor()]),
                False: v2.Compose([*ops, v2.ColorJitter(0.2, 0.2, 0.2), v2.PILToTensor()]),
            }
        return self._aug[_is_grey(img)](img)


def _is_grey(img):
    """Whether an RGB PIL image's three channels are equal everywhere."""
    a = np.asarray(img)
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


class Pixels(TransformerMixin, BaseEstimator):
    """Raw pixels resized to ``size`` x ``size`` RGB in [0, 1]: the non-neural image baseline."""

    def __init__(self, size=32):
        self.size = size

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        modality = ImageModality()
        rows = modality.check_X(X, "raw-pixel baseline")
        out = np.empty((len(rows), self.size * self.size * 3), dtype=np.float32)
        for i, sample in enumerate(modality.samples(rows, "raw-pixel baseline")):
            img = sample.load().resize((self.size, self.size))
            out[i] = np.asarray(img, dtype=np.float32).ravel() / 255.0
        return out


# ------------------------------------------------------------------ the modality


class ImageModality(Modality):
    """Images: paths, PIL images or uint8 arrays, or a Series / one-column DataFrame of them.

    Missing files are reported by :meth:`check_X`; files that exist but do
    not decode are reported when they are read. Grayscale, RGBA, palette,
    16-bit and float images become 8-bit RGB (16-bit and float pixels with
    their real range); EXIF orientation is applied.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.modalities import get_modality
    >>> rows = get_modality("image").check_X(np.zeros((2, 8, 8), dtype=np.uint8), "ImageEncoder")
    >>> len(rows), rows.values[0].shape
    (2, (8, 8))
    >>> image = get_modality("image")
    >>> image.check_X(np.zeros((2, 64)), "ImageEncoder")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: ImageEncoder got an array of shape (2, 64) and dtype float64; expected uint8 images:
    an array of shape (n, h, w) or (n, h, w, c) with c in {1, 3, 4}, or a list of (h, w) / (h, w, c)
    arrays. Flat pixel rows must be reshaped first, e.g. X.reshape(-1, 8, 8).
    """

    name = "image"
    noun = "images"
    input_tags = {"two_d_array": False, "three_d_array": True}
    prefetch = True
    # On 2 CPU cores (channels-last, fp32) EfficientNet-Lite0 ran 2.4x faster
    # in chunks of 4 than in batches of 32 (81 against 34 images/s), resnet18
    # 1.07x: a chunk's activations stay in the CPU's caches.
    cpu_chunk = 4
    augmentations = (True, "flip")
    priority = 10

    def check_X(self, X, estimator):
        from PIL import Image

        values, index, names = one_column(X, "images", estimator)
        if values is None:
            values = (
                _array_values(X, estimator)
                if isinstance(X, np.ndarray)
                else as_list(X, "images", estimator)
            )
        check_not_empty(values, estimator)
        missing, folders, wrong_type = [], [], []
        for i, v in enumerate(values):
            if isinstance(v, np.str_):
                values[i] = v = str(v)
            if isinstance(v, (str, os.PathLike)):
                if os.path.isdir(v):
                    folders.append(i)
                elif not os.path.isfile(v):
                    missing.append(i)
            elif isinstance(v, np.ndarray):
                _check_array(v, row_label(i, index), estimator)
            elif isinstance(v, Image.Image):
                if min(v.size) == 0:
                    raise ValueError(
                        f"{estimator}: {row_label(i, index)} is an empty image "
                        f"({v.size[0]}x{v.size[1]})."
                    )
            else:
                wrong_type.append(i)
        if wrong_type:
            raise TypeError(
                f"{estimator} expects an image path, a PIL image or a uint8 array in every row; "
                f"got {len(wrong_type)} other value(s): "
                + list_rows(
                    wrong_type,
                    index,
                    lambda p: (
                        f"{type(values[p]).__name__} {str(values[p])[:30]!r}"
                        + (" (missing)" if is_missing(values[p]) else "")
                    ),
                )
                + "."
            )
        if folders:
            raise ValueError(
                f"{estimator}: {len(folders)} row(s) name a folder, not an image file: "
                + list_rows(folders, index, lambda p: str(values[p]))
                + ". List the image files inside it, e.g. sorted(Path(folder).glob('*.jpg'))."
            )
        if missing:
            raise FileNotFoundError(
                f"{estimator}: {len(missing)} image file(s) do not exist: "
                + list_rows(missing, index, lambda p: str(values[p]))
                + "."
            )
        return Rows(values, index, names)

    def looks_like(self, X):
        from PIL import Image

        values = X.iloc[:, 0] if hasattr(X, "columns") else X
        if isinstance(values, np.ndarray) and values.dtype.kind in "uif":
            return True
        try:
            sample = list(values[:20])
        except TypeError:
            return False
        if not sample:
            return False
        if all(isinstance(v, (str, os.PathLike)) for v in sample):
            paths = [Path(os.fspath(v)) for v in sample]
            return all(p.suffix.lower() in SUFFIXES and p.is_file() for p in paths) or not all(
                isinstance(v, str) for v in sample
            )
        return all(isinstance(v, (np.ndarray, Image.Image)) for v in sample)

    def samples(self, rows, estimator):
        return [ImageSample(v, rows.row(i), estimator) for i, v in enumerate(rows.values)]

    def auto_augment(self, rows, estimator):
        """Colour images are augmented, grey ones not (judged on the first 32 rows).

        On the fine-tuning panel (benchmarks/RESULTS.md), augmentation at k=1
        helped the colour set (digits on photos: +3.6 points) and hurt every
        grey one (digits -3.2, printed digits -2.4, LFW faces -1.0), at 4-10x
        the fit time: grey images get crops only, and crops of small images
        cut into their object.
        """
        first = self.samples(rows.take(range(min(len(rows), 32))), estimator)
        return not all(_is_grey(s.load()) for s in first)

    def rows_in_memory(self, n_rows, batch_size):
        # Bounds the memory of decoded files.
        return max(batch_size * 8, 256)

    def prepare(self, items, backbone):
        torch = require("torch")
        return torch.stack([backbone.preprocess.to_uint8_tensor(im) for im in items])

    def to_device(self, batch, backbone):
        torch = require("torch")
        x = backbone.preprocess.normalize(batch.to(backbone.device, non_blocking=True))
        if backbone.device == "cpu":
            # NHWC convolutions are ~25% faster on CPU for these nets.
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def dummy_batch(self, backbone):
        torch = require("torch")
        size = backbone.preprocess.crop_size
        return torch.zeros(1, 3, size, size, dtype=torch.uint8)

    def item_transform(self, preprocess, augment):
        return ImageTransform(preprocess, augment)

    def input_module(self, backbone):
        from ..backbones._nets import InputNorm

        return InputNorm(backbone.preprocess.mean, backbone.preprocess.std)

    def baseline(self, **options):
        from sklearn.preprocessing import StandardScaler

        return "raw pixels (32x32)", [Pixels(32), StandardScaler()]
