"""Regenerate ``ge2e_reference.npz``: reference outputs of the real Resemblyzer GE2E encoder.

This script is NOT part of the test suite and is not importable from it: it is run
once, by hand, in a separate virtual environment that has ``resemblyzer`` (0.1.4,
Apache-2.0; the weights are ``pretrained.pt`` inside its wheel) installed::

    python3 -m venv /tmp/rzvenv && . /tmp/rzvenv/bin/activate
    pip install --upgrade pip
    pip install resemblyzer soundfile "setuptools<81"   # webrtcvad 2.0.10 imports pkg_resources
    python tests/data/make_ge2e_reference.py            # run from the repository root

It writes ``tests/data/ge2e_reference.npz`` (next to this file) with, for each
``<utt>`` in ``a0007``, ``a0009`` (CMU ARCTIC clips in sktransfer/datasets/data):

* ``<utt>_embed``       (256,)       float32  embed_utterance(normalize_volume(wav, -30,
                                               increase_only=True))
* ``<utt>_partials``    (P, 256)     float32  the partial embeddings of that call
* ``<utt>_mel``         (frames, 40) float32  wav_to_mel_spectrogram of the same (unpadded) wave
* ``<utt>_full_embed``  (256,)       float32  embed_utterance(preprocess_wav(path)) (librosa load +
                                               resample + volume norm + webrtcvad silence trimming)
* ``<utt>_mel_slices``  (P, 2)       int64    [start, stop) mel-frame ranges of the partials
* ``<utt>_n_samples``   ()           int64    len(normalized wave) before padding
* ``<utt>_padded_len``  ()           int64    length after embed_utterance's zero padding

The wave is read with ``soundfile.read(path, dtype="float32")`` (16 kHz mono, no
resampling) and no VAD trimming is applied for the ``_embed``/``_partials``/``_mel`` keys.
"""

import inspect
import json
from pathlib import Path

import librosa
import numpy as np
import soundfile
import torch
from resemblyzer import VoiceEncoder, preprocess_wav
from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram

torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "sktransfer" / "datasets" / "data"
OUT = HERE / "ge2e_reference.npz"
UTTS = ("a0007", "a0009")


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    enc = VoiceEncoder("cpu", verbose=False)
    enc.eval()
    out, info = {}, {"librosa": librosa.__version__, "torch": torch.__version__}
    for utt in UTTS:
        path = DATA / f"arctic_{utt}.wav"
        wav, sr = soundfile.read(str(path), dtype="float32")
        assert sr == 16000 and wav.ndim == 1, (sr, wav.shape)
        w = normalize_volume(wav, -30, increase_only=True)
        embed, partials, wav_slices = enc.embed_utterance(w, return_partials=True)
        _, mel_slices = enc.compute_partial_slices(len(w), 1.3, 0.75)
        mel = wav_to_mel_spectrogram(w)
        full = enc.embed_utterance(preprocess_wav(path))

        out[f"{utt}_embed"] = np.asarray(embed, np.float32)
        out[f"{utt}_partials"] = np.asarray(partials, np.float32)
        out[f"{utt}_mel"] = np.asarray(mel, np.float32)
        out[f"{utt}_full_embed"] = np.asarray(full, np.float32)
        out[f"{utt}_mel_slices"] = np.array([[s.start, s.stop] for s in mel_slices], np.int64)
        padded_len = max(len(w), wav_slices[-1].stop)
        out[f"{utt}_n_samples"] = np.int64(len(w))
        out[f"{utt}_padded_len"] = np.int64(padded_len)

        # the mel embed_utterance actually fed the LSTM is from the zero-padded wave
        w_pad = np.pad(w, (0, padded_len - len(w)), "constant")
        mel_pad = wav_to_mel_spectrogram(w_pad)
        n = mel.shape[0]
        same = [i for i in range(n) if np.array_equal(mel[i], mel_pad[i])]
        info[utt] = {
            "in_dtype": str(w.dtype),
            "n_samples": len(w),
            "padded_len": int(padded_len),
            "padded": bool(padded_len > len(w)),
            "mel_slices": [[int(s.start), int(s.stop)] for s in mel_slices],
            "wav_slices": [[int(s.start), int(s.stop)] for s in wav_slices],
            "mel_frames": int(n),
            "mel_pad_frames": int(mel_pad.shape[0]),
            "mel_vs_padded_identical_prefix": int(next((i for i in range(n) if i not in same), n)),
            "mel_vs_padded_max_rel_diff": float(
                np.max(np.abs(mel - mel_pad[:n])) / np.max(np.abs(mel))
            ),
            "cos_embed_full": cos(embed, full),
            "partials_norms": np.linalg.norm(partials, axis=1).round(6).tolist(),
        }
    info["cos_a0007_a0009_embed"] = cos(out["a0007_embed"], out["a0009_embed"])
    info["cos_a0007_a0009_full"] = cos(out["a0007_full_embed"], out["a0009_full_embed"])
    info["melspectrogram_sig"] = str(inspect.signature(librosa.feature.melspectrogram))
    info["stft_sig"] = str(inspect.signature(librosa.stft))
    info["filters_mel_sig"] = str(inspect.signature(librosa.filters.mel))

    np.savez_compressed(OUT, **out)
    print(json.dumps(info, indent=1))
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
