"""Benchmark: the fine-tuners' defaults on a panel of real data sets, against the linear probe.

Every set is one that ships with the project or its dependencies, none of
which the defaults were tuned on alone:

images (EfficientNet-Lite0, the shipped ImageNet weights)
    ``digits``: scikit-learn's handwritten 8x8 digits, 10 classes, grey;
    ``printed digits``: ``load_printed_digits`` (21 fonts, rendered), grey;
    ``digits on photos``: ``load_digits_on_photos`` (MNIST-M recipe), colour;
    ``faces``: scikit-image's ``lfw_subset`` (100 faces, 100 non-faces, 25x25 grey).
texts (all-MiniLM-L6-v2, the shipped copy)
    ``rotten tomatoes``: fresh vs rotten critic snippets;
    ``sentiment snippets``: positive / neutral / negative sentences of the
    four kinds of text of ``load_sentiment_snippets``;
    ``tweets``: its tweets only, the same three classes.

For each set, one stratified train/test split (``--train`` rows to train,
at most ``--test`` to test; faces: 100 / 100) and, on it: the probe
(``n_trainable_blocks=0``) and fine-tuning with ``n_trainable_blocks`` 1, 2
and "all", every other parameter at its default, ``random_state=seed``.
``--augment true|false`` sets every image fit's ``augment`` (default: the
estimators' default, "auto"); ``--depths 1`` fits only k=1; with
``--augmented-probe``, also the probe on augmented images (``augment=True``).
Reported: test accuracy, fit time, and for fine-tuning whether the probe
floor kept the probe (``fine_tuning_helped_``); "best - probe" is over k=1,
2 and "all" at the defaults.

Run: ``python benchmarks/bench_finetune_panel.py`` (hours on 2 cores);
``--only texts`` or ``--only images``, ``--sets digits,faces`` for some sets;
``--quick`` for a smoke run; ``--device cuda --workers 8`` on a GPU machine
(workers build the augmented training images in parallel).
"""

import argparse
import json
import time
import warnings

import _finetune_common as common
import numpy as np

DEPTHS = (0, 1, 2, "all")
#: With --augmented-probe: the probe on augmented images (the default before augment="auto").
AUGMENTED_PROBE = "0, augment=True"


def image_sets():
    from skimage.data import lfw_subset

    from sktransfer.datasets import load_digit_images, load_digits_on_photos, load_printed_digits

    images, target = load_digit_images()
    yield "digits", images, target
    images, target = load_printed_digits(n_per_class=100)
    yield "printed digits", images, target
    images, target = load_digits_on_photos()
    yield "digits on photos", images, target
    faces = lfw_subset()
    yield "faces", (faces * 255).round().astype(np.uint8), np.repeat([1, 0], 100)


def text_sets():
    from sktransfer.datasets import load_rotten_tomatoes, load_sentiment_snippets

    rt = load_rotten_tomatoes()
    yield "rotten tomatoes", rt["text"].tolist(), rt["label"].to_numpy()
    snippets = load_sentiment_snippets()
    yield "sentiment snippets", snippets["text"].tolist(), snippets["label"].to_numpy()
    tweets = load_sentiment_snippets("tweets")
    yield "tweets", tweets["text"].tolist(), tweets["label"].to_numpy()


def split(y, n_train, n_test, seed):
    from sklearn.model_selection import train_test_split

    n_train = min(n_train, len(y) // 2)
    n_test = min(n_test, len(y) - n_train)
    rows = np.arange(len(y))
    train, rest = train_test_split(rows, train_size=n_train, stratify=y, random_state=seed)
    test = (
        rest
        if n_test == len(rest)
        else train_test_split(rest, train_size=n_test, stratify=y[rest], random_state=seed)[0]
    )
    return train, test


def take(X, rows):
    return X[rows] if isinstance(X, np.ndarray) else [X[i] for i in rows]


def run_set(name, X, y, estimator, args, model):
    from sktransfer import clear_cache

    train, test = split(y, args.train, args.test, args.seed)
    out = {"n_train": len(train), "n_test": len(test), "fits": {}}
    image = estimator.__name__.startswith("Image")
    options = {"augment": args.augment} if image and args.augment != "auto" else {}
    configs = [(str(d), d, options) for d in args.depths]
    if image and args.augmented_probe:
        configs.append((AUGMENTED_PROBE, 0, {"augment": True}))
    for label, depth, options in configs:
        clear_cache()
        extra = (
            {
                "iterator_train__num_workers": args.workers,
                "iterator_train__persistent_workers": True,
            }
            if args.workers
            else {}
        )
        est = estimator(
            model=model,
            n_trainable_blocks=depth,
            random_state=args.seed,
            device=args.device,
            **extra,
            **options,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(take(X, train), y[train])
        fit_s = time.perf_counter() - start
        acc = float((est.predict(take(X, test)) == y[test]).mean())
        out["fits"][label] = {
            "accuracy": acc,
            "fit_s": fit_s,
            "helped": est.fine_tuning_helped_,
            "epochs": len(est.history_),
            "max_epochs": est.max_epochs_,
            "validation_scores": est.validation_scores_,
        }
        print(name, label, json.dumps(out["fits"][label]), flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["images", "texts"])
    parser.add_argument("--sets", help="comma-separated names: only these sets")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (default: auto)")
    parser.add_argument(
        "--workers", type=int, default=0, help="DataLoader worker processes for training batches"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--depths", default="0,1,2,all", help="comma-separated n_trainable_blocks to fit"
    )
    parser.add_argument(
        "--augment",
        default="auto",
        type=lambda v: {"true": True, "false": False}.get(v.lower(), v),
        help='images: the augment parameter of every fit (default: "auto", the default)',
    )
    parser.add_argument(
        "--augmented-probe",
        action="store_true",
        help="images: also the probe on augmented images (slow: the whole network every epoch)",
    )
    args = parser.parse_args()
    if args.quick:
        args.train, args.test = 60, 60
    args.depths = [d if d == "all" else int(d) for d in args.depths.split(",")]
    common.setup(args.threads)
    from sktransfer import ImageClassifier, TextClassifier

    wanted = None if args.sets is None else set(args.sets.split(","))
    results = {}
    if args.only != "texts":
        for name, X, y in image_sets():
            if wanted is None or name in wanted:
                results[name] = run_set(name, X, y, ImageClassifier, args, "efficientnet_lite0")
    if args.only != "images":
        for name, X, y in text_sets():
            if wanted is None or name in wanted:
                results[name] = run_set(name, X, y, TextClassifier, args, "all-MiniLM-L6-v2")

    print()
    print(f"Machine: {common.machine()}; load {common.load()}")
    print(common.versions_line())
    rows, gains = [], []
    for name, r in results.items():
        fits = r["fits"]
        probe = fits.get("0", {}).get("accuracy")
        cells = [name, f"{r['n_train']} / {r['n_test']}"]
        for d in [*DEPTHS, AUGMENTED_PROBE]:
            f = fits.get(str(d))
            kept = "" if f is None or f["helped"] is not False else " (probe kept)"
            cells.append(
                "-" if f is None else f"{100 * f['accuracy']:.1f}{kept}, {f['fit_s']:.0f} s"
            )
        tuned = [fits[str(d)]["accuracy"] for d in DEPTHS[1:] if str(d) in fits]
        if probe is not None and tuned:
            gains.append(max(tuned) - probe)
        cells.append(f"{100 * gains[-1]:+.1f}" if probe is not None and tuned else "-")
        rows.append(cells)
    header = ["set", "train / test", "probe", "k=1", "k=2", '"all"', AUGMENTED_PROBE]
    print(common.md_table(header + ["best - probe"], rows))
    if gains:
        print(f"median gain of the best depth over the probe: {100 * np.median(gains):+.1f} points")
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "finetune_panel.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
