"""Speech data: make_speech's espeak-ng voices and the vendored CMU ARCTIC recordings."""

import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sktransfer.datasets import load_arctic, make_speech
from sktransfer.datasets._speech import SENTENCES, VOICES

pytest.importorskip("espeakng_loader")

RATE = 16000


@pytest.fixture(scope="module")
def speech():
    return make_speech(8)


def median_f0(wave, sr=RATE):
    """Median pitch (Hz) of the clearly voiced 40 ms frames, by autocorrelation."""
    n = int(0.04 * sr)
    lo, hi = sr // 400, sr // 60
    found = []
    for start in range(0, len(wave) - n, n // 2):
        frame = wave[start : start + n] - wave[start : start + n].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            found.append(sr / lag)
    return float(np.median(found))


def spectral_centroid(wave, sr=RATE):
    power = np.abs(np.fft.rfft(wave)) ** 2
    return float((power * np.fft.rfftfreq(len(wave), 1 / sr)).sum() / power.sum())


def test_sentences_are_short_and_distinct():
    assert len(SENTENCES) == len(set(SENTENCES)) >= 30
    assert all(6 <= len(s.split()) <= 12 for s in SENTENCES)
    assert len(VOICES) == len(set(VOICES)) >= 5


def test_shapes_dtypes_labels_and_durations(speech):
    waves, speakers, texts = speech
    assert len(waves) == len(speakers) == len(texts) == 8 * len(VOICES)
    assert speakers.tolist() == [v for v in VOICES for _ in range(8)]
    assert speakers.dtype.kind == texts.dtype.kind == "U"
    for voice in VOICES:
        said = texts[speakers == voice]
        assert len(set(said)) == 8 and set(said) <= set(SENTENCES)
    for wave in waves:
        assert wave.ndim == 1 and wave.dtype == np.float32
        assert np.all(np.isfinite(wave)) and np.abs(wave).max() <= 1.0
        assert np.abs(wave).max() > 0.1  # speech, not silence
        assert 0.8 < len(wave) / RATE < 6.0


def test_fifty_ms_of_silence_at_both_ends(speech):
    for wave in speech[0]:
        level = np.abs(wave) / np.abs(wave).max()
        # silent (under -40 dB) for 45 ms, sound within 60 ms of each end; the
        # margins allow for the resampling filter, which blurs the edges
        assert level[: int(0.045 * RATE)].max() < 0.01
        assert level[-int(0.045 * RATE) :].max() < 0.01
        assert level[: int(0.06 * RATE)].max() > 0.005
        assert level[-int(0.06 * RATE) :].max() > 0.005


def test_voices_differ_in_pitch_or_timbre(speech):
    waves, speakers, _ = speech
    f0 = {v: np.mean([median_f0(w) for w, s in zip(waves, speakers) if s == v]) for v in VOICES}
    centroid = {
        v: np.mean([spectral_centroid(w) for w, s in zip(waves, speakers) if s == v])
        for v in VOICES
    }
    assert all(80 < f < 120 or 170 < f < 260 for f in f0.values()), f0
    for a, b in itertools.combinations(VOICES, 2):
        d_f0 = abs(f0[a] - f0[b]) / min(f0[a], f0[b])
        d_centroid = abs(centroid[a] - centroid[b]) / min(centroid[a], centroid[b])
        assert max(d_f0, d_centroid) > 0.08, (a, b, f0, centroid)


def test_same_seed_same_waves_whatever_came_before():
    first = make_speech(3, voices=VOICES[:2], random_state=1)
    make_speech(2, voices=VOICES[2:], random_state=7)  # other clips in between
    again = make_speech(3, voices=VOICES[:2], random_state=1)
    assert first[1].tolist() == again[1].tolist() and first[2].tolist() == again[2].tolist()
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0]))
    # a clip does not depend on the voices synthesised before it either
    alone = make_speech(3, voices=VOICES[:1], random_state=1)
    assert all(np.array_equal(a, b) for a, b in zip(first[0][:3], alone[0]))


def test_generator_random_state():
    one = make_speech(2, voices=VOICES[:1], random_state=np.random.default_rng(3))
    two = make_speech(2, voices=VOICES[:1], random_state=np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(one[0], two[0]))


def test_other_seed_other_rate_and_pitch_for_the_same_sentence():
    # all 40 sentences each time, so the same sentence can be compared across seeds
    a_waves, _, a_texts = make_speech(len(SENTENCES), voices=VOICES[:1], random_state=0)
    b_waves, _, b_texts = make_speech(len(SENTENCES), voices=VOICES[:1], random_state=1)
    assert a_texts.tolist() != b_texts.tolist() and set(a_texts) == set(b_texts)
    b_by_text = dict(zip(b_texts, b_waves))
    lengths = [(len(a), len(b_by_text[t])) for a, t in zip(a_waves, a_texts)]
    # the rate jitter (150-190 wpm) changes most durations by more than 2%
    changed = [abs(a - b) / a > 0.02 for a, b in lengths]
    assert np.mean(changed) > 0.5


def test_sample_rate_is_honoured():
    at_16k = make_speech(1, voices=VOICES[:1], random_state=0)[0][0]
    native = make_speech(1, voices=VOICES[:1], random_state=0, sample_rate=22050)[0][0]
    at_8k = make_speech(1, voices=VOICES[:1], random_state=0, sample_rate=8000)[0][0]
    assert abs(len(native) * 16000 / 22050 - len(at_16k)) <= 1
    assert abs(len(native) * 8000 / 22050 - len(at_8k)) <= 1


def test_threads_share_the_synthesiser_safely():
    expected = make_speech(2, voices=VOICES[:2], random_state=4)[0]
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(lambda _: make_speech(2, voices=VOICES[:2], random_state=4)[0], [0, 1])
        )
    for waves in runs:
        assert all(np.array_equal(a, b) for a, b in zip(expected, waves))


@pytest.mark.parametrize("voice", ["en-us+nosuch", "xx-nowhere+f2", "xx-nowhere"])
def test_unknown_voice(voice):
    with pytest.raises(ValueError, match=f"no voice '{voice.replace('+', '[+]')}'"):
        make_speech(1, voices=["en-us+f2", voice])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_per_voice must be an int from 1 to 40"):
        make_speech(len(SENTENCES) + 1)
    with pytest.raises(ValueError, match="n_per_voice"):
        make_speech(0)
    with pytest.raises(ValueError, match="sample_rate"):
        make_speech(1, sample_rate=16000.0)


def test_missing_espeakng_loader_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(
        ImportError, match=r"make_speech needs .*espeakng_loader.*pip install espeakng-loader"
    ):
        make_speech(1)


def test_load_arctic_is_real_16k_speech():
    sf = pytest.importorskip("soundfile")
    df = load_arctic()
    assert list(df.columns) == ["path", "speaker", "utterance"]
    assert df["speaker"].tolist() == ["awb", "slt"]
    assert df["utterance"].tolist() == ["arctic_a0007", "arctic_a0009"]
    durations = []
    for path in df["path"]:
        assert isinstance(path, str) and os.path.isabs(path) and os.path.isfile(path)
        wave, sr = sf.read(path, dtype="float32")
        assert sr == 16000 and wave.ndim == 1
        assert 0.05 < np.abs(wave).max() <= 1.0
        durations.append(len(wave) / sr)
    assert durations == pytest.approx([4.0, 3.1], abs=0.1)
