"""Benchmark: rank_encoders against brute-force fine-tuning; score/probe agreement (Kendall tau).

Part 1 (speed, top-1): for each task, the same candidates are
(a) ranked by ``rank_encoders`` (one frozen embedding per candidate, LogME
and three other scores), and (b) each fine-tuned with the package's own
fine-tuning estimator (``n_trainable_blocks="all"``):

- one fit per candidate on the training split, scored on a held-out test
  split: the cheapest brute force there is, and one that needs labelled
  data beyond the rows rank_encoders sees;
- with ``--brute-cv K``, also K-fold cross-validation of each candidate on
  the training split alone (``cross_val_score``, the same folds for every
  candidate, early stopping as in that candidate's single fit): what
  choosing by fine-tuning costs with only the labelled rows that
  rank_encoders uses, as a scikit-learn user compares models
  (``GridSearchCV(clf, {"model": [...]}, refit=False)`` does the same fits).

Each side starts from an empty feature cache, so the brute force pays for
the frozen features its probe head needs instead of reusing rank_encoders'.
Networks are loaded before any side is timed. Reported: each time, the
ratios, and whether each picks the same best candidate.

Text fine-tuning uses the estimator's defaults (``max_epochs="auto"``, early
stopping). Image fine-tuning uses ``max_epochs=10`` and ``augment=False`` by
default (so a CPU can afford it); ``--epochs auto`` runs the estimator's
defaults instead (about 60 epochs on 150 images, augmentation on).

- images: scikit-learn digits (``load_digit_images``), 150 train / 300 test;
  EfficientNet-Lite0 with ImageNet weights, EfficientNet-Lite0 with random
  weights, MobileNet-V3-small with random weights.
- text: Rotten Tomatoes, 500 train / 500 test; all-MiniLM-L6-v2, the same
  architecture with random weights, sktransfer's tiny test network.

Part 2 (agreement): Kendall tau between each score and the 5-fold
cross-validated accuracy of a standardised logistic regression on the same
frozen features (the "linear probe"), over several feature sets per task:
EfficientNet-Lite0 blocks 2, 4, 6, 7 and its pooled output, plus random
networks, on scikit-image's LFW subset (faces vs non-faces, 200 images) and
on digits (200 images); three text encoders on 300 review snippets.

Usage::

    python benchmarks/bench_rank_encoders.py            # both parts (~25 min on 2 CPU cores)
    python benchmarks/bench_rank_encoders.py --quick    # small sizes, 1 epoch
    python benchmarks/bench_rank_encoders.py --part speed --tasks text --brute-cv 5   # ~15 min
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _finetune_common as common
import numpy as np


def brute_force(candidates, make, Xtr, ytr, Xte, yte):
    """One fine-tune per candidate on the training split, scored on the test split."""
    import sktransfer

    sktransfer.clear_cache()
    out = []
    for label, kwargs in candidates:
        t0 = time.perf_counter()
        clf = make(**kwargs).fit(Xtr, ytr)
        acc = float((clf.predict(Xte) == np.asarray(yte)).mean())
        out.append(
            {
                "candidate": label,
                "fine_tuned_acc": acc,
                "seconds": time.perf_counter() - t0,
                "early_stopping": bool(clf.early_stopping_),
                "epochs": len(clf.net_.history),
            }
        )
    return out


def brute_force_cv(candidates, make, X, y, k, early_stopping):
    """K-fold cross-validated fine-tuning of each candidate on (X, y) alone, the same folds for all.

    Each fold's fit early-stops when that candidate's single fit did
    (``early_stopping``: label -> bool). A fold holds fewer rows, and below
    early_stopping="auto"'s 50 validation rows it would train its whole
    epoch budget: longer fits, which would flatter the ratio.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    import sktransfer

    sktransfer.clear_cache()
    folds = StratifiedKFold(k, shuffle=True, random_state=0)
    out = []
    for label, kwargs in candidates:
        t0 = time.perf_counter()
        scores = cross_val_score(
            make(**kwargs, early_stopping=early_stopping[label]), X, y, cv=folds
        )
        out.append(
            {
                "candidate": label,
                "cv_acc": float(scores.mean()),
                "cv_std": float(scores.std()),
                "seconds": time.perf_counter() - t0,
            }
        )
    return out


def part_speed(args):
    from sklearn.model_selection import train_test_split

    import sktransfer
    from sktransfer import ImageClassifier, ImageEncoder, TextClassifier, TextEncoder
    from sktransfer.backbones import get_backbone
    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes
    from sktransfer.selection import plot_ranking, rank_encoders

    results = []
    images, target = load_digit_images()
    Xtr, Xte, ytr, yte = train_test_split(
        images,
        target,
        train_size=args.image_train,
        test_size=args.image_test,
        stratify=target,
        random_state=0,
    )
    df = load_rotten_tomatoes()
    tXtr, tXte, tytr, tyte = train_test_split(
        df["text"].to_numpy(),
        df["label"].to_numpy(),
        train_size=args.text_train,
        test_size=args.text_test,
        stratify=df["label"],
        random_state=0,
    )
    tasks = [
        (
            "digits (images)",
            Xtr,
            ytr,
            Xte,
            yte,
            [
                ("efficientnet_lite0", {"model": "efficientnet_lite0"}),
                (
                    "efficientnet_lite0 (weights=None)",
                    {"model": "efficientnet_lite0", "weights": None},
                ),
                (
                    "mobilenet_v3_small (weights=None)",
                    {"model": "mobilenet_v3_small", "weights": None},
                ),
            ],
            lambda kw: ImageEncoder(device="cpu", **kw),
            lambda **kw: ImageClassifier(
                n_trainable_blocks="all",
                device="cpu",
                random_state=0,
                **kw,
                **({} if args.epochs == "auto" else {"augment": False, "max_epochs": args.epochs}),
            ),
        ),
        (
            "rotten tomatoes (text)",
            list(tXtr),
            tytr,
            list(tXte),
            tyte,
            [
                ("all-MiniLM-L6-v2", {"model": "all-MiniLM-L6-v2"}),
                ("all-MiniLM-L6-v2 (weights=None)", {"model": "all-MiniLM-L6-v2", "weights": None}),
                ("sktransfer/tiny-text", {"model": "sktransfer/tiny-text"}),
            ],
            lambda kw: TextEncoder(device="cpu", **kw),
            lambda **kw: TextClassifier(
                n_trainable_blocks="all",
                max_epochs=args.text_epochs,
                device="cpu",
                random_state=0,
                **kw,
            ),
        ),
    ]
    wanted = args.tasks.split(",")
    tasks = [t for t, key in zip(tasks, ("images", "text")) if key in wanted]
    for name, Xa, ya, Xb, yb, cands, make_encoder, make_tuner in tasks:
        sktransfer.clear_cache()
        encoders = [make_encoder(kw) for _, kw in cands]
        for _, kw in cands:  # loading the networks is timed for neither side
            get_backbone(kw["model"], weights=kw.get("weights", "DEFAULT"), device="cpu")
        t0 = time.perf_counter()
        table = rank_encoders(Xa, ya, encoders)
        rank_s = time.perf_counter() - t0
        if args.plot and not results:
            plot_ranking(table, args.plot)
        brute = brute_force(cands, make_tuner, Xa, ya, Xb, yb)
        brute_s = sum(b["seconds"] for b in brute)
        best_brute = max(brute, key=lambda b: b["fine_tuned_acc"])["candidate"]
        result = {
            "task": name,
            "rank_s": rank_s,
            "brute_s": brute_s,
            "ratio": brute_s / rank_s,
            "top1_rank": table["encoder"].iloc[0],
            "top1_brute": best_brute,
            "ranking": table.drop(columns=["rank"]).to_dict("records"),
            "brute": brute,
        }
        print(
            f"{name}: rank {rank_s:.1f}s, brute force {brute_s:.1f}s, ratio "
            f"{brute_s / rank_s:.0f}x, "
            f"top-1 {table['encoder'].iloc[0]!r} vs {best_brute!r}",
            flush=True,
        )
        if args.brute_cv:
            cv = brute_force_cv(
                cands,
                make_tuner,
                Xa,
                ya,
                args.brute_cv,
                {b["candidate"]: b["early_stopping"] for b in brute},
            )
            cv_s = sum(b["seconds"] for b in cv)
            result.update(
                brute_cv=cv,
                brute_cv_s=cv_s,
                ratio_cv=cv_s / rank_s,
                top1_brute_cv=max(cv, key=lambda b: b["cv_acc"])["candidate"],
            )
            print(
                f"{name}: {args.brute_cv}-fold brute force {cv_s:.1f}s, ratio "
                f"{cv_s / rank_s:.0f}x, "
                f"top-1 {result['top1_brute_cv']!r}",
                flush=True,
            )
        results.append(result)
    return results


def part_tau(args):
    from scipy.stats import kendalltau
    from skimage import data
    from sklearn.model_selection import StratifiedShuffleSplit, train_test_split

    import sktransfer
    from sktransfer import ImageEncoder, TextEncoder
    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes
    from sktransfer.selection import rank_encoders

    def image_candidates():
        return [
            ImageEncoder("efficientnet_lite0", layer=layer, device="cpu") for layer in (2, 4, 6, 7)
        ] + [
            ImageEncoder("efficientnet_lite0", device="cpu"),
            ImageEncoder("efficientnet_lite0", weights=None, device="cpu"),
            ImageEncoder("resnet18", weights=None, device="cpu"),
            ImageEncoder("mobilenet_v3_small", weights=None, device="cpu"),
        ]

    faces = (data.lfw_subset() * 255).round().astype(np.uint8), np.repeat([1, 0], 100)
    images, target = load_digit_images()
    dX, _, dy, _ = train_test_split(
        images, target, train_size=args.tau_images, stratify=target, random_state=0
    )
    df = load_rotten_tomatoes()
    rev = df.groupby("label").sample(args.tau_texts // 2, random_state=0)
    sets = [
        ("LFW faces vs non-faces (200 images)", faces[0], faces[1], image_candidates()),
        (f"digits ({args.tau_images} images)", dX, dy, image_candidates()),
        (
            f"rotten tomatoes ({args.tau_texts} snippets)",
            rev["text"],
            rev["label"],
            [
                TextEncoder("all-MiniLM-L6-v2", device="cpu"),
                TextEncoder("all-MiniLM-L6-v2", weights=None, device="cpu"),
                "sktransfer/tiny-text",
            ],
        ),
    ]
    results = []
    for name, X, y, cands in sets:
        sktransfer.clear_cache()
        table = rank_encoders(X, y, cands, probe_cv=5)
        # The same features again (cache hits), probed with 40 training samples per split:
        # with all the data the probe saturates for good features and ties blur tau.
        small = rank_encoders(
            X, y, cands, probe_cv=StratifiedShuffleSplit(n_splits=20, train_size=40, random_state=0)
        )
        table["probe40_score"] = (
            small.set_index("encoder").loc[table["encoder"], "probe_score"].to_numpy()
        )
        taus = {
            f"{s} vs {p}": float(kendalltau(table[s], table[p]).statistic)
            for p in ("probe_score", "probe40_score")
            for s in ("logme", "h_score", "gbc", "knn")
        }
        results.append({"task": name, "taus": taus, "table": table.to_dict("records")})
        print(name, {k: round(v, 2) for k, v in taus.items()}, flush=True)
        print(table.to_string(), flush=True)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", choices=["speed", "tau", "both"], default="both")
    ap.add_argument("--image-train", type=int, default=150)
    ap.add_argument("--image-test", type=int, default=300)
    ap.add_argument("--text-train", type=int, default=500)
    ap.add_argument("--text-test", type=int, default=500)
    ap.add_argument(
        "--epochs",
        default="10",
        help='image fine-tuning epochs, with augment=False; "auto": the '
        "estimator's defaults (about 60 epochs on 150 images, augmentation on)",
    )
    ap.add_argument(
        "--text-epochs", default="auto", help='text fine-tuning epochs ("auto": the default)'
    )
    ap.add_argument(
        "--brute-cv",
        type=int,
        default=0,
        help="also time a K-fold cross-validated brute force on the training split (0: off)",
    )
    ap.add_argument("--tau-images", type=int, default=200)
    ap.add_argument("--tau-texts", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", default="images,text", help="speed part: images, text or both")
    ap.add_argument(
        "--plot", default=None, help="also save a PNG of the first speed task's ranking here"
    )
    ap.add_argument("--out", default=str(common.OUT / "rank_encoders.md"))
    args = ap.parse_args(argv)
    if args.text_epochs != "auto":
        args.text_epochs = int(args.text_epochs)
    if args.epochs != "auto":
        args.epochs = int(args.epochs)
    if args.quick:
        args.image_train, args.image_test, args.text_train, args.text_test, args.epochs = (
            60,
            60,
            60,
            60,
            1,
        )
        args.text_epochs = 1
        args.tau_images, args.tau_texts = 100, 100
    common.setup(args.threads)
    load_before = common.load()
    speed = part_speed(args) if args.part in ("speed", "both") else []
    tau = part_tau(args) if args.part in ("tau", "both") else []
    load_after = common.load()

    cmd = "python benchmarks/bench_rank_encoders.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "# rank_encoders: speed against brute-force fine-tuning, and agreement with a linear probe",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {common.machine()}. 1/5/15-min load average {load_before} before and "
        f"{load_after} after.",
        "",
        f"Versions: {common.versions_line(('scikit-image',))}",
        "",
    ]
    if speed:
        rows = [
            [
                r["task"],
                f"{r['rank_s']:.1f} s",
                "one fit per candidate, scored on the test split",
                f"{r['brute_s']:.1f} s",
                f"{r['ratio']:.0f}x",
                r["top1_rank"],
                r["top1_brute"],
                "yes" if r["top1_rank"] == r["top1_brute"] else "NO",
            ]
            for r in speed
        ]
        rows += [
            [
                r["task"],
                f"{r['rank_s']:.1f} s",
                f"{args.brute_cv}-fold cross-validation on the training split",
                f"{r['brute_cv_s']:.1f} s",
                f"{r['ratio_cv']:.0f}x",
                r["top1_rank"],
                r["top1_brute_cv"],
                "yes" if r["top1_rank"] == r["top1_brute_cv"] else "NO",
            ]
            for r in speed
            if "brute_cv" in r
        ]
        lines += [
            "## Speed and top-1",
            "",
            common.md_table(
                [
                    "task",
                    "rank_encoders (cold cache)",
                    "brute force",
                    "brute-force time",
                    "speed-up",
                    "top-1 by LogME",
                    "top-1 by fine-tuning",
                    "same",
                ],
                rows,
            ),
            "",
        ]
        for r in speed:
            lines.append(
                f"{r['task']}, fine-tuned test accuracy: "
                + ", ".join(
                    f"{b['candidate']} {100 * b['fine_tuned_acc']:.1f} % ({b['seconds']:.0f} s, "
                    f"{b['epochs']} epochs{', early stopping' if b['early_stopping'] else ''})"
                    for b in r["brute"]
                )
            )
            if "brute_cv" in r:
                lines.append(
                    f"{r['task']}, {args.brute_cv}-fold accuracy: "
                    + ", ".join(
                        f"{b['candidate']} {100 * b['cv_acc']:.1f} ± {100 * b['cv_std']:.1f} % "
                        f"({b['seconds']:.0f} s)"
                        for b in r["brute_cv"]
                    )
                )
            lines.append(
                f"{r['task']}, LogME: "
                + ", ".join(f"{row['encoder']} {row['logme']:.3f}" for row in r["ranking"])
            )
            lines.append("")
    if tau:
        rows = [
            [r["task"], len(r["table"]), probe]
            + [f"{r['taus'][f'{s} vs {key}']:.2f}" for s in ("logme", "h_score", "gbc", "knn")]
            for r in tau
            for key, probe in (
                ("probe_score", "5-fold, all data"),
                ("probe40_score", "40 train samples x 20 splits"),
            )
        ]
        lines += [
            "## Kendall tau of each score against linear-probe accuracy",
            "",
            common.md_table(
                ["feature sets", "candidates", "probe", "LogME", "H-score", "GBC", "kNN"], rows
            ),
            "",
        ]
        for r in tau:
            lines.append(
                f"{r['task']}: "
                + ", ".join(
                    f"{row['encoder']} (LogME {row['logme']:.3f}, probe "
                    f"{100 * row['probe_score']:.1f} % / {100 * row['probe40_score']:.1f} %)"
                    for row in r["table"]
                )
            )
            lines.append("")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"args": vars(args), "speed": speed, "tau": tau}, indent=1, default=str)
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
