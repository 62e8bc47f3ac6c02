"""Benchmark: time-series transfer on UCR targets with few labels, side by side in one run.

Source: an FCN (Wang et al. 2017) trained from scratch on three UCR sets that
are not targets, pooled into one 27-class problem (OSULeaf 6 classes, ACSF1
10, PLAID 11; 1,716 series, each resampled to 256 points), saved with
``save_backbone``: the protocol of Ismail Fawaz et al. (2018), with a pooled
source instead of one set per target. The source sets come from the sktime
1.2.0 wheel, fetched with ``pip download`` into ``benchmarks/out`` (no data
is downloaded at run time otherwise).

Targets (shipped with sktransfer, the archive's own train/test split):
GunPoint (50 train series), ItalyPowerDemand (67), ArrowHead (36),
BasicMotions (40, 6 channels). Approaches, all at their defaults but the
ones named:

- ``FCN source, probe``: the source network frozen, a new head (k=0);
- ``FCN source, all``: every block fine-tuned from the source weights;
- ``FCN source, all, lr 1``: the same, with the blocks at the head's learning
  rate (``backbone_lr_scale=1.0``, as scratch trains them; "auto" gives
  pretrained blocks 0.03 of it): weight initialisation as Ismail Fawaz et
  al. fine-tuned;
- ``FCN scratch, all``: the same architecture and training, ``weights=None``;
- ``Fracast, probe``: the shipped Fracast-0 core frozen, a new head;
- ``MiniRocket + ridge``: sktransfer's numpy MiniRocket (9,996 features),
  scaled, RidgeClassifierCV (alphas 1e-3..1e3), as in the MiniRocket paper.

Reported: test accuracy (mean over ``--seeds``) and fit + predict time.

``--per-class 5`` trains every approach on 5 series per class of the train
split, a new draw per seed (few labels).

Run: ``python benchmarks/bench_timeseries.py`` (about 16 min on 2 cores);
``--seeds 0`` for one seed; ``--approaches "A;B"`` for some of them (no
plot then); ``--quick`` for a smoke run. Writes
``benchmarks/timeseries_transfer.png`` and ``benchmarks/out/timeseries.json``.
"""

import argparse
import json
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "out"
TARGETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")
SOURCES = ("OSULeaf", "ACSF1", "PLAID")
APPROACHES = (
    "FCN source, probe",
    "FCN source, all",
    "FCN source, all, lr 1",
    "FCN scratch, all",
    "Fracast, probe",
    "MiniRocket + ridge",
)


def source_series(length=256):
    """The source sets from the sktime wheel, resampled to ``length`` points, labels prefixed."""
    from sktransfer.datasets import read_ts

    wheels = OUT / "wheels"
    found = sorted(wheels.glob("sktime-1.2.0-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "sktime==1.2.0", "-d"]
            + [str(wheels)],
            check=True,
        )
        found = sorted(wheels.glob("sktime-1.2.0-*.whl"))
    X, y = [], []
    with zipfile.ZipFile(found[0]) as wheel:
        for name in SOURCES:
            for split in ("TRAIN", "TEST"):
                path = f"sktime/datasets/data/{name}/{name}_{split}.ts"
                lines = wheel.read(path).decode("utf-8").splitlines()
                series, labels, _ = read_ts(lines, source=path)
                for s, label in zip(series, labels):
                    s = s[0][np.isfinite(s[0])]
                    t = np.linspace(0, len(s) - 1, length)
                    X.append(np.interp(t, np.arange(len(s)), s))
                    y.append(f"{name}:{label}")
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=object)


def pretrain(folder, quick):
    from sktransfer import TimeSeriesClassifier

    if (folder / "sktransfer_backbone.json").is_file():
        return None
    X, y = source_series()
    if quick:
        keep = np.random.default_rng(0).permutation(len(y))[:300]
        X, y = X[keep], y[keep]
    start = time.perf_counter()
    clf = TimeSeriesClassifier(
        model="fcn",
        weights=None,
        n_trainable_blocks="all",
        max_epochs=2 if quick else 40,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    clf.save_backbone(folder)
    return {
        "rows": len(y),
        "classes": len(set(y)),
        "seconds": round(time.perf_counter() - start, 1),
        "epochs": len(clf.history_),
        "validation_accuracy": clf.history_[-1].get("valid_acc"),
    }


def make(approach, folder, seed, quick):
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sktransfer import TimeSeriesClassifier
    from sktransfer.modalities.minirocket import MiniRocket

    fit = dict(device="cpu", random_state=seed)
    if quick:
        fit["max_epochs"] = 2
    if approach == "FCN source, probe":
        return TimeSeriesClassifier(model=str(folder), **fit)
    if approach == "FCN source, all":
        return TimeSeriesClassifier(model=str(folder), n_trainable_blocks="all", **fit)
    if approach == "FCN source, all, lr 1":
        return TimeSeriesClassifier(
            model=str(folder), n_trainable_blocks="all", backbone_lr_scale=1.0, **fit
        )
    if approach == "FCN scratch, all":
        return TimeSeriesClassifier(model="fcn", weights=None, n_trainable_blocks="all", **fit)
    if approach == "Fracast, probe":
        return TimeSeriesClassifier(model="fracast", **fit)
    return make_pipeline(
        MiniRocket(random_state=seed),
        StandardScaler(with_mean=False),
        RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)),
    )


def few(y, per_class, seed):
    """Rows of ``per_class`` series per class (all rows when None), drawn with ``seed``."""
    if per_class is None:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    return np.sort(
        np.concatenate(
            [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
        )
    )


def plot(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(APPROACHES)
    for i, approach in enumerate(APPROACHES):
        accs = [results[t][approach]["accuracy"] for t in TARGETS]
        ax.bar(np.arange(len(TARGETS)) + i * width, accs, width, label=approach)
    ax.set_xticks(np.arange(len(TARGETS)) + 0.4 - width / 2, TARGETS)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="train on this many series per class of the train split (a new draw per seed)",
    )
    parser.add_argument(
        "--approaches",
        default=";".join(APPROACHES),
        help="a ';'-separated subset of: " + "; ".join(APPROACHES),
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    approaches = [a for a in APPROACHES if a in args.approaches.split(";")]
    warnings.filterwarnings("ignore")
    from sktransfer.datasets import load_ucr

    OUT.mkdir(exist_ok=True)
    folder = OUT / ("fcn-source-quick" if args.quick else "fcn-source")
    source = pretrain(folder, args.quick)
    print("source:", source or f"reused {folder}", flush=True)
    results = {}
    for target in TARGETS:
        X, y = load_ucr(target, split="train")
        Xt, yt = load_ucr(target, split="test")
        if args.quick:
            Xt, yt = Xt[:40], yt[:40]
        results[target] = {}
        for approach in approaches:
            accs, times = [], []
            for seed in seeds:
                model = make(approach, folder, seed, args.quick)
                rows = few(y, args.per_class, seed)
                start = time.perf_counter()
                accs.append(model.fit(X[rows], y[rows]).score(Xt, yt))
                times.append(time.perf_counter() - start)
            results[target][approach] = {
                "accuracy": float(np.mean(accs)),
                "accuracies": [round(a, 4) for a in accs],
                "seconds": round(float(np.mean(times)), 1),
            }
            print(
                f"{target:17s} {approach:20s} {np.mean(accs):.3f}  {np.mean(times):6.1f}s",
                flush=True,
            )
    suffix = "" if args.per_class is None else f"_{args.per_class}_per_class"
    suffix += "" if approaches == list(APPROACHES) else "_subset"
    (OUT / f"timeseries{suffix}.json").write_text(
        json.dumps({"source": source, "results": results}, indent=1)
    )
    header = "| target | " + " | ".join(approaches) + " |"
    print("\n" + header + "\n|" + "---|" * (len(approaches) + 1))
    for target in TARGETS:
        cells = [
            f"{100 * results[target][a]['accuracy']:.1f} ({results[target][a]['seconds']:.0f} s)"
            for a in approaches
        ]
        print(f"| {target} | " + " | ".join(cells) + " |")
    title = (
        "UCR targets, the archive's train split (36-67 series)"
        if args.per_class is None
        else f"UCR targets, {args.per_class} training series per class"
    )
    name = "timeseries_quick" if args.quick else f"timeseries_transfer{suffix}"
    if approaches == list(APPROACHES):  # a subset leaves the full run's plot alone
        plot(results, Path(__file__).parent / f"{name}.png", title)


if __name__ == "__main__":
    main()
