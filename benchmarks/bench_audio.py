"""Benchmark: speaker identification with resemblyzer's GE2E encoder against MFCC statistics.

Speakers are the six espeak-ng voices of ``sktransfer.datasets.make_speech``
(``--per-voice`` clips each, 16 kHz, seed 0; sentences drawn per voice).
With ``k`` = 1, 2 and 5 labelled clips per speaker (stratified, seeds 0-4),
the rest is the test set, under two conditions: ``clean``, and ``noisy``,
where every clip gets white noise at 10 dB SNR (seeded) and a random gain
(0.1-1), a recording shift that speaker embeddings are meant to survive.

Approaches (each a logistic regression, C=1, on standardised features):
- ``GE2E probe``: ``AudioEncoder()`` (resemblyzer's pretrained GE2E LSTM);
- ``GE2E scratch``: ``AudioEncoder(weights=None)``, the same network untrained;
- ``MFCC statistics``: the mean and standard deviation of 20 MFCCs and of
  their deltas (``MFCCStats``), the issue's baseline;
- ``AudioClassifier k=1``: the top block (the projection) fine-tuned with
  the head (LP-FT, 20 epochs), at k=5 and on seeds 0-2.

Also reported: encoding throughput (clips/s, no cache) of GE2E and MFCC.

``--fit-cost`` only times ``AudioClassifier`` fits on the 30 clips of the
k=5 split (seed 0, clean): the top 1 and 2 blocks at 20 epochs and the top
block at ``max_epochs="auto"``, each after clearing the in-memory cache. Run it
with another checkout first on ``PYTHONPATH`` to compare two versions in
one run.

Run: ``python benchmarks/bench_audio.py`` (about 5 min on 2 cores).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEEDS = range(5)


def noisy(waves, seed):
    rng = np.random.default_rng(seed)
    out = []
    for w in waves:
        power = np.mean(w.astype(np.float64) ** 2)
        noise = rng.normal(0, np.sqrt(power / 10), len(w))
        out.append((rng.uniform(0.1, 1.0) * (w + noise)).astype(np.float32))
    return out


def fit_cost(waves, speakers):
    import sktransfer
    from sktransfer import AudioClassifier, clear_cache

    split = StratifiedShuffleSplit(1, train_size=30, random_state=0)
    train, test = next(split.split(np.zeros(len(waves)), speakers))
    X, y = [waves[i] for i in train], speakers[train]
    print("sktransfer at", sktransfer.__file__)
    for k, epochs in ((1, 20), (2, 20), (1, "auto")):
        clear_cache()
        start = time.perf_counter()
        clf = AudioClassifier(
            sample_rate=16000,
            n_trainable_blocks=k,
            max_epochs=epochs,
            device="cpu",
            random_state=0,
        ).fit(X, y)
        seconds = time.perf_counter() - start
        accuracy = clf.score([waves[i] for i in test], speakers[test])
        print(
            f"n_trainable_blocks={k} max_epochs={epochs}: {seconds:.1f} s "
            f"({clf.max_epochs_} epochs), test accuracy {100 * accuracy:.1f} %",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-voice", type=int, default=12)
    parser.add_argument("--fit-cost", action="store_true", help="only time the fine-tuning")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import torch

    from sktransfer import AudioClassifier, AudioEncoder
    from sktransfer.datasets import make_speech
    from sktransfer.modalities.audio import MFCCStats

    torch.set_num_threads(2)
    waves, speakers, _ = make_speech(args.per_voice)
    conditions = {"clean": waves, "noisy": noisy(waves, 0)}
    n = len(waves)
    print(
        f"{n} clips, {len(set(speakers))} speakers, "
        f"{np.mean([len(w) for w in waves]) / 16000:.2f} s on average"
    )

    if args.fit_cost:
        return fit_cost(waves, speakers)

    def encoders():
        return {
            "GE2E probe": lambda: AudioEncoder(sample_rate=16000, device="cpu"),
            "GE2E scratch": lambda: AudioEncoder(sample_rate=16000, weights=None, device="cpu"),
            "MFCC statistics": lambda: MFCCStats(sample_rate=16000),
        }

    # Throughput: transform without the cache, after one call that loads the model.
    for name, make in encoders().items():
        if name == "GE2E scratch":
            continue
        enc = make()
        if hasattr(enc, "cache"):
            enc.set_params(cache=False)
        enc.fit(waves[:2]).transform(waves[:2])
        start = time.perf_counter()
        enc.transform(waves)
        print(f"throughput {name}: {n / (time.perf_counter() - start):.1f} clips/s")

    rows = []
    for cond, X in conditions.items():
        # Features once per condition (the encoders are frozen): the splits reuse them.
        feats, times = {}, {}
        for name, make in encoders().items():
            start = time.perf_counter()
            feats[name] = make().fit(X).transform(X)
            times[name] = time.perf_counter() - start
        for k in (1, 2, 5):
            scores = {name: [] for name in [*feats, "AudioClassifier k=1"]}
            for seed in SEEDS:
                split = StratifiedShuffleSplit(1, train_size=k * 6, random_state=seed)
                train, test = next(split.split(np.zeros(n), speakers))
                for name, F in feats.items():
                    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
                    model.fit(F[train], speakers[train])
                    scores[name].append(model.score(F[test], speakers[test]))
                if k == 5 and seed < 3:
                    start = time.perf_counter()
                    clf = AudioClassifier(
                        sample_rate=16000,
                        n_trainable_blocks=1,
                        max_epochs=20,
                        device="cpu",
                        random_state=seed,
                    ).fit([X[i] for i in train], speakers[train])
                    times.setdefault("AudioClassifier k=1", []).append(time.perf_counter() - start)
                    scores["AudioClassifier k=1"].append(
                        clf.score([X[i] for i in test], speakers[test])
                    )
            for name, s in scores.items():
                if s:
                    rows.append((cond, k, name, 100 * np.mean(s), 100 * np.std(s)))
                    print(
                        f"{cond:6s} k={k} {name:22s} {100 * np.mean(s):5.1f} ± "
                        f"{100 * np.std(s):4.1f}",
                        flush=True,
                    )
        print(
            f"{cond}: feature time (all {n} clips) "
            + ", ".join(f"{k} {np.mean(v):.1f} s" for k, v in times.items())
        )

    print(
        "\n| condition | labelled clips per speaker | "
        + " | ".join(dict.fromkeys(r[2] for r in rows))
        + " |"
    )
    print("|---" * (2 + len(dict.fromkeys(r[2] for r in rows))) + "|")
    for cond in conditions:
        for k in (1, 2, 5):
            cells = {r[2]: f"{r[3]:.1f} ± {r[4]:.1f}" for r in rows if r[0] == cond and r[1] == k}
            names = dict.fromkeys(r[2] for r in rows)
            print(f"| {cond} | {k} | " + " | ".join(cells.get(m, "-") for m in names) + " |")


if __name__ == "__main__":
    main()
