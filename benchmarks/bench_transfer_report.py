"""Benchmark: what ``transfer_report`` costs, against one fine-tuning fit on the same texts.

The case from issue "Fine-tuning that wins on data it was not tuned on": 600
short texts in 4 classes, ``cv=3``, on CPU. The texts are 150 sentences from
each of the four kinds of text of ``load_sentiment_snippets`` (Amazon
reviews, film reviews, New York Times editorials, tweets); the class is the
kind of text.

Measured in one process, the cache emptied (``clear_cache()``) before each:

1. one default ``TextClassifier(n_trainable_blocks=2, random_state=0).fit``
   on the 600 texts;
2. ``transfer_report(X, y, "all-MiniLM-L6-v2", cv=3)`` with its defaults
   (frozen features + linear, fine-tuned, scratch, TF-IDF baseline).

Targets: the report costs at most 3x the one fit, and at most 5 minutes.
Reported: both wall times, the ratio, each approach's mean fit time per
fold and its scores.

Run: ``python benchmarks/bench_transfer_report.py`` (about 5 minutes on 2 cores).
"""

import argparse
import json
import time

import _finetune_common as common
import numpy as np


def data(per_class=150):
    from sktransfer.datasets import load_sentiment_snippets

    df = load_sentiment_snippets()
    df = df.groupby("domain").sample(per_class, random_state=0).sample(frac=1, random_state=0)
    return df["text"].tolist(), df["domain"].to_numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=150)
    args = parser.parse_args()
    common.setup(args.threads)
    import warnings

    from sktransfer import TextClassifier, clear_cache
    from sktransfer.selection import transfer_report

    X, y = data(args.per_class)
    print(f"{len(X)} texts ({np.mean([len(t) for t in X]):.0f} characters on average), 4 classes")

    clear_cache()
    start = time.perf_counter()
    clf = TextClassifier(n_trainable_blocks=2, random_state=0).fit(X, y)
    one_fit = time.perf_counter() - start
    print(f"one fit: {one_fit:.1f} s, {len(clf.history_)} of {clf.max_epochs_} epochs")

    clear_cache()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = transfer_report(X, y, "all-MiniLM-L6-v2", cv=3)
    wall = time.perf_counter() - start
    print(report[["mean", "std", "fit_time_s"]].round(3).to_string())

    print()
    print(f"Machine: {common.machine()}; load {common.load()}")
    print(common.versions_line())
    rows = [
        (name, f"{r['mean']:.3f} ± {r['std']:.3f}", f"{r['fit_time_s']:.1f}")
        for name, r in report.iterrows()
    ]
    print(common.md_table(["approach", "accuracy (3 folds)", "fit s per fold"], rows))
    print(
        f"one TextClassifier(n_trainable_blocks=2).fit: {one_fit:.0f} s; transfer_report cv=3: "
        f"{wall:.0f} s; ratio {wall / one_fit:.2f}x (target <= 3x, and <= 300 s)"
    )
    print(report.attrs["verdict"])
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "transfer_report_cost.json").write_text(
        json.dumps(
            {
                "one_fit_s": one_fit,
                "report_s": wall,
                "report": report.drop(columns="fold_scores").reset_index().to_dict("records"),
            },
            indent=1,
            default=float,
        )
    )


if __name__ == "__main__":
    main()
