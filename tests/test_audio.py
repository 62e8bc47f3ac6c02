"""The audio modality, resemblyzer's GE2E speaker encoder and the audio estimators, on real
recordings (CMU ARCTIC, shipped) and espeak-ng speech (make_speech)."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sktransfer import AudioClassifier, AudioEncoder
from sktransfer.backbones import get_backbone
from sktransfer.backbones.testing import TINY_AUDIO
from sktransfer.datasets import load_arctic, make_speech
from sktransfer.modalities import get_modality, infer_modality
from sktransfer.modalities.audio import MFCCStats, mel_filterbank, power_spectrogram

REFERENCE = Path(__file__).parent / "data" / "ge2e_reference.npz"
UTTERANCES = ("a0007", "a0009")


@pytest.fixture(scope="module")
def arctic():
    """The two real clips: paths, and their (wave, rate) as soundfile reads them."""
    paths = list(load_arctic()["path"])
    return paths, [sf.read(p, dtype="float32") for p in paths]


@pytest.fixture(scope="module")
def speech():
    """Four espeak-ng voices, 4 clips each, at 16 kHz."""
    waves, speakers, _ = make_speech(4, voices=("en-us+m1", "en-us+f2", "en+m3", "en-029+f5"))
    return waves, speakers


# ----------------------------------------------------------------------- the network


def test_ge2e_reproduces_resemblyzers_own_embeddings(arctic):
    """Against embed_utterance of the resemblyzer package (tests/data/make_ge2e_reference.py):
    the numpy mel spectrogram, the windows and the LSTM split into blocks."""
    ref = np.load(REFERENCE)
    backbone = get_backbone("resemblyzer-ge2e")
    _, loaded = arctic
    for utt, clip in zip(UTTERANCES, loaded):
        windows = backbone.preprocess.item(clip)
        starts = ref[f"{utt}_mel_slices"][:, 0]
        assert len(windows) == len(starts)
        mel = ref[f"{utt}_mel"]
        for w, s in zip(windows, starts):
            n = min(160, len(mel) - s)  # the reference mel is of the unpadded wave
            np.testing.assert_allclose(w[:n, :-1], mel[s : s + n], rtol=1e-4, atol=1e-6)
        embedding = backbone.embed(backbone.prepare([clip]))[0]
        np.testing.assert_allclose(embedding, ref[f"{utt}_embed"], atol=1e-5)
        # resemblyzer's full pipeline also trims silences (webrtcvad), which sktransfer does not.
        assert embedding @ ref[f"{utt}_full_embed"] > 0.98


def test_the_mel_filterbank_is_librosas():
    """Slaney-scale, area-normalised filters: each filter's weights integrate to 2 / bandwidth,
    and the spectrogram's frames are centred with zero padding (librosa's defaults)."""
    fb = mel_filterbank(16000, 400, 40)
    assert fb.shape == (40, 201) and (fb.sum(axis=1) > 0).all()
    peaks = np.fft.rfftfreq(400, 1 / 16000)[fb.argmax(axis=1)]
    assert np.all(np.diff(peaks) > 0) and peaks[0] < 100 and peaks[-1] > 7000
    wave = np.sin(2 * np.pi * 1000 * np.arange(1600) / 16000).astype(np.float32)
    spec = power_spectrogram(wave, 400, 160)
    assert spec.shape == (11, 201)  # 1 + 1600 // 160 centred frames
    assert spec[5].argmax() == 25  # 1 kHz is bin 25 of a 400-point FFT at 16 kHz


def test_the_embedding_tells_two_real_speakers_apart(arctic):
    """awb (male) and slt (female): each real clip is nearer its own voice cut in two halves."""
    _, loaded = arctic
    halves, who = [], []
    for k, (wave, rate) in enumerate(loaded):
        half = len(wave) // 2
        halves += [(wave[:half], rate), (wave[half:], rate)]
        who += [k, k]
    Z = AudioEncoder(device="cpu").fit_transform(halves)
    sim = Z @ Z.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3]
    assert sim[2, 3] > sim[2, 0] and sim[2, 3] > sim[2, 1]


def test_layers_and_the_scratch_network(arctic):
    paths, _ = arctic
    enc = AudioEncoder(layer="lstm2", device="cpu").fit(paths)
    Z = enc.transform(paths)
    assert Z.shape == (2, 256) and enc.layer_ == 1
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    scratch = AudioEncoder(weights=None, device="cpu").fit_transform(paths)
    pretrained = AudioEncoder(device="cpu").fit_transform(paths)
    assert not np.allclose(scratch, pretrained)
    np.testing.assert_array_equal(scratch, AudioEncoder(weights=None).fit_transform(paths))


def test_a_trained_top_starts_from_cached_window_states(arctic):
    """The frozen blocks' per-window outputs, cached ragged (a clip's real windows, with the
    flag column), go through the blocks above them to the same features as the whole network."""
    from sktransfer.backbones.ge2e import collate_windows

    _, loaded = arctic
    backbone = get_backbone("resemblyzer-ge2e")
    batch = backbone.prepare([loaded[0], (loaded[1][0][:20000], loaded[1][1])])
    assert batch.shape[1] > 2  # the short clip is padded with windows flagged 0
    net = backbone.net
    with torch.no_grad():
        whole = net(torch.as_tensor(batch))
        for start in (1, 2, 3):
            states = net.block_output(torch.as_tensor(batch), start - 1)
            assert [len(s) for s in states] == [int(f.sum()) for f in batch[:, :, 0, -1]]
            frames = 1 if start == 3 else 160  # the projection reads the last frame alone
            assert states[0].shape[1:] == (frames, 256 + 1)
            top = net.transfer_net(start, torch.nn.Identity(), 0)
            x, _ = collate_windows([(s.numpy(), 0) for s in states])
            np.testing.assert_allclose(top(x).numpy(), whole.numpy(), atol=1e-5)


# ----------------------------------------------------------------------- input forms


def test_every_input_form_gives_the_same_features(arctic, tmp_path):
    paths, loaded = arctic
    wave, rate = loaded[1]
    enc = AudioEncoder(sample_rate=rate, device="cpu").fit(paths)
    expected = enc.transform(paths[1:])[0]
    pcm = (np.clip(wave, -1, 1 - 2**-15) * 2**15).astype(np.int16)
    flac = tmp_path / "clip.flac"
    sf.write(flac, wave, rate, subtype="PCM_16")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([wave, wave], axis=1), rate, subtype="PCM_16")
    forms = {
        "Path": [Path(paths[1])],
        "waveform list": [wave],
        "2-D array": wave[None, :],
        "pair": [(wave, rate)],
        "Hugging Face dict": [{"array": wave, "sampling_rate": rate, "path": None}],
        "int16 PCM": [pcm],
        "Series": pd.Series([paths[1]], index=["x"]),
        "DataFrame": pd.DataFrame({"clip": [paths[1]]}),
        "FLAC (lossless)": [str(flac)],
        "stereo file": [str(stereo)],
    }
    for name, X in forms.items():
        np.testing.assert_allclose(enc.transform(X)[0], expected, atol=1e-5, err_msg=name)


def test_other_rates_and_lossy_files_are_resampled_and_decoded(arctic, tmp_path):
    paths, loaded = arctic
    wave, rate = loaded[0]
    enc = AudioEncoder(device="cpu").fit(paths)
    expected = enc.transform(paths[:1])[0]
    from scipy.signal import resample_poly

    at_44k = resample_poly(wave, 441, 160).astype(np.float32)
    ogg = tmp_path / "clip.ogg"
    sf.write(ogg, wave, rate, format="OGG", subtype="VORBIS")
    for name, X in {"44.1 kHz": [(at_44k, 44100)], "OGG/Vorbis": [str(ogg)]}.items():
        assert enc.transform(X)[0] @ expected > 0.97, name


def test_infer_modality_knows_audio_files_and_pairs(arctic):
    paths, loaded = arctic
    assert infer_modality(paths) == "audio"
    assert infer_modality([loaded[0]]) == "audio"
    assert infer_modality(pd.DataFrame({"a": [{"array": loaded[0][0], "sampling_rate": 16000}]}))


@pytest.mark.parametrize(
    "X, kwargs, error, match",
    [
        (["/no/such/clip.wav"], {}, FileNotFoundError, r"row 0: /no/such/clip\.wav"),
        ([np.ones(800, np.float32)], {}, ValueError, r"row 0 is a waveform without a sample rate"),
        ([np.zeros(800)], {"sample_rate": 8000}, ValueError, r"row 0 is silent"),
        ([np.ones(9), np.ones(0)], {"sample_rate": 8000}, ValueError, r"row 1 is an empty clip"),
        ([np.ones(9), np.r_[1.0, np.nan]], {"sample_rate": 8000}, ValueError, r"row 1 holds 1 NaN"),
        ([(np.ones(9), 0)], {}, ValueError, r"row 0 has sample rate 0"),
        ([(np.ones(9), 22050.5)], {}, ValueError, r"row 0 has sample rate 22050\.5"),
        ([np.ones(9), None], {"sample_rate": 8000}, TypeError, r"row 1 is NoneType.*\(missing\)"),
        ([{"audio": 1}], {}, TypeError, r"row 0 is a dict with keys \['audio'\]"),
        ([np.ones((2, 3, 4))], {"sample_rate": 8000}, ValueError, r"row 0 has shape \(2, 3, 4\)"),
        ([np.array([1, 70000])], {"sample_rate": 8000}, ValueError, "outside 16-bit PCM"),
        (np.ones(5), {"sample_rate": 8000}, ValueError, r"numeric array of shape \(5,\)"),
    ],
)
def test_bad_input_names_the_row(X, kwargs, error, match):
    with pytest.raises(error, match=match):
        get_modality("audio").check_X(X, "AudioEncoder", **kwargs)


def test_file_errors_name_the_row_and_the_file(arctic, tmp_path):
    paths, _ = arctic
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, np.float32), 16000)
    enc = AudioEncoder(model=TINY_AUDIO, device="cpu", cache=False).fit(paths)
    with pytest.raises(ValueError, match=r"row 1 \(.*corrupt\.wav\) is not a readable audio file"):
        enc.transform([paths[0], str(corrupt)])
    with pytest.raises(ValueError, match=r"row 0 \(.*silent\.wav\) is silent"):
        enc.transform([str(silent)])
    with pytest.raises(ValueError, match=r"1 row\(s\) name a folder"):
        enc.transform([str(tmp_path)])
    with pytest.raises(ValueError, match=r"index 'b'"):
        enc.transform(pd.Series([paths[0], str(corrupt)], index=["a", "b"]))


def test_features_are_cached_by_content(arctic, tmp_path):
    paths, _ = arctic
    enc = AudioEncoder(device="cpu").fit(paths)
    enc.transform(paths)
    backbone = get_backbone("resemblyzer-ge2e", device="cpu")
    before = backbone.n_forwarded
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(Path(paths[0]).read_bytes())
    np.testing.assert_array_equal(enc.transform([str(copy)]), enc.transform(paths[:1]))
    assert backbone.n_forwarded == before


# ----------------------------------------------------------------------- estimators


def test_speaker_identification_beats_chance_by_far_with_two_clips_each(speech):
    waves, speakers = speech
    train = np.r_[0:2, 4:6, 8:10, 12:14]
    test = np.setdiff1d(np.arange(16), train)
    pick = lambda idx: [waves[i] for i in idx]  # noqa: E731
    probe = make_pipeline(AudioEncoder(sample_rate=16000, device="cpu"), LogisticRegression())
    probe.fit(pick(train), speakers[train])
    assert probe.score(pick(test), speakers[test]) >= 0.875
    mfcc = make_pipeline(MFCCStats(sample_rate=16000), LogisticRegression(max_iter=2000))
    assert mfcc.fit(pick(train), speakers[train]).score(pick(test), speakers[test]) >= 0.5


def test_the_classifier_fine_tunes_the_top_block(speech, tmp_path):
    waves, speakers = speech
    clf = AudioClassifier(
        sample_rate=16000, n_trainable_blocks=1, max_epochs=3, device="cpu", random_state=0
    ).fit(waves, speakers)
    # lstm1-3 never train: their last states per window come from the cache once.
    assert clf.cached_blocks_ == 3
    assert clf.predict(waves).shape == (16,) and set(clf.classes_) == set(speakers)
    assert (clf.predict(waves) == speakers).mean() >= 0.75
    proba = pickle.loads(pickle.dumps(clf)).predict_proba(waves[:3])
    np.testing.assert_allclose(proba, clf.predict_proba(waves[:3]), atol=1e-6)
    # The saved network is the pretrained one with the trained projection on top.
    saved = get_backbone(str(clf.save_backbone(tmp_path / "speakers"))).net.blocks
    pretrained = get_backbone("resemblyzer-ge2e").net.blocks
    same = [
        all(torch.equal(a, b) for a, b in zip(s.parameters(), p.parameters()))
        for s, p in zip(saved, pretrained)
    ]
    assert same == [True, True, True, False]


def test_grid_search_over_freeze_depth_on_the_tiny_network(speech):
    waves, speakers = speech
    base = AudioClassifier(
        model=TINY_AUDIO, sample_rate=16000, max_epochs=2, device="cpu", random_state=0
    )
    search = GridSearchCV(base, {"n_trainable_blocks": [0, 1, "all"]}, cv=2).fit(waves, speakers)
    assert len(search.cv_results_["mean_test_score"]) == 3
    assert clone(base).get_params()["sample_rate"] == 16000


def test_domain_adaptation_with_sample_domain(speech):
    """Source clips labelled, target clips (the same voices, quieter and noisier) unlabelled."""
    waves, speakers = speech
    rng = np.random.default_rng(0)
    target = [0.3 * w + rng.normal(0, 0.01, len(w)).astype(np.float32) for w in waves[::2]]
    X = list(waves) + target
    y = np.r_[speakers, np.full(len(target), "-1", dtype=object)]
    domain = np.r_[np.ones(len(waves), int), -2 * np.ones(len(target), int)]
    clf = AudioClassifier(
        model=TINY_AUDIO,
        sample_rate=16000,
        n_trainable_blocks=1,
        domain_loss="deepcoral",
        max_epochs=2,
        device="cpu",
        random_state=0,
    ).fit(X, y, sample_domain=domain)
    assert clf.domain_rows_ == (16, 8) and clf.predict(target).shape == (8,)


def test_rank_encoders_and_transfer_report_on_audio(speech):
    from sktransfer.selection import NegativeTransferWarning, rank_encoders, transfer_report

    waves, speakers = speech
    pairs = [(w, 16000) for w in waves]
    table = rank_encoders(pairs, speakers, encoders=["resemblyzer-ge2e", TINY_AUDIO])
    assert list(table["encoder"])[0] == "resemblyzer-ge2e"
    # A random tiny network loses to MFCC statistics, and the report says so; sample_rate in
    # fine_tune_params reaches the encoder and the baseline, which read the waveform rows.
    with pytest.warns(NegativeTransferWarning, match="MFCC"):
        report = transfer_report(
            waves,
            speakers,
            model=TINY_AUDIO,
            cv=2,
            fine_tune_params={"n_trainable_blocks": 1, "max_epochs": 2, "sample_rate": 16000},
            random_state=0,
        )
    assert report.loc["baseline: MFCC statistics + linear model", "mean"] >= 0.5


def test_the_zoo_lists_the_speech_encoder_with_true_facts():
    from sktransfer import zoo

    table = zoo.list_models(modality="audio")
    row = table.set_index("name").loc["resemblyzer-ge2e"]
    backbone = get_backbone("resemblyzer-ge2e")
    assert row["params"] == sum(p.numel() for p in backbone.net.parameters())
    assert row["output_dim"] == backbone.output_dim() and row["n_blocks"] == backbone.n_blocks
    assert bool(row["available_offline"]) and row["licence"] == "Apache-2.0"
