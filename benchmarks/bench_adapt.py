"""Benchmark: domain adaptation with skada on frozen pretrained features.

Real domain shifts, each with a labelled source and an unlabelled target:

- ``printed -> handwritten``: digits printed in 21 real fonts
  (``load_printed_digits``, 100 per class) -> scikit-learn's handwritten
  digits (``load_digit_images``), 8x8 grey, EfficientNet-Lite0 features.
- ``handwritten digits -> digits on photos``: scikit-learn's handwritten
  digits (grey, 900 of them) -> the other 897 blended onto patches of real
  photos (``load_digits_on_photos``, the MNIST-M recipe), EfficientNet-Lite0.
- ``film reviews -> tweets`` and ``film reviews -> product reviews``:
  sentences of film reviews (2,000) -> tweets / sentences of Amazon customer
  reviews, all rated for sentiment by 20 people with the same protocol
  (``load_sentiment_snippets``, the VADER paper's data; positive >= 0.5,
  negative <= -0.5, neutral dropped), all-MiniLM-L6-v2 features.

For each shift the target is split in two stratified halves (random_state=0):
the *adaptation half* is given to the adapters without labels, the *test half*
scores every method. Rows:

- **source-only**: encoder (+ StandardScaler for images) + LogisticRegression
  trained on the source rows only.
- each shallow skada adapter (mapping: CORAL, linear / entropic / class-
  regularised OT mappings; subspace: subspace alignment, TCA; reweighting:
  density, discriminator, KMM, nearest neighbours; labelling: OT label
  propagation, JDOT), a few hyperparameters each, in
  ``make_da_pipeline(StandardScaler(), adapter, LogisticRegression())`` (JDOT
  is a classifier and replaces LogisticRegression) on the
  encoder's features (the encoder is frozen and learns nothing, so this is
  the same as ``make_da_pipeline(Encoder(), StandardScaler(), adapter,
  LogisticRegression())`` with the features computed once). The scaler
  (images only) is fitted on source and target rows and makes
  LogisticRegression converge in seconds on 1280 image features. Text
  features are not standardised: MiniLM's unit-norm embeddings have 3
  numerically constant dimensions (std ~1e-33) that StandardScaler would blow
  up into unit-variance noise.
- **in-domain**: the same trained on the labelled adaptation half of the
  target: what target labels would give.

"gap closed" = (accuracy - source-only) / (in-domain - source-only). The best
method by test accuracy is an oracle choice (it looks at target labels). What
a user without target labels would get is the method that one of skada's
unsupervised scorers ranks first on the adaptation data (source + unlabelled
target): prediction entropy, deep embedded validation (DEV) and circular
validation are each reported.

Also saves a plot (``benchmarks/adapt_shift.png``): for each shift, a 2-D PCA
of source and target features before adaptation (fitted on both) and after the
best mapping or subspace adapter.

Usage::

    python benchmarks/bench_adapt.py            # full sizes (about 15-20 min on 2 busy cores)
    python benchmarks/bench_adapt.py --cache /tmp/features   # reruns skip the networks
    python benchmarks/bench_adapt.py --quick    # small subsets, plumbing check
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent


def adapters(quick):
    """(family, name, factory, kind) for every candidate.

    kind: "adapter" (an adapter before LogisticRegression), "weights" (a
    reweighting adapter: LogisticRegression takes its sample_weight) or
    "estimator" (a domain-adaptive classifier that replaces LogisticRegression).
    """
    import skada
    from sklearn.linear_model import LogisticRegression

    rows = []
    for reg in (0.1, 1.0):
        rows.append(
            ("mapping", f"CORAL(reg={reg})", lambda reg=reg: skada.CORALAdapter(reg=reg), "adapter")
        )
    rows.append(
        (
            "mapping",
            "LinearOTMapping(reg=1)",
            lambda: skada.LinearOTMappingAdapter(reg=1.0),
            "adapter",
        )
    )
    for reg_e in (0.1, 1.0):
        rows.append(
            (
                "mapping",
                f"EntropicOTMapping(reg_e={reg_e})",
                lambda r=reg_e: skada.EntropicOTMappingAdapter(reg_e=r, norm="median"),
                "adapter",
            )
        )
    rows.append(
        (
            "mapping",
            "ClassRegularizerOTMapping(reg_e=0.1)",
            lambda: skada.ClassRegularizerOTMappingAdapter(reg_e=0.1, reg_cl=0.1),
            "adapter",
        )
    )
    for k in (8, 32, 128) if quick else (8, 32, 128, 256):
        rows.append(
            (
                "subspace",
                f"SubspaceAlignment(n={k})",
                lambda k=k: skada.SubspaceAlignmentAdapter(n_components=k, random_state=0),
                "adapter",
            )
        )
    if not quick:
        rows.append(
            (
                "subspace",
                "TCA(n=32)",
                lambda: skada.TransferComponentAnalysisAdapter(n_components=32),
                "adapter",
            )
        )
    rows.append(
        ("reweighting", "DensityReweight", lambda: skada.DensityReweightAdapter(), "weights")
    )
    rows.append(
        (
            "reweighting",
            "DiscriminatorReweight",
            lambda: skada.DiscriminatorReweightAdapter(),
            "weights",
        )
    )
    rows.append(("reweighting", "KMMReweight", lambda: skada.KMMReweightAdapter(), "weights"))
    rows.append(
        (
            "reweighting",
            "NearestNeighborReweight",
            lambda: skada.NearestNeighborReweightAdapter(),
            "weights",
        )
    )
    # Methods that label the target: transport source labels onto it, or
    # refit on it with the model's own guesses.
    rows.append(("labelling", "OTLabelProp", lambda: skada.OTLabelPropAdapter(), "adapter"))
    rows.append(
        ("labelling", "OTLabelProp(reg=0.1)", lambda: skada.OTLabelPropAdapter(reg=0.1), "adapter")
    )
    rows.append(
        (
            "labelling",
            "JDOT(alpha=0.5)",
            lambda: skada.JDOTClassifier(LogisticRegression(max_iter=3000), alpha=0.5),
            "estimator",
        )
    )
    # skada's DASVMClassifier is left out: it refits an RBF SVC for every 2 x 3
    # target rows it labels (about 300 refits of 3,700 rows on the tweets
    # shift, over 10 minutes before its scorers refit it again), and on 10
    # classes skada 0.6 fails with an IndexError.
    return rows


# --------------------------------------------------------------------------- shifts


def digits_shift(quick):
    from sktransfer import ImageEncoder
    from sktransfer.datasets import load_digit_images, load_printed_digits

    Xs, ys = load_printed_digits(n_per_class=20 if quick else 100, random_state=0)
    Xt, yt = load_digit_images()
    if quick:
        Xt, yt = Xt[:300], yt[:300]
    return dict(
        name="printed -> handwritten digits",
        key="digits",
        encoder=ImageEncoder(model="efficientnet_lite0"),
        Xs=Xs,
        ys=ys,
        Xt=Xt,
        yt=yt,
        scale=True,
    )


def photos_shift(quick):
    from sktransfer import ImageEncoder
    from sktransfer.datasets import load_digit_images, load_digits_on_photos

    grey, target = load_digit_images()
    on_photos, _ = load_digits_on_photos(random_state=0)
    order = np.random.default_rng(0).permutation(len(target))
    n = 150 if quick else 900
    src, tgt = order[:n], order[n : 2 * n] if quick else order[n:]
    return dict(
        name="handwritten digits -> digits on photos",
        key="photos",
        encoder=ImageEncoder(model="efficientnet_lite0"),
        Xs=grey[src],
        ys=target[src],
        Xt=on_photos[tgt],
        yt=target[tgt],
        scale=True,
    )


def sentiment_shift(quick, source="movies", target="tweets"):
    from sktransfer import TextEncoder
    from sktransfer.datasets import load_sentiment_snippets

    df = load_sentiment_snippets([source, target])
    df = df[df["label"] != "neutral"]
    src = df[df["domain"] == source]
    tgt = df[df["domain"] == target]
    n_src = 300 if quick else 2000
    src = src.sample(min(n_src, len(src)), random_state=0)
    if quick:
        tgt = tgt.sample(400, random_state=0)
    names = {
        "movies": "film reviews",
        "tweets": "tweets",
        "amazon": "product reviews",
        "nyt": "editorials",
    }
    return dict(
        name=f"{names[source]} -> {names[target]} (sentiment)",
        key=f"{source}-{target}",
        encoder=TextEncoder(model="all-MiniLM-L6-v2"),
        Xs=src["text"].tolist(),
        ys=(src["label"] == "positive").astype(int).to_numpy(),
        Xt=tgt["text"].tolist(),
        yt=(tgt["label"] == "positive").astype(int).to_numpy(),
        scale=False,
    )


# --------------------------------------------------------------------------- run


def run_shift(shift, quick, log, cache=True):
    from skada import make_da_pipeline
    from skada.metrics import CircularValidation, DeepEmbeddedValidation, PredictionEntropyScorer
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from sktransfer.adapt import domain_arrays

    Xt_adapt, Xt_test, yt_adapt, yt_test = train_test_split(
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
    Xt_adapt, Xt_test = pick(shift["Xt"], Xt_adapt), pick(shift["Xt"], Xt_test)

    # Features once: the encoder is frozen, its cache shares them with every pipeline.
    encoder = clone(shift["encoder"]).set_params(cache=cache)
    t0 = time.perf_counter()
    Fs = encoder.fit(shift["Xs"]).transform(shift["Xs"]).astype(np.float64)
    Fa = encoder.transform(Xt_adapt).astype(np.float64)
    Ft = encoder.transform(Xt_test).astype(np.float64)
    embed_s = time.perf_counter() - t0
    log(
        f"  features: {Fs.shape[0]} source, {Fa.shape[0]} + {Ft.shape[0]} target rows, dim "
        f"{Fs.shape[1]}, {embed_s:.0f} s"
    )

    X, y, sd = domain_arrays(Fs, shift["ys"], Fa)
    sd_test = np.full(len(Ft), -2)
    scorers = {
        SCORERS[0]: PredictionEntropyScorer(),
        SCORERS[1]: DeepEmbeddedValidation(random_state=0),
        SCORERS[2]: CircularValidation(),
    }

    def unsupervised_scores(pipe):
        out = {}
        for name, scorer in scorers.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out[name] = float(scorer(pipe, X, y.copy(), sample_domain=sd))
            except Exception:
                out[name] = np.nan
        return out

    def lr(weighted=False):
        clf = LogisticRegression(max_iter=3000)
        return clf.set_fit_request(sample_weight=True) if weighted else clf

    rows = []
    t0 = time.perf_counter()

    # Source-only: scaler and classifier see the source rows only.
    def scaler():
        return [StandardScaler()] if shift["scale"] else []

    source_only = make_da_pipeline(*scaler(), lr()).fit(Fs, shift["ys"])
    so = source_only.score(Ft, yt_test)
    rows.append(
        dict(
            family="-",
            method="source-only",
            acc=so,
            fit_s=time.perf_counter() - t0,
            **unsupervised_scores(source_only),
        )
    )
    log(f"  source-only: {so:.3f}")
    in_domain = make_da_pipeline(*scaler(), lr()).fit(Fa, yt_adapt).score(Ft, yt_test)
    log(f"  in-domain: {in_domain:.3f}")
    fitted = {}
    for family, name, make, kind in adapters(quick):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                steps = [make()] if kind == "estimator" else [make(), lr(kind == "weights")]
                pipe = make_da_pipeline(*scaler(), *steps).fit(X, y, sample_domain=sd)
                acc = pipe.score(Ft, yt_test, sample_domain=sd_test)
        except Exception as exc:  # a method that fails is reported, not hidden
            log(f"  {name}: failed: {type(exc).__name__}: {str(exc)[:100]}")
            rows.append(
                dict(
                    family=family,
                    method=name,
                    acc=np.nan,
                    fit_s=time.perf_counter() - t0,
                    error=f"{type(exc).__name__}",
                    **{k: np.nan for k in scorers},
                )
            )
            continue
        fit_s = time.perf_counter() - t0
        rows.append(
            dict(family=family, method=name, acc=acc, fit_s=fit_s, **unsupervised_scores(pipe))
        )
        fitted[name] = make
        log(
            f"  {name}: {acc:.3f} ({fit_s:.1f} s; "
            + ", ".join(f"{k} {rows[-1][k]:.4f}" for k in scorers)
            + ")"
        )
    for row in rows:
        row["closed"] = (row["acc"] - so) / (in_domain - so) if in_domain != so else np.nan
    adapted = [r for r in rows[1:] if np.isfinite(r["acc"])]
    best = max(adapted, key=lambda r: r["acc"])
    chosen = {
        name: max([r for r in rows if np.isfinite(r[name])], key=lambda r: r[name])
        for name in scorers
    }
    aligned = [r for r in adapted if r["family"] in ("mapping", "subspace")]
    best_aligned = max(aligned, key=lambda r: r["acc"]) if aligned else None
    return dict(
        shift=shift,
        rows=rows,
        source_only=so,
        in_domain=in_domain,
        best=best,
        chosen=chosen,
        features=(Fs, Fa),
        y=(shift["ys"], yt_adapt),
        embed_s=embed_s,
        plot_adapter=(best_aligned["method"], fitted[best_aligned["method"]])
        if best_aligned
        else None,
    )


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from sktransfer.adapt import domain_arrays

    fig, axes = plt.subplots(len(results), 2, figsize=(10, 4.3 * len(results)), squeeze=False)
    for row_axes, res in zip(axes, results):
        Fs, Fa = res["features"]
        ys, ya = res["y"]
        X, y, sd = domain_arrays(Fs, ys, Fa)
        if res["shift"]["scale"]:
            X = StandardScaler().fit_transform(X)
        panels = [("before adaptation", X)]
        if res["plot_adapter"] is not None:
            name, make = res["plot_adapter"]
            Z = make().fit_transform(X, y, sample_domain=sd)
            panels.append((f"after {name}", np.asarray(Z)))
        for ax, (title, Z) in zip(row_axes, panels):
            P = PCA(n_components=2, random_state=0).fit_transform(Z)
            src, tgt = sd > 0, sd < 0
            ax.scatter(
                P[src, 0], P[src, 1], s=5, alpha=0.45, c="tab:blue", label=f"source ({src.sum()})"
            )
            ax.scatter(
                P[tgt, 0], P[tgt, 1], s=5, alpha=0.45, c="tab:orange", label=f"target ({tgt.sum()})"
            )
            ax.set_title(f"{res['shift']['name']}\n{title}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(loc="best", fontsize=8, markerscale=3)
    fig.suptitle(
        "2-D PCA (fitted on source + target) of the encoder's features (images standardised)",
        fontsize=11,
    )
    # Leave half an inch at the top for the suptitle, or the first row's titles run into it.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path, dpi=60)
    plt.close(fig)


SCORERS = ("entropy", "DEV", "circular")


def table(results, versions, command, total_s):
    lines = [
        f"Command: `{command}`",
        "",
        f"Total time: {total_s:.0f} s. Versions: {versions}",
        "",
        "Unsupervised scores (no target labels; higher is better): entropy = skada's "
        "PredictionEntropyScorer (minus the mean entropy of target predictions), DEV = "
        "DeepEmbeddedValidation (minus an importance-weighted source loss), circular = "
        "CircularValidation (source accuracy of a model trained back from the target "
        "pseudo-labels).",
        "",
    ]
    for res in results:
        so, ind = res["source_only"], res["in_domain"]
        chosen = "; ".join(
            f"{k}: {r['method']} {r['acc']:.3f} (gap closed {r['closed']:+.2f})"
            for k, r in res["chosen"].items()
        )
        lines += [
            f"### {res['shift']['name']}",
            "",
            f"Source-only {so:.3f}, in-domain {ind:.3f}, best adapter {res['best']['method']} "
            f"{res['best']['acc']:.3f} (gap closed {res['best']['closed']:+.2f}). "
            f"Chosen without target labels by {chosen}. Features: {res['embed_s']:.0f} s.",
            "",
            "| family | method | target accuracy | gap closed | "
            + " | ".join(SCORERS)
            + " | fit + score |",
            "|---|---|---|---|" + "---|" * len(SCORERS) + "---|",
        ]
        for r in res["rows"]:
            acc = "failed: " + r["error"] if "error" in r else f"{r['acc']:.3f}"
            closed = (
                ""
                if not np.isfinite(r["closed"]) or r["method"] == "source-only"
                else f"{r['closed']:+.2f}"
            )
            marks = [" **(best)**"] if r is res["best"] else []
            marks += [f" *({k})*" for k, c in res["chosen"].items() if c is r]
            scores = " | ".join("" if not np.isfinite(r[k]) else f"{r[k]:.4f}" for k in SCORERS)
            lines.append(
                f"| {r['family']} | {r['method']}{''.join(marks)} | {acc} | {closed} | {scores} | "
                f"{r['fit_s']:.1f} s |"
            )
        lines += [
            f"| - | in-domain (target labels) | {ind:.3f} | +1.00 |" + " |" * len(SCORERS) + " |",
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subsets (plumbing check)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    parser.add_argument(
        "--shifts",
        default="digits,photos,movies-tweets,movies-amazon",
        help="comma-separated: digits (printed -> handwritten), photos (handwritten -> on photos), "
        "and text shifts SOURCE-TARGET among amazon, movies, nyt, tweets",
    )
    parser.add_argument(
        "--cache",
        default=None,
        help="a folder for sktransfer's disk cache of features (reruns skip the networks)",
    )
    parser.add_argument("--out", default=str(ROOT / "out" / "adapt.md"))
    parser.add_argument("--plot", default=str(ROOT / "adapt_shift.png"))
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    # BLAS threads too: skada's adapters and the scorers are numpy/scipy
    # linear algebra, which crawls when its threads fight torch's on busy cores.
    threadpool_limits(args.threads)
    import importlib.metadata as md

    import sktransfer.adapt  # noqa: F401  (skada, metadata routing)

    versions = ", ".join(
        f"{d} {md.version(d)}" for d in ("sktransfer", "skada", "scikit-learn", "torch", "numpy")
    )
    t_start = time.perf_counter()
    results = []
    for key in args.shifts.split(","):
        if key == "digits":
            shift = digits_shift(args.quick)
        elif key == "photos":
            shift = photos_shift(args.quick)
        else:
            shift = sentiment_shift(args.quick, *key.split("-"))
        print(
            f"{shift['name']}: {len(shift['ys'])} source, {len(shift['yt'])} target rows",
            flush=True,
        )
        results.append(
            run_shift(
                shift,
                args.quick,
                lambda s: print(s, flush=True),
                cache=args.cache if args.cache else True,
            )
        )
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    total = time.perf_counter() - t_start
    command = "python benchmarks/bench_adapt.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = table(results, versions, command.strip(), total)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
