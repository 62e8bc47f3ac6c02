"""Benchmark: chained transfer from your own source task, and SimCLR on unlabelled target images.

Task: scikit-learn's handwritten digits blended onto photo patches
(``sktransfer.datasets.load_digits_on_photos``, the MNIST-M recipe, 32x32).
The *source task* is digits 0-4 with labels (``--n-source`` images); the
*target task* is digits 5-9 with few labels (``--per-class`` per class, drawn
per seed) and a fixed test set of the remaining 5-9 images. The unlabelled
pool for SimCLR is the target images that are not in the test set.

Contenders (every one ends in the same probe: ``LogisticRegression(max_iter=2000)``
on standardised features of the target's few labelled images):

ImageNet features
    ``ImageEncoder("efficientnet_lite0")``: the shipped ImageNet weights, frozen.
fine-tuned on the source, k=2 (chained)
    ``ImageClassifier("efficientnet_lite0", n_trainable_blocks=2, augment=False,
    random_state=0)`` fitted on the source task (defaults otherwise), then
    ``save_backbone(path)`` and ``ImageEncoder(model=path)`` on the target.
SimCLR on unlabelled target images
    ``continue_pretraining("efficientnet_lite0", pool, method="simclr",
    random_state=0)`` (defaults: top 2 blocks, 4 cached views, batch 64,
    ~200 steps), then ``ImageEncoder(model=path)``.
raw pixels
    The non-neural baseline (32x32 RGB pixels).

Reported: target test accuracy, mean ± sd over seeds, and the wall time of
the transfer step (source fine-tune, or SimCLR).

Usage::

    python benchmarks/bench_chained_transfer.py            # 500 source, 5 & 20 per class, 3 seeds
    python benchmarks/bench_chained_transfer.py --quick    # 200 source, 5 per class, 1 seed
"""

import argparse
import sys
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer import ImageClassifier, ImageEncoder
from sktransfer.datasets import load_digits_on_photos
from sktransfer.modalities.image import Pixels
from sktransfer.pretrain import continue_pretraining


def probe(features_train, y_train, features_test, y_test):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return clf.fit(features_train, y_train).score(features_test, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-source", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=400)
    args = parser.parse_args()
    n_source = 200 if args.quick else args.n_source
    shots = [5] if args.quick else [5, 20]
    seeds = [0] if args.quick else [0, 1, 2]
    print("command: python " + " ".join(sys.argv))

    images, digits = load_digits_on_photos(size=32)
    rng = np.random.default_rng(0)
    src_rows = rng.permutation(np.flatnonzero(digits < 5))[:n_source]
    tgt_rows = rng.permutation(np.flatnonzero(digits >= 5))
    test_rows, pool_rows = tgt_rows[: args.n_test], tgt_rows[args.n_test :]
    print(
        f"source: {len(src_rows)} images of digits 0-4; target: digits 5-9, pool "
        f"{len(pool_rows)} (unlabelled for SimCLR, few labels drawn from it), test {len(test_rows)}"
    )

    timings, paths = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        src = ImageClassifier(
            "efficientnet_lite0", n_trainable_blocks=2, augment=False, random_state=0
        ).fit(images[src_rows], digits[src_rows])
        paths["fine-tuned on the source, k=2 (chained)"] = src.save_backbone(f"{folder}/src")
        timings["fine-tuned on the source, k=2 (chained)"] = time.perf_counter() - t
        t = time.perf_counter()
        paths["SimCLR on unlabelled target images"] = continue_pretraining(
            "efficientnet_lite0",
            images[pool_rows],
            method="simclr",
            output_dir=f"{folder}/simclr",
            random_state=0,
            verbose=False,
        )
        timings["SimCLR on unlabelled target images"] = time.perf_counter() - t

        every = np.concatenate([pool_rows, test_rows])
        features = {
            "ImageNet features": ImageEncoder("efficientnet_lite0").fit_transform(images[every])
        }
        for name, path in paths.items():
            features[name] = ImageEncoder(model=str(path)).fit_transform(images[every])
        features["raw pixels"] = Pixels().fit_transform(images[every])

    where = {row: i for i, row in enumerate(every)}
    test_idx = [where[r] for r in test_rows]
    results = {name: {k: [] for k in shots} for name in features}
    for seed in seeds:
        pick = np.random.default_rng(seed)
        for k in shots:
            train = []
            for c in range(5, 10):
                rows = pool_rows[digits[pool_rows] == c]
                train += list(pick.choice(rows, k, replace=False))
            train_idx = [where[r] for r in train]
            for name, F in features.items():
                results[name][k].append(
                    probe(F[train_idx], digits[train], F[test_idx], digits[test_rows])
                )

    header = "| features of the target images | " + " | ".join(f"{k} labels/class" for k in shots)
    print("\n" + header + " | transfer step time |")
    print("|---" * (len(shots) + 2) + "|")
    for name, by_k in results.items():
        cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in by_k.values()]
        took = f"{timings[name]:.0f} s" if name in timings else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {took} |")


if __name__ == "__main__":
    main()
