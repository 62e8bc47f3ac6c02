"""Speech for the audio modality: an espeak-ng synthesiser with several voices, and real recordings.

:func:`make_speech` drives the espeak-ng shared library that the
``espeakng-loader`` wheel ships, through :mod:`ctypes`: no system install, no
audio device, no network. :func:`load_arctic` lists two real recordings of the
CMU ARCTIC corpus that ship with sktransfer.
"""

import atexit
import ctypes
import math
import os
import shutil
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from .._deps import require

# espeak-ng variants (files of espeak-ng-data/voices/!v) on four English
# accents, three low and three high, one through the Klatt synthesiser rather
# than espeak's own: they differ in pitch, in timbre (spectral centroid) or both.
VOICES = (
    "en-us+m1",
    "en-us+f2",
    "en+m3",
    "en-029+f5",
    "en-us+klatt",
    "en-gb-scotland+belinda",
)

SENTENCES = (
    "The old dog slept in the warm afternoon sun.",
    "Please close the window before the rain comes in.",
    "My sister bought a new bicycle last weekend.",
    "The train to the city leaves every hour.",
    "We planted tomatoes and beans in the garden.",
    "He forgot his keys on the kitchen table again.",
    "The children laughed at the clown in the park.",
    "Fresh bread smells wonderful early in the morning.",
    "She wrote a long letter to her grandmother.",
    "The river was cold and very clear today.",
    "Turn left at the bakery and walk two blocks.",
    "A small bird landed on the fence outside.",
    "They painted the front door a bright shade of blue.",
    "Our teacher read us a story about a brave fox.",
    "The coffee was too hot to drink right away.",
    "I found an old photograph inside the dusty book.",
    "The wind blew the leaves across the empty street.",
    "Can you help me carry these boxes upstairs?",
    "The museum opens at nine on most weekdays.",
    "He played a quiet song on the piano.",
    "We watched the boats sail slowly into the harbour.",
    "The soup needs a little more salt and pepper.",
    "Her phone rang twice during the long meeting.",
    "The mountain path was steep, narrow and rocky.",
    "Remember to water the plants while I am away.",
    "A gentle breeze moved through the tall green grass.",
    "The library is quiet in the late evening.",
    "My brother fixed the broken chair with some glue.",
    "Snow fell all night and covered the whole village.",
    "The market sells apples, pears and fresh honey.",
    "Nobody knew where the black cat had gone.",
    "The pilot announced that we would land soon.",
    "Let us meet by the fountain after lunch.",
    "The lamp in the hallway flickered and went out.",
    "She speaks three languages and is learning a fourth.",
    "The farmer fed the horses before sunrise.",
    "Thick clouds gathered over the hills by noon.",
    "Could you tell me the way to the station?",
    "The baby fell asleep in her father's arms.",
    "We shared a pizza and talked until midnight.",
)

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # else a missing data folder exit()s the Python process
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1

_RATES = (150, 191)  # words per minute, high end excluded
_PITCH_JITTER = 6  # around espeak's neutral 50 (of 0-99): about +/-8% in Hz
_KEEP_SILENCE_S = 0.05
_SILENCE_DB = -40.0  # below the clip's peak: what trimming counts as silence

_LOCK = threading.Lock()
_PRIVATE_COPY = {}

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def _private_library(library):
    """A copy of libespeak-ng that only this module loads (made once per process).

    The synthesiser keeps state in C statics that ``espeak_Terminate`` and
    ``espeak_Initialize`` leave alone (the pitch-flutter phase, the gain
    control, the glottal cycle count), so a clip would depend on every clip
    synthesised before it. A library unloaded and loaded again starts from its
    pristine statics, but only if nobody else holds it open: a package that
    loaded espeakng_loader's file (a phonemiser, say) would pin it. A copy
    under another path is a separate instance that is ours alone.
    """
    if library not in _PRIVATE_COPY:
        folder = tempfile.mkdtemp(prefix="sktransfer-espeak-")
        atexit.register(shutil.rmtree, folder, True)
        copy = os.path.join(folder, os.path.basename(library))
        shutil.copyfile(library, copy)
        try:
            _unload(ctypes.CDLL(copy))
        except OSError:
            # A temporary folder mounted noexec cannot map code: use the
            # original, deterministic as long as no other package holds it.
            copy = library
        _PRIVATE_COPY[library] = copy
    return _PRIVATE_COPY[library]


def _unload(lib):
    import _ctypes

    close = _ctypes.FreeLibrary if sys.platform == "win32" else _ctypes.dlclose
    close(lib._handle)


class _Espeak:
    """One freshly loaded, initialised libespeak-ng, unloaded on exit; callers hold ``_LOCK``."""

    def __init__(self, library, data):
        self.library, self.data = library, data

    def __enter__(self):
        lib = ctypes.CDLL(self.library)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lib = lib
        # espeak-ng accepts the data folder itself or its parent; NULL would
        # mean the path compiled into the wheel's build machine.
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(self.data), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            _unload(lib)
            raise RuntimeError(f"espeak-ng could not load its data from {self.data}.")
        self.chunks = []
        # Kept on self: ctypes frees the C thunk with its Python object.
        self.callback = _Callback(self._receive)
        lib.espeak_SetSynthCallback(self.callback)
        return self

    def __exit__(self, *exc_info):
        self.lib.espeak_Terminate()
        _unload(self.lib)
        self.lib = None

    def _receive(self, wav, n_samples, events):
        # A NULL buffer marks the end; n_samples may be 0 mid-stream.
        if wav and n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        return 0

    def set_voice(self, voice):
        """Select ``voice``; False if espeak-ng does not know its language."""
        return self.lib.espeak_SetVoiceByName(voice.encode()) == 0

    def speak(self, voice, text, *, rate, pitch, seed):
        """The int16 samples of ``text`` said by ``voice``."""
        if not self.set_voice(voice):
            raise ValueError(f"espeak-ng has no voice {voice!r}.")
        for parameter, value in ((_RATE, rate), (_VOLUME, 100), (_PITCH, pitch), (_RANGE, 50)):
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        if hasattr(self.lib, "espeak_ng_SetRandSeed"):  # breath noise; older builds lack it
            self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            self.lib.espeak_ng_SetRandSeed(int(seed))
        self.chunks = []
        encoded = text.encode("utf-8")
        status = self.lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        if status != 0 or not self.chunks:
            raise RuntimeError(f"espeak-ng failed to say {text!r} (status {status}).")
        return np.concatenate(self.chunks)


def _check_voices(voices, data):
    """Raise a ValueError for a voice espeak-ng would not (or would silently not) use."""
    for voice in voices:
        if not isinstance(voice, str) or not voice:
            raise ValueError(f"A voice is a non-empty str such as 'en-us+f2', got {voice!r}.")
        _, plus, variant = voice.partition("+")
        # espeak-ng ignores an unknown variant without an error.
        if plus and not Path(data, "voices", "!v", variant).is_file():
            raise ValueError(
                f"espeak-ng has no voice {voice!r}: no variant {variant!r} in {data}/voices/!v."
            )


def _trim(samples, sample_rate):
    """Set the silence at both ends to ``_KEEP_SILENCE_S``.

    espeak-ng leaves anywhere from 0 to 50 ms before the first sound and
    after the last, so the quiet ends are cut and zeros put back: every clip
    starts and ends the same way.
    """
    level = np.abs(samples.astype(np.int32))
    loud = np.flatnonzero(level > level.max() * 10 ** (_SILENCE_DB / 20))
    keep = int(round(_KEEP_SILENCE_S * sample_rate))
    return np.pad(samples[loud[0] : loud[-1] + 1], keep)


def make_speech(n_per_voice=8, voices=VOICES, *, sample_rate=16000, random_state=0):
    """Synthesise English sentences in several voices: a speaker-labelled speech set.

    Each voice is an espeak-ng voice and variant (accent, pitch, formants and,
    for some, the Klatt synthesiser); it is the "speaker" of its clips. For
    each voice, ``n_per_voice`` sentences of :data:`SENTENCES` are drawn without
    replacement and said at a jittered rate (150-190 words per minute) and
    pitch (espeak's 50 +/- 6, about 8% either way), so no two clips of a voice
    are alike. Each clip has 50 ms of silence at both ends. The same arguments
    give bit-identical waves: each clip comes from a freshly loaded
    synthesiser, so it does not depend on what was synthesised before.

    Needs the ``espeakng-loader`` package (``pip install "sktransfer[audio]"``),
    which ships espeak-ng (GPL-3.0) as a shared library.

    Parameters
    ----------
    n_per_voice : int, default=8
        Clips per voice, at most ``len(SENTENCES)`` (40).
    voices : sequence of str, default=VOICES
        espeak-ng voice names, ``"language+variant"``; the variant is a file of
        ``espeak-ng-data/voices/!v`` of the installed espeakng-loader.
    sample_rate : int, default=16000
        Rate of the returned waves; espeak-ng's 22,050 Hz is resampled with a
        polyphase filter.
    random_state : int, numpy.random.Generator or RandomState, default=0
        Draws the sentences, the rate and pitch of each clip, and the seed of
        espeak-ng's breath noise. None draws from numpy's global state.

    Returns
    -------
    waves : list of ndarray of shape (n_samples,), dtype float32
        One clip each, in [-1, 1], at ``sample_rate``; lengths differ.
    speakers : ndarray of str of shape (n_clips,)
        The voice of each clip, grouped by voice in the order of ``voices``.
    texts : ndarray of str of shape (n_clips,)
        The sentence each clip says.

    Examples
    --------
    >>> from sktransfer.datasets import make_speech
    >>> from sktransfer.datasets._speech import VOICES
    >>> waves, speakers, texts = make_speech(2, voices=VOICES[:2])
    >>> len(waves), waves[0].dtype, speakers.tolist()
    (4, dtype('float32'), ['en-us+m1', 'en-us+m1', 'en-us+f2', 'en-us+f2'])
    >>> all(1.0 < len(w) / 16000 < 5.0 for w in waves), texts[0] in texts[1:]
    (True, False)
    """
    from scipy.signal import resample_poly
    from sklearn.utils import check_random_state

    loader = require("espeakng_loader", "make_speech")
    if isinstance(voices, str):
        voices = (voices,)
    voices = tuple(voices)
    if not voices:
        raise ValueError("voices is empty.")
    if (
        not isinstance(n_per_voice, (int, np.integer))
        or isinstance(n_per_voice, bool)
        or not 1 <= n_per_voice <= len(SENTENCES)
    ):
        raise ValueError(
            f"n_per_voice must be an int from 1 to {len(SENTENCES)} (the number of "
            f"sentences, drawn without replacement), got {n_per_voice!r}."
        )
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
        raise ValueError(f"sample_rate must be an int >= 1000 (Hz), got {sample_rate!r}.")
    data = loader.get_data_path()
    _check_voices(voices, data)

    if isinstance(random_state, np.random.Generator):
        rng, integers = random_state, random_state.integers
    else:
        rng = check_random_state(random_state)
        integers = rng.randint
    # Everything random is drawn before synthesis, voice by voice, so a clip's
    # draw depends only on the arguments.
    plan = []
    for voice in voices:
        which = rng.choice(len(SENTENCES), n_per_voice, replace=False)
        rates = integers(*_RATES, size=n_per_voice)
        pitches = 50 + integers(-_PITCH_JITTER, _PITCH_JITTER + 1, size=n_per_voice)
        seeds = integers(1, 2**31 - 1, size=n_per_voice)
        plan += [(voice, SENTENCES[i], r, p, s) for i, r, p, s in zip(which, rates, pitches, seeds)]

    library = loader.get_library_path()
    raw = []
    with _LOCK:
        library = _private_library(library)
        # One engine checks every language first, so a bad voice fails fast.
        with _Espeak(library, data) as engine:
            unknown = [v for v in voices if not engine.set_voice(v)]
        if unknown:
            raise ValueError(f"espeak-ng has no voice {unknown[0]!r}.")
        for voice, text, rate, pitch, seed in plan:
            with _Espeak(library, data) as engine:
                samples = engine.speak(voice, text, rate=rate, pitch=pitch, seed=seed)
                native = engine.sample_rate
            raw.append(_trim(samples, native))

    common = math.gcd(int(sample_rate), native)
    up, down = int(sample_rate) // common, native // common
    waves = []
    for samples in raw:
        wave = samples / 32768.0
        if up != down:
            wave = resample_poly(wave, up, down)
        waves.append(np.clip(wave, -1.0, 1.0).astype(np.float32))
    speakers = np.array([voice for voice, *_ in plan], dtype=str)
    texts = np.array([text for _, text, *_ in plan], dtype=str)
    return waves, speakers, texts


def load_arctic():
    """Two real recordings from CMU ARCTIC, by two speakers, as file paths.

    ``arctic_a0007.wav`` (4.0 s, the Scottish English male speaker "awb") and
    ``arctic_a0009.wav`` (3.1 s, the US English female speaker "slt"): 16 kHz,
    16-bit mono WAV files that ship with sktransfer (CMU's free-for-any-use
    licence; see ``datasets/data/README.md``). Real speech next to
    :func:`make_speech`'s synthetic voices.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (absolute path of the WAV file, str), ``speaker``
        (``"awb"``, ``"slt"``) and ``utterance`` (``"arctic_a0007"``, ``"arctic_a0009"``).

    Examples
    --------
    >>> import os
    >>> from sktransfer.datasets import load_arctic
    >>> df = load_arctic()
    >>> df[["speaker", "utterance"]].values.tolist()
    [['awb', 'arctic_a0007'], ['slt', 'arctic_a0009']]
    >>> all(os.path.isabs(p) and os.path.isfile(p) for p in df["path"])
    True
    """
    import pandas as pd

    utterances = ["arctic_a0007", "arctic_a0009"]
    folder = resources.files(__package__).joinpath("data")
    paths = [str(Path(os.fspath(folder.joinpath(f"{u}.wav"))).resolve()) for u in utterances]
    return pd.DataFrame({"path": paths, "speaker": ["awb", "slt"], "utterance": utterances})
