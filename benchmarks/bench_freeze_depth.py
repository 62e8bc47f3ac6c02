"""Benchmark: accuracy against freeze depth (n_trainable_blocks), images and text.

Images: scikit-learn's handwritten digits (``load_digit_images``: 8x8 grey,
upsampled by the pipeline to 224x224 RGB), EfficientNet-Lite0 with the
shipped ImageNet weights, ``n_trainable_blocks`` in 0, 1, 2, "all", plus the
same architecture from scratch (``weights=None``, every block trained).
Text: Rotten Tomatoes critic snippets (``load_rotten_tomatoes``, fresh vs
rotten), all-MiniLM-L6-v2 (shipped), ``n_trainable_blocks`` in 0, 1, 2 (of 7
blocks: embeddings + 6 transformer layers).

Everything else is the estimators' defaults (AdamW, head lr 3e-3, blocks at
``backbone_lr_scale="auto"`` with layer decay 0.8, warm-up + cosine,
LP-FT ``head_init="probe"`` for pretrained k > 0, ``early_stopping="auto"``:
on for the 1,000 texts (100 validation samples, patience 3), off for the 250
images (25 would be too few)) except: ``augment=False``
(images; so that frozen blocks are cached and k = 0, 1, 2 are cheap),
``max_epochs`` fixed (default 5: "auto" would give 10+ epochs, which is
unaffordable on CPU for the uncached "all" and scratch runs), ``batch_size``
16 (more optimiser steps from few samples), ``device="cpu"``. The split is
fixed (stratified, random_state=0); each configuration is fitted with
``random_state`` = 0 (and more seeds with ``--seeds``).

Small subsets and few epochs to stay affordable on a 2-core CPU: the figures
compare freeze depths under the same small budget; they are not the best
accuracy each setting can reach.

BatchNorm: trainable blocks keep their pretrained running statistics
(``freeze_batchnorm="auto"``); from scratch they are estimated as usual.

Writes a table (``benchmarks/out/freeze_depth.md``) and a plot
(``benchmarks/freeze_depth.png`` by default).

Usage::

    python benchmarks/bench_freeze_depth.py            # images 250 train / 300 test, text 1000 /
    1000, 5 epochs
    python benchmarks/bench_freeze_depth.py --quick    # images 100 / 60, text 120 / 200, 2 epochs
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _finetune_common as common
import numpy as np

ROOT = Path(__file__).resolve().parent


def fit_score(make, Xtr, ytr, Xte, yte, seeds):
    accs, fits, preds, info = [], [], [], {}
    for seed in seeds:
        clf = make(seed)
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        fits.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        accs.append(float((clf.predict(Xte) == yte).mean()))
        preds.append(time.perf_counter() - t0)
        info = {
            "cached_blocks": int(clf.cached_blocks_),
            "epochs_run": len(clf.history_),
            "n_blocks": len(clf.block_names_),
            "early_stopping": bool(clf.early_stopping_),
        }
    return {"acc": accs, "fit_s": fits, "predict_s": preds, **info}


def majorities(a):
    """Majority-class rates of the two test sets of a run with arguments ``a``."""
    from sklearn.model_selection import train_test_split

    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes

    images, target = load_digit_images()
    yte = train_test_split(
        target,
        train_size=a["image_train"],
        test_size=a["image_test"],
        stratify=target,
        random_state=0,
    )[1]
    df = load_rotten_tomatoes()
    tyte = train_test_split(
        df["label"].to_numpy(),
        train_size=a["text_train"],
        test_size=a["text_test"],
        stratify=df["label"],
        random_state=0,
    )[1]
    return float(np.bincount(yte).max() / len(yte)), float(
        np.unique(tyte, return_counts=True)[1].max() / len(tyte)
    )


def make_plot(results, majority_img, majority_txt, image_train, text_train, epochs, path):
    """Two small panels (images, text): test accuracy against n_trainable_blocks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.3), dpi=90)
    for ax, task, chance in (
        (axes[0], "digits / efficientnet_lite0", majority_img),
        (axes[1], "rotten tomatoes / all-MiniLM-L6-v2", majority_txt),
    ):
        rs = [r for r in results if r["task"] == task]
        pre = [r for r in rs if r["weights"] is not None]
        xs = np.arange(len(pre))
        means = [100 * np.mean(r["acc"]) for r in pre]
        sds = [100 * np.std(r["acc"], ddof=1) if len(r["acc"]) > 1 else 0 for r in pre]
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, label="pretrained")
        for x, m in zip(xs, means):
            ax.annotate(
                f"{m:.1f}",
                (x, m),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
            )
        for r in rs:
            if r["weights"] is None:
                m = 100 * np.mean(r["acc"])
                ax.axhline(m, color="C3", ls="--", lw=1, label=f"scratch, all blocks ({m:.1f})")
        ax.axhline(
            100 * chance, color="grey", ls=":", lw=1, label=f"majority class ({100 * chance:.1f})"
        )
        ax.set_xticks(xs, [str(r["k"]) for r in pre])
        ax.set_xlabel("n_trainable_blocks")
        ax.set_ylabel("test accuracy (%)")
        n_tr = image_train if task.startswith("digits") else text_train
        ax.set_title(f"{task}\n{n_tr} train, max {epochs} epochs", fontsize=9)
        ax.legend(fontsize=6.5, loc="best")
        ax.margins(x=0.08, y=0.12)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"written {path} ({Path(path).stat().st_size / 1024:.0f} KiB)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--image-train", type=int, default=250)
    ap.add_argument("--image-test", type=int, default=300)
    ap.add_argument("--text-train", type=int, default=1000)
    ap.add_argument("--text-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--image-ks", default="0,1,2,all")
    ap.add_argument("--text-ks", default="0,1,2")
    ap.add_argument("--no-scratch", action="store_true")
    ap.add_argument(
        "--seeds", type=int, default=1, help="random_state 0..seeds-1 per configuration"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(common.OUT / "freeze_depth.md"))
    ap.add_argument("--plot", default=str(ROOT / "freeze_depth.png"))
    ap.add_argument(
        "--replot", metavar="JSON", help="only redraw the plot from a previous run's JSON"
    )
    args = ap.parse_args(argv)
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        a = saved["args"]
        if "majority_img" not in saved:
            saved["majority_img"], saved["majority_txt"] = majorities(a)
        make_plot(
            saved["results"],
            saved["majority_img"],
            saved["majority_txt"],
            a["image_train"],
            a["text_train"],
            a["epochs"],
            args.plot,
        )
        return
    if args.quick:
        args.image_train, args.image_test, args.text_train, args.text_test, args.epochs = (
            100,
            60,
            120,
            200,
            2,
        )
    common.setup(args.threads)

    from sklearn.model_selection import train_test_split

    from sktransfer import ImageClassifier, TextClassifier
    from sktransfer.backbones import get_backbone
    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes

    seeds = list(range(args.seeds))
    parse = lambda s: [v if v == "all" else int(v) for v in s.split(",") if v]  # noqa: E731
    common_kw = dict(max_epochs=args.epochs, batch_size=args.batch_size, device="cpu")
    load_before = common.load()
    results = []

    # ---- images
    images, target = load_digit_images()
    iXtr, iXte, iytr, iyte = train_test_split(
        images,
        target,
        train_size=args.image_train,
        test_size=args.image_test,
        stratify=target,
        random_state=0,
    )
    get_backbone("efficientnet_lite0", device="cpu")
    image_configs = [(k, "DEFAULT") for k in parse(args.image_ks)]
    if not args.no_scratch:
        image_configs.append(("all", None))
    for k, weights in image_configs:
        make = lambda seed, k=k, weights=weights: ImageClassifier(  # noqa: E731
            "efficientnet_lite0",
            weights=weights,
            n_trainable_blocks=k,
            augment=False,
            random_state=seed,
            **common_kw,
        )
        r = fit_score(make, iXtr, iytr, iXte, iyte, seeds)
        label = f"{k}" if weights else f"{k} (weights=None, scratch)"
        results.append(
            {"task": "digits / efficientnet_lite0", "k": k, "weights": weights, "label": label, **r}
        )
        print(
            f"image k={label}: acc {np.round(r['acc'], 3)} fit {np.round(r['fit_s'], 1)}s",
            flush=True,
        )

    # ---- text
    df = load_rotten_tomatoes()
    tXtr, tXte, tytr, tyte = train_test_split(
        df["text"].to_numpy(),
        df["label"].to_numpy(),
        train_size=args.text_train,
        test_size=args.text_test,
        stratify=df["label"],
        random_state=0,
    )
    get_backbone("all-MiniLM-L6-v2", device="cpu")
    for k in parse(args.text_ks):

        def make(seed, k=k):
            return TextClassifier(
                "all-MiniLM-L6-v2", n_trainable_blocks=k, random_state=seed, **common_kw
            )

        r = fit_score(make, list(tXtr), tytr, list(tXte), tyte, seeds)
        results.append(
            {
                "task": "rotten tomatoes / all-MiniLM-L6-v2",
                "k": k,
                "weights": "DEFAULT",
                "label": str(k),
                **r,
            }
        )
        print(f"text k={k}: acc {np.round(r['acc'], 3)} fit {np.round(r['fit_s'], 1)}s", flush=True)
    load_after = common.load()

    # ---- table
    rows = []
    for r in results:
        rows.append(
            [
                r["task"],
                r["label"],
                f"{r['cached_blocks']} of {r['n_blocks']}",
                r["epochs_run"],
                "on" if r["early_stopping"] else "off",
                common.mean_sd(r["acc"]),
                f"{np.mean(r['fit_s']):.1f} s",
                f"{np.mean(r['predict_s']):.1f} s",
            ]
        )
    header = [
        "task",
        "n_trainable_blocks",
        "cached_blocks_",
        "epochs run (last seed)",
        "early_stopping_",
        "test accuracy % (mean ± sd over seeds)" if len(seeds) > 1 else "test accuracy %",
        "fit time (incl. cache fill)",
        "predict time (test set)",
    ]
    cmd = "python benchmarks/bench_freeze_depth.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    majority_img = np.bincount(iyte).max() / len(iyte)
    _, counts = np.unique(tyte, return_counts=True)
    majority_txt = counts.max() / len(tyte)
    text = "\n".join(
        [
            "# Fine-tuning: accuracy against freeze depth",
            "",
            f"Command: `{cmd.strip()}`",
            "",
            f"Machine: {common.machine()}. 1/5/15-min load average {load_before} before and "
            f"{load_after} after (shared machine).",
            "",
            f"Versions: {common.versions_line()}",
            "",
            f"Images: digits, {args.image_train} train / {args.image_test} test (stratified "
            "split, random_state=0; "
            f"majority class {100 * majority_img:.1f} %). Text: rotten tomatoes, "
            f"{args.text_train} train / "
            f"{args.text_test} test (majority class {100 * majority_txt:.1f} %). "
            f"max_epochs={args.epochs}, "
            f'batch_size={args.batch_size}, early_stopping="auto", augment=False, '
            f"seeds {seeds}; everything else default.",
            "",
            common.md_table(header, rows),
            "",
        ]
    )
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "results": results,
                "majority_img": float(majority_img),
                "majority_txt": float(majority_txt),
            },
            indent=1,
            default=str,
        )
    )

    plot = Path(args.plot)
    make_plot(
        results, majority_img, majority_txt, args.image_train, args.text_train, args.epochs, plot
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
