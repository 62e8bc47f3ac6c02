"""Audio: one clip per row (a file, or a waveform and its sample rate); mel features in numpy.

Files are decoded with ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis,
Opus, MP3, AIFF...), mixed down to mono and resampled to the network's rate
with scipy's polyphase filter. The mel filterbank is computed here, in numpy,
as librosa computes it (Slaney's mel scale and area normalisation, a periodic
Hann window, frames centred with zero padding), so no audio library beyond
soundfile is needed.
"""

import functools
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

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

WHAT = (
    "audio clips: file paths (wav, flac, ogg, mp3...), 1-D waveforms with sample_rate=, "
    "(waveform, sample_rate) pairs or {'array', 'sampling_rate'} dicts (Hugging Face datasets), "
    "or a pandas column of them"
)
SUFFIXES = {
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64",
}  # fmt: skip
# The check_X options an estimator passes, with their defaults (constraints and
# documentation: _contract.AUDIO_CONSTRAINTS and AUDIO_DOCS).
DEFAULTS = {"sample_rate": None}
_INT_SCALE = {"int16": 2.0**15, "int32": 2.0**31, "int8": 2.0**7}


# ------------------------------------------------------------------ signal processing


def hz_to_mel(hz):
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    return np.where(
        log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel
    )


def mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
    """``(n_mels, n_fft // 2 + 1)`` triangular filters, area-normalised (librosa's defaults).

    Examples
    --------
    >>> fb = mel_filterbank(16000, 400, 40)
    >>> fb.shape, bool((fb >= 0).all())
    ((40, 201), True)
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def power_spectrogram(wave, n_fft, hop):
    """``(frames, n_fft // 2 + 1)`` |STFT|^2 of centred, zero-padded frames (periodic Hann)."""
    padded = np.pad(np.asarray(wave, dtype=np.float32), n_fft // 2)
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, (n_frames, n_fft), (padded.strides[0] * hop, padded.strides[0]), writeable=False
    )
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=1)
    return (spectrum.real**2 + spectrum.imag**2).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _filterbank(sample_rate, n_fft, n_mels):
    return mel_filterbank(sample_rate, n_fft, n_mels)


def mel_power(wave, sample_rate, n_fft, hop, n_mels):
    """``(frames, n_mels)`` power mel spectrogram of a waveform already at ``sample_rate``."""
    return power_spectrogram(wave, n_fft, hop) @ _filterbank(sample_rate, n_fft, n_mels).T


def resample(wave, rate, target):
    """``wave`` from ``rate`` to ``target`` Hz (scipy's polyphase filter; as is when equal)."""
    if rate == target:
        return wave
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(wave, target // g, rate // g).astype(np.float32)


@dataclass(frozen=True)
class SpeechPreprocess:
    """What a speech network takes: 1.6 s windows ("partials") of a 40-band mel spectrogram.

    Resemblyzer's recipe for its GE2E encoder (Wan et al. 2018): the clip at
    16 kHz, its volume raised to -30 dBFS when quieter (never lowered), a
    power mel spectrogram (25 ms windows every 10 ms), cut into windows of
    160 frames, 1.3 per second, the last one zero-padded when it covers at
    least 75 % of a window. The network embeds each window; a clip's
    features are their mean. Long silences are not trimmed (resemblyzer
    trims them with webrtcvad, a compiled dependency).
    """

    sample_rate: int = 16000
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 40
    partial_frames: int = 160
    partials_per_second: float = 1.3
    min_coverage: float = 0.75
    target_dbfs: float = -30.0

    def wave(self, loaded):
        """A loaded ``(wave, rate)`` -> float32 mono at :attr:`sample_rate`, volume-normalised."""
        wave, rate = loaded
        wave = resample(np.asarray(wave, dtype=np.float32), int(rate), self.sample_rate)
        rms = float(np.sqrt(np.mean(np.square(wave.astype(np.float64) * 32767))))
        gain_db = self.target_dbfs - 20 * np.log10(max(rms, 1e-12) / 32767)
        return wave * np.float32(10 ** (gain_db / 20)) if gain_db > 0 else wave

    def windows(self, n_samples):
        """Start frames of the windows that cover ``n_samples`` samples (resemblyzer's slices)."""
        n_frames = int(np.ceil((n_samples + 1) / self.hop))
        step = int(np.round(self.sample_rate / self.partials_per_second / self.hop))
        starts = list(range(0, max(1, n_frames - self.partial_frames + step + 1), step))
        last = starts[-1] * self.hop
        coverage = (n_samples - last) / (self.partial_frames * self.hop)
        if coverage < self.min_coverage and len(starts) > 1:
            starts = starts[:-1]
        return starts

    def item(self, loaded):
        """One clip -> ``(windows, partial_frames, n_mels + 1)`` float32; the last column flags
        a real window (1) against the padding a batch adds (0)."""
        wave = self.wave(loaded)
        starts = self.windows(len(wave))
        end = (starts[-1] + self.partial_frames) * self.hop
        if end >= len(wave):
            wave = np.pad(wave, (0, end - len(wave)))
        mel = mel_power(wave, self.sample_rate, self.n_fft, self.hop, self.n_mels)
        out = np.ones((len(starts), self.partial_frames, self.n_mels + 1), dtype=np.float32)
        for i, s in enumerate(starts):
            out[i, :, :-1] = mel[s : s + self.partial_frames]
        return out


def pad_windows(items):
    """Items of different numbers of windows -> one zero-padded float32 array (flags 0 on
    padding); items are :meth:`SpeechPreprocess.item` arrays or CPU tensors of them."""
    items = [np.asarray(it) for it in items]
    out = np.zeros((len(items), max(len(it) for it in items), *items[0].shape[1:]), np.float32)
    for i, it in enumerate(items):
        out[i, : len(it)] = it
    return out


def log_mel(wave, sample_rate=16000, n_fft=400, hop=160, n_mels=40):
    """``(frames, n_mels)`` natural-log mel energies of a waveform already at ``sample_rate``."""
    return np.log(mel_power(wave, sample_rate, n_fft, hop, n_mels) + 1e-6)


# ------------------------------------------------------------------ rows and samples


def _as_wave(value, where, estimator):
    """A 1-D or (channels, samples) array-like -> float32 mono in [-1, 1] (ints scaled)."""
    a = np.asarray(value)
    if a.dtype == object or a.dtype.kind not in "iuf":
        raise TypeError(
            f"{estimator}: {where} holds a {a.dtype} array; expected a float waveform (or int16 / "
            "int32 PCM samples)."
        )
    if a.ndim == 2:
        # The shorter axis holds the channels: (channels, samples), or (samples, channels)
        # as soundfile gives them.
        a = a.mean(axis=0 if a.shape[0] <= a.shape[1] else 1)
    elif a.ndim != 1:
        raise ValueError(
            f"{estimator}: {where} has shape {a.shape}; expected a 1-D waveform (samples,) or "
            "(channels, samples)."
        )
    if a.dtype.kind in "iu":
        scale = _INT_SCALE.get(a.dtype.name)
        if a.dtype == np.uint8:
            a = (a.astype(np.float32) - 128.0) / 128.0
        elif scale is not None:
            a = a.astype(np.float32) / np.float32(scale)
        elif a.size == 0 or (a.min() >= -(2**15) and a.max() < 2**15):
            # Other integers (int64 is what np.array makes of a list of ints) are read as
            # 16-bit PCM values, the common case, when they fit its range.
            a = a.astype(np.float32) / np.float32(2**15)
        else:
            raise ValueError(
                f"{estimator}: {where} holds {a.dtype} samples in [{a.min()}, {a.max()}], outside "
                "16-bit PCM's range; pass int16 or int32 PCM, or floats in [-1, 1]."
            )
    return np.ascontiguousarray(a, dtype=np.float32)


def _check_wave(wave, where, estimator):
    if wave.size == 0:
        raise ValueError(f"{estimator}: {where} is an empty clip (0 samples).")
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise ValueError(
            f"{estimator}: {where} holds {bad} NaN or infinite sample(s) of {wave.size}; audio "
            "samples must be finite."
        )
    if not np.any(wave):
        raise ValueError(
            f"{estimator}: {where} is silent (every one of its {wave.size} samples is 0); a "
            "network cannot tell anything from it. Drop it, or check how it was recorded."
        )


def _check_rate(rate, where, estimator):
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float, np.floating)):
        raise TypeError(
            f"{estimator}: {where} has sample rate {rate!r}; expected a positive int (Hz)."
        )
    if not (rate > 0 and float(rate).is_integer()):
        raise ValueError(
            f"{estimator}: {where} has sample rate {rate!r}; expected a positive int (Hz)."
        )
    return int(rate)


def _cell(value, where, sample_rate, estimator):
    """One row -> a path (str) or a ``(float32 wave, rate)`` pair; raises naming the row."""
    if isinstance(value, np.str_):
        value = str(value)
    if isinstance(value, (str, os.PathLike)):
        return value
    if isinstance(value, dict):
        if "array" not in value and value.get("path") and os.path.isfile(value["path"]):
            return value["path"]
        if "array" not in value or "sampling_rate" not in value:
            raise TypeError(
                f"{estimator}: {where} is a dict with keys {sorted(value)[:6]}; an audio dict "
                "needs 'array' and 'sampling_rate' (as Hugging Face datasets give)."
            )
        wave, rate = value["array"], value["sampling_rate"]
    elif (
        isinstance(value, tuple)
        and len(value) == 2
        and np.ndim(value[1]) == 0
        and np.ndim(value[0]) >= 1
    ):
        wave, rate = value
    elif isinstance(value, (np.ndarray, list)) or (
        hasattr(value, "__array__") and not is_missing(value)
    ):
        if sample_rate is None:
            raise ValueError(
                f"{estimator}: {where} is a waveform without a sample rate; pass "
                "sample_rate=<Hz> (e.g. 16000), or give each row as a (waveform, rate) pair."
            )
        wave, rate = value, sample_rate
    else:
        raise TypeError(
            f"{estimator}: {where} is {type(value).__name__} {str(value)[:30]!r}"
            + (" (missing)" if is_missing(value) else "")
            + f"; expected {WHAT}."
        )
    rate = _check_rate(rate, where, estimator)
    wave = _as_wave(wave, where, estimator)
    _check_wave(wave, where, estimator)
    return wave, rate


def _values(X, estimator):
    import pandas as pd

    if isinstance(X, pd.DataFrame) and X.shape[1] > 1:
        if all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):
            # A wide frame of numbers: one waveform per row, as a 2-D array is.
            return list(X.to_numpy(np.float64)), X.index, None
    values, index, names = one_column(X, WHAT, estimator)
    if values is None:
        if not isinstance(X, (np.ndarray, list, tuple)) and hasattr(X, "__array__"):
            X = np.asarray(X)
        if isinstance(X, np.ndarray):
            if X.dtype == object and X.ndim == 2 and X.shape[1] > 1:
                try:  # numbers in an object array: waveforms
                    X = X.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"{estimator} got an object array of shape {X.shape} that is not all "
                        f"numbers ({exc}); expected waveforms, or one column of {WHAT}."
                    ) from None
            if X.dtype.kind in "iuf":
                if X.ndim != 2:
                    raise ValueError(
                        f"{estimator} got a numeric array of shape {X.shape}; expected one clip "
                        "per row, (n_clips, n_samples) with sample_rate=. Reshape your data: "
                        "X.reshape(1, -1) if it is one clip, or pass a list of 1-D clips."
                    )
                values = list(X)
            elif X.ndim == 2 and X.shape[1] == 1:
                values = list(X[:, 0])
            elif X.ndim == 1:
                values = list(X)
            else:
                raise ValueError(f"{estimator} got an array of shape {X.shape}; expected {WHAT}.")
        else:
            values = as_list(X, "audio clips", estimator)
    return values, index, names


class AudioSample(FileSample):
    """One clip: its content hash and a way to decode it to ``(mono float32 wave, rate)``."""

    __slots__ = ()

    def __init__(self, value, row, estimator="AudioEncoder"):
        super().__init__(value, row, estimator)

    def value_key(self, value):
        wave, rate = value
        return digest(repr(("wave", int(rate))).encode() + wave.tobytes())

    def load(self):
        if self._bytes is None:
            return self.value
        sf = require("soundfile", "reading audio files")
        where = f"{self.row} ({self.value})"
        try:
            data, rate = sf.read(io.BytesIO(self._bytes), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{self.estimator}: {where} is not a readable audio file: {exc}"
            ) from exc
        wave = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
        _check_wave(wave, where, self.estimator)
        return wave, int(rate)


class SpeechItem:
    """One loaded clip -> the tensor of its windows (picklable, for data loaders)."""

    def __init__(self, preprocess):
        self.preprocess = preprocess

    def __call__(self, loaded):
        torch = require("torch")
        return torch.from_numpy(self.preprocess.item(loaded))


# ------------------------------------------------------------------ the baseline


class MFCCStats(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """MFCC statistics, the non-neural audio baseline: per clip, the mean and standard
    deviation over time of ``n_mfcc`` cepstral coefficients and of their deltas.

    The clip at 16 kHz, 40 log-mel bands (25 ms windows every 10 ms), the
    orthonormal DCT-II; ``4 * n_mfcc`` features.

    Parameters
    ----------
    n_mfcc : int, default=20
    sample_rate : int or None, default=None
        The rate of waveform rows (files carry their own).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0, 0.1, (2, 8000)).astype(np.float32)
    >>> MFCCStats(sample_rate=16000).fit_transform(X).shape
    (2, 80)
    """

    def __init__(self, n_mfcc=20, sample_rate=None):
        self.n_mfcc = n_mfcc
        self.sample_rate = sample_rate

    def fit(self, X, y=None):
        self._n_features_out = 4 * self.n_mfcc
        return self

    def transform(self, X):
        from scipy.fft import dct

        name = "MFCC baseline"
        modality = AudioModality()
        rows = modality.check_X(X, name, sample_rate=self.sample_rate)
        out = np.empty((len(rows), 4 * self.n_mfcc), dtype=np.float32)
        for i, sample in enumerate(modality.samples(rows, name)):
            wave, rate = sample.load()
            mfcc = dct(log_mel(resample(wave, rate, 16000)), type=2, norm="ortho", axis=1)
            mfcc = mfcc[:, : self.n_mfcc]
            delta = np.diff(mfcc, axis=0) if len(mfcc) > 1 else np.zeros_like(mfcc)
            out[i] = np.concatenate([mfcc.mean(0), mfcc.std(0), delta.mean(0), delta.std(0)])
        return out


# ------------------------------------------------------------------ the modality


class AudioModality(Modality):
    """Audio clips: paths, waveforms with a rate, or a pandas column of them; one clip per row.

    A float array ``(n_clips, n_samples)`` or a list of 1-D waveforms needs
    ``sample_rate``; ``(waveform, rate)`` pairs and ``{"array",
    "sampling_rate"}`` dicts carry their own. A row is one clip of any
    length (``n_features_in_`` is 1). Several channels are averaged
    to one; int16/int32 PCM samples are scaled to [-1, 1]. Missing files,
    empty, silent and non-finite clips and bad rates are errors naming the
    row; files that exist but do not decode are reported when they are read.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.modalities import get_modality
    >>> audio = get_modality("audio")
    >>> rows = audio.check_X(np.ones((2, 800), np.float32), "AudioEncoder", sample_rate=8000)
    >>> len(rows), rows.values[0][1]
    (2, 8000)
    >>> audio.check_X([np.zeros(800)], "AudioEncoder", sample_rate=8000)
    Traceback (most recent call last):
    ...
    ValueError: AudioEncoder: row 0 is silent (every one of its 800 samples is 0); a network cannot tell anything from it. Drop it, or check how it was recorded.
    """  # noqa: E501

    name = "audio"
    noun = "clips"
    input_tags = {"two_d_array": True}
    prefetch = True
    priority = 8
    options = DEFAULTS

    def check_X(self, X, estimator, sample_rate=None):
        values, index, names = _values(X, estimator)
        check_not_empty(values, estimator)
        if sample_rate is not None:
            sample_rate = _check_rate(sample_rate, "sample_rate", estimator)
        cells = [
            _cell(v, row_label(i, index), sample_rate, estimator) for i, v in enumerate(values)
        ]
        paths = [i for i, c in enumerate(cells) if not isinstance(c, tuple)]
        folders = [i for i in paths if os.path.isdir(cells[i])]
        if folders:
            raise ValueError(
                f"{estimator}: {len(folders)} row(s) name a folder, not an audio file: "
                + list_rows(folders, index, lambda p: str(cells[p]))
                + ". List the files inside it, e.g. sorted(Path(folder).glob('*.wav'))."
            )
        missing = [i for i in paths if not os.path.isfile(cells[i])]
        if missing:
            raise FileNotFoundError(
                f"{estimator}: {len(missing)} audio file(s) do not exist: "
                + list_rows(missing, index, lambda p: str(cells[p]))
                + "."
            )
        # One feature, a clip, whatever its length: a 2-D array is clips of equal length, and a
        # fitted estimator takes clips of any other length (scikit-learn would count samples).
        return Rows(cells, index, names, 1)

    def looks_like(self, X):
        values = X.iloc[:, 0] if hasattr(X, "columns") else X
        try:
            sample = list(values[:20])
        except TypeError:
            return False
        if not sample:
            return False
        if all(isinstance(v, (str, os.PathLike)) for v in sample):
            return all(Path(os.fspath(v)).suffix.lower() in SUFFIXES for v in sample)
        return all(
            (isinstance(v, dict) and "sampling_rate" in v)
            or (isinstance(v, tuple) and len(v) == 2 and np.ndim(v[0]) >= 1 and np.ndim(v[1]) == 0)
            for v in sample
        )

    def samples(self, rows, estimator):
        return [AudioSample(v, rows.row(i), estimator) for i, v in enumerate(rows.values)]

    def rows_in_memory(self, n_rows, batch_size):
        # Bounds the memory of decoded clips.
        return max(batch_size * 8, 256)

    def prepare(self, items, backbone):
        torch = require("torch")
        pre = backbone.preprocess
        return torch.from_numpy(pad_windows([pre.item(it) for it in items]))

    def dummy_batch(self, backbone):
        torch = require("torch")
        pre = backbone.preprocess
        noise = np.random.default_rng(0).normal(0, 0.05, pre.sample_rate * 2).astype(np.float32)
        return torch.from_numpy(pad_windows([pre.item((noise, pre.sample_rate))]))

    def item_transform(self, preprocess, augment):
        return SpeechItem(preprocess)

    def baseline(self, sample_rate=None, **options):
        from sklearn.preprocessing import StandardScaler

        return "MFCC statistics", [MFCCStats(sample_rate=sample_rate), StandardScaler()]
