"""Benchmark: domain adaptation while fine-tuning (DANN, DeepCORAL, DAN) on real shifts.

The same shifts and target halves as ``bench_adapt.py`` (labelled source,
unlabelled adaptation half of the target, labelled test half). Each row is
one fit of sktransfer's fine-tuner with the top ``--blocks`` blocks
trainable (frozen lower blocks cached), scored on the target test half:

- **source-only**: ``domain_loss=None`` (the target rows given through
  ``sample_domain`` are left out), with the estimator's default early
  stopping, and without it (fits with a domain loss train without it);
- ``domain_loss="dann" | "deepcoral" | "dan"`` at a few weights: skada.deep's
  losses on the backbone's pooled features, every batch pairing source and
  target rows;
- **in-domain**: the same fine-tuner trained on the labelled adaptation half
  of the target (what target labels would give).

"gap closed" = (accuracy - source-only) / (in-domain - source-only), with
the fine-tuned source-only and in-domain rows of the same shift. Each row
also gives the label-free score skada's ``PredictionEntropyScorer`` puts on
the fitted model (minus the mean entropy of its target predictions; higher
is more confident) through ``sktransfer.adapt.FeatureScorer``, and which
method that score would pick.

Usage::

    python benchmarks/bench_adapt_deep.py                         # printed -> handwritten, film ->
    tweets
    python benchmarks/bench_adapt_deep.py --shifts digits,photos,movies-tweets,movies-amazon
    python benchmarks/bench_adapt_deep.py --quick                 # small subsets, plumbing check
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import bench_adapt  # noqa: E402  (the shifts)

SHIFTS = {
    "digits": bench_adapt.digits_shift,
    "photos": bench_adapt.photos_shift,
    "movies-tweets": lambda quick: bench_adapt.sentiment_shift(quick, "movies", "tweets"),
    "movies-amazon": lambda quick: bench_adapt.sentiment_shift(quick, "movies", "amazon"),
}
METHODS = "dann:0.1,dann:1,deepcoral:10,deepcoral:100,dan:1"


def make_estimator(shift, args):
    from sktransfer import ImageClassifier, TextClassifier

    common = dict(n_trainable_blocks=args.blocks, random_state=0, device="cpu")
    if isinstance(shift["Xs"], list):
        return TextClassifier(model="all-MiniLM-L6-v2", **common)
    return ImageClassifier(model="efficientnet_lite0", augment=False, **common)


def run_shift(shift, args, log):
    from skada.metrics import PredictionEntropyScorer
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from sktransfer.adapt import FeatureScorer, domain_arrays

    idx_adapt, idx_test, yt_adapt, yt_test = train_test_split(
        np.arange(len(shift["yt"])),
        shift["yt"],
        test_size=0.5,
        random_state=0,
        stratify=shift["yt"],
    )
    pick = (
        (lambda X, idx: [X[i] for i in idx])
        if isinstance(shift["Xt"], list)
        else (lambda X, idx: X[idx])
    )
    Xt_adapt, Xt_test = pick(shift["Xt"], idx_adapt), pick(shift["Xt"], idx_test)
    Xs, ys = shift["Xs"], shift["ys"]
    # Subsets (stratified, same seed) keep the CPU cost of every fit affordable.
    if args.max_source and len(ys) > args.max_source:
        keep = train_test_split(
            np.arange(len(ys)), train_size=args.max_source, random_state=0, stratify=ys
        )[0]
        Xs, ys = pick(Xs, keep), ys[keep]
    if args.max_target and len(yt_adapt) > args.max_target:
        keep = train_test_split(
            np.arange(len(yt_adapt)), train_size=args.max_target, random_state=0, stratify=yt_adapt
        )[0]
        Xt_adapt, yt_adapt = pick(Xt_adapt, keep), yt_adapt[keep]
    X, y, sd = domain_arrays(Xs, ys, Xt_adapt)
    base = make_estimator(shift, args)
    entropy = FeatureScorer(PredictionEntropyScorer())
    log(
        f"  {len(ys)} source rows, {len(yt_adapt)} target rows to adapt to, {len(yt_test)} to "
        f"test; {type(base).__name__}({base.model!r}, n_trainable_blocks={args.blocks})"
    )

    rows = []

    def record(name, loss, weight, est, fit_s):
        acc = float(np.mean(est.predict(Xt_test) == yt_test))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ent = float(entropy(est, X, y.copy(), sample_domain=sd))
        rows.append(
            dict(
                method=name,
                loss=loss,
                weight=weight,
                acc=acc,
                entropy=ent,
                fit_s=fit_s,
                epochs=len(est.history_),
            )
        )
        log(
            f"  {name}: {acc:.3f} (entropy score {ent:.4f}; {len(est.history_)} epochs, "
            f"{fit_s:.0f} s)"
        )

    # Warm the cache of the frozen blocks once, outside the timings.
    t0 = time.perf_counter()
    clone(base).set_params(max_epochs=1).fit(X, y, sample_domain=sd)
    log(f"  frozen blocks cached in {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    est = clone(base).fit(X, y, sample_domain=sd)
    record("source-only", None, None, est, time.perf_counter() - t0)
    # Fits with a domain loss train without early stopping (the estimator's
    # "auto"): the same for source-only, to tell the two effects apart.
    t0 = time.perf_counter()
    est = clone(base).set_params(early_stopping=False).fit(X, y, sample_domain=sd)
    record("source-only, no early stopping", None, None, est, time.perf_counter() - t0)
    for method in args.methods.split(","):
        loss, weight = method.split(":")
        weight = float(weight)
        t0 = time.perf_counter()
        est = (
            clone(base)
            .set_params(domain_loss=loss, domain_loss_weight=weight)
            .fit(X, y, sample_domain=sd)
        )
        record(f"{loss}(weight={weight:g})", loss, weight, est, time.perf_counter() - t0)
    t0 = time.perf_counter()
    in_domain = clone(base).fit(Xt_adapt, yt_adapt)
    in_acc = float(np.mean(in_domain.predict(Xt_test) == yt_test))
    log(f"  in-domain: {in_acc:.3f} ({time.perf_counter() - t0:.0f} s)")
    so = rows[0]["acc"]
    for row in rows:
        row["closed"] = (row["acc"] - so) / (in_acc - so) if in_acc != so else np.nan
    return dict(
        shift=shift,
        rows=rows,
        source_only=so,
        in_domain=in_acc,
        n=(len(ys), len(yt_adapt), len(yt_test)),
    )


def table(results, command, total_s, args):
    import skada
    import torch

    out = [
        f"Command: `{command}` ({total_s:.0f} s, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, skada {skada.__version__}, n_trainable_blocks={args.blocks})",
        "",
    ]
    out += [
        "| shift | source-only | best domain loss | in-domain | gap closed | entropy's pick |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        adapted = res["rows"][1:]
        best = max(adapted, key=lambda r: r["acc"])
        pick = max(res["rows"], key=lambda r: r["entropy"])
        out.append(
            f"| {res['shift']['name']} | {res['source_only']:.3f} | {best['method']} "
            f"{best['acc']:.3f} | {res['in_domain']:.3f} | {best['closed']:+.2f} | "
            f"{pick['method']} {pick['acc']:.3f} ({pick['closed']:+.2f}) |"
        )
    for res in results:
        out += [
            "",
            f"### {res['shift']['name']} ({res['n'][0]} source, {res['n'][1]} unlabelled target, "
            f"{res['n'][2]} target test rows)",
            "",
            "| method | target accuracy | gap closed | entropy score | epochs | fit (s) |",
            "|---|---|---|---|---|---|",
        ]
        for r in res["rows"]:
            out.append(
                f"| {r['method']} | {r['acc']:.3f} | {r['closed']:+.2f} | {r['entropy']:.4f} | "
                f"{r['epochs']} | {r['fit_s']:.0f} |"
            )
        out.append(f"| in-domain | {res['in_domain']:.3f} | +1.00 | | | |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shifts", default="digits,movies-tweets")
    ap.add_argument("--blocks", type=int, default=2, help="n_trainable_blocks")
    ap.add_argument("--methods", default=METHODS, help="loss:weight,... (default: %(default)s)")
    ap.add_argument(
        "--max-source", type=int, default=0, help="at most this many source rows (0: all)"
    )
    ap.add_argument(
        "--max-target",
        type=int,
        default=0,
        help="at most this many unlabelled target rows (0: all)",
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "out" / "adapt_deep.md"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)

    results = []
    for key in args.shifts.split(","):
        shift = SHIFTS[key](args.quick)
        log(shift["name"])
        results.append(run_shift(shift, args, log))
    command = "python benchmarks/bench_adapt_deep.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = table(results, command.strip(), time.perf_counter() - t_start, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
