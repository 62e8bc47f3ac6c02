"""Benchmark: does continued pretraining on unlabelled in-domain text help a few-label task?

Question: ``sktransfer.pretrain.continue_pretraining`` trains a pretrained
sentence encoder further, self-supervised, on unlabelled text of the target
domain (domain/task-adaptive pretraining). Do embeddings of the adapted model
give a better few-shot linear classifier than those of the plain pretrained
all-MiniLM-L6-v2?

Text sets (shipped with sktransfer, no download)
------------------------------------------------
rotten
    ``load_rotten_tomatoes()``: 12,752 critic snippets, ``label`` fresh/rotten.
tweets, amazon
    ``load_sentiment_snippets(domain="tweets" | "amazon")`` (VADER ground
    truth, mean human rating -4..4): binary label ``rating > 0``; rows whose
    rating is exactly 0 are dropped (4 tweets, 98 amazon sentences).

Per set, once (random_state=0): a stratified test set (default 800 rows) is
held out; from the rest a stratified unlabelled pool (default 1000 rows) is
taken. The pool's texts (no labels) are what continued pretraining sees. Per
seed, ``n`` labelled rows per class (8, 16, 64) are drawn from the pool
(nested: the 8 are among the 16, which are among the 64).

Contenders
----------
plain
    ``TextEncoder(model="all-MiniLM-L6-v2")`` as shipped.
tsdae / simcse / mlm
    ``continue_pretraining("all-MiniLM-L6-v2", pool_texts, method=m,
    output_dir=<temporary folder>, epochs=EPOCHS, random_state=0,
    verbose=False, device="cpu")`` with each method's default batch size
    (TSDAE 8, SimCSE 32, MLM 16), learning rate and every block trainable;
    then ``TextEncoder(model=<that folder>)``.

Every contender's embeddings feed
``sklearn.linear_model.LogisticRegression(max_iter=2000)`` fitted on the
labelled rows; reported is test accuracy, mean ± sd over seeds, and the
paired difference to the plain model on the same draws. Pretraining wall
time (``continue_pretraining`` call: model load, training, save) and the
steps run are reported per method and set.

Budget: the methods' ``epochs="auto"`` aims at 300 / 150 / 300 optimizer
steps (TSDAE / SimCSE / MLM); on this 2-core CPU a step costs about 0.5-1 s
(TSDAE, batch 8), 1.5-3 s (SimCSE, batch 32 x 2 passes) and 1-2 s (MLM,
batch 16), so "auto" would take ~15 minutes per set. To keep the default
run near 25 minutes the default is ``--epochs 1`` over a 1000-row pool:
125 TSDAE steps, 31 SimCSE steps, 62 MLM steps per set -- well under the
papers' budgets, so this measures a *light* adaptation; pass
``--epochs auto`` (and expect ~1 hour) for the methods' own step budgets.
The test sets are 800 rows (so that encoding 4 models x 3 sets stays at a
few minutes). Torch runs one thread by default: on a machine shared with
another CPU-bound process two threads were ~5x *slower* per step
(oversubscription); use ``--threads 2`` on an idle machine.

Nothing large is kept: the adapted models live in a
``tempfile.TemporaryDirectory`` that is removed after each set. The markdown
report is printed (and written to ``--out`` only when that is given).

Usage::

    python benchmarks/bench_continue_pretraining.py           # 3 sets, 8/16/64 per class, seeds 0-2
    python benchmarks/bench_continue_pretraining.py --quick   # rotten, 8/16, seed 0, 200 test/pool
    python benchmarks/bench_continue_pretraining.py --epochs auto --sets tweets
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _finetune_common as common
import numpy as np

SETS = ("rotten", "tweets", "amazon")
METHODS = ("tsdae", "simcse", "mlm")
BASE = "all-MiniLM-L6-v2"


def load_set(name):
    """(texts, labels) of one text set, labels as a 1-d array."""
    from sktransfer.datasets import load_rotten_tomatoes, load_sentiment_snippets

    if name == "rotten":
        df = load_rotten_tomatoes()
        return df["text"].astype(str).to_numpy(), df["label"].to_numpy(), 0
    df = load_sentiment_snippets(domain=name)
    zero = df["rating"] == 0
    df = df[~zero]
    return (
        df["text"].astype(str).to_numpy(),
        np.where(df["rating"] > 0, "positive", "negative"),
        int(zero.sum()),
    )


def split(texts, y, n_test, n_pool):
    """A fixed stratified test set and an unlabelled pool from the rest (random_state=0)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=0)
    if n_pool < len(rest):
        pool, _ = train_test_split(rest, train_size=n_pool, stratify=y[rest], random_state=0)
    else:
        pool = rest
    return test, pool


def draws(pool_y, shots, seeds):
    """{(n, seed): positions into the pool}; nested over n for a given seed."""
    out = {}
    classes = sorted(set(pool_y))
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        perms = {c: rng.permutation(np.flatnonzero(pool_y == c)) for c in classes}
        for n in shots:
            for c in classes:
                if len(perms[c]) < n:
                    raise ValueError(f"the pool has {len(perms[c])} rows of class {c!r}; need {n}")
            idx = np.concatenate([perms[c][:n] for c in classes])
            out[(n, seed)] = rng.permutation(idx)
    return out


def pretrain_meta(path):
    """The continued-pretraining record of a saved backbone folder (steps, losses)."""
    try:
        meta = json.loads((Path(path) / "sktransfer_backbone.json").read_text())
        return meta["history"][-1]
    except Exception:  # pragma: no cover - reported as missing
        return {}


def evaluate(model, texts, y, test, pool, picks, shots, seeds):
    """Encode test + the labelled rows with ``model``; accuracy per (n, seed)."""
    from sklearn.linear_model import LogisticRegression

    from sktransfer import TextEncoder

    labelled = np.unique(np.concatenate(list(picks.values())))
    t0 = time.perf_counter()
    enc = TextEncoder(model=model, device="cpu").fit(list(texts[test[:2]]))
    Zte = enc.transform(list(texts[test]))
    Zlab = enc.transform(list(texts[pool[labelled]]))
    encode_s = time.perf_counter() - t0
    where = {p: i for i, p in enumerate(labelled)}
    acc = {}
    for n in shots:
        for seed in range(seeds):
            rows = [where[p] for p in picks[(n, seed)]]
            clf = LogisticRegression(max_iter=2000).fit(Zlab[rows], y[pool[picks[(n, seed)]]])
            acc[(n, seed)] = float((clf.predict(Zte) == y[test]).mean())
    return acc, encode_s, len(test) + len(labelled)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="rotten only, 8/16 per class, 1 seed")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--shots", default="8,16,64", help="labelled examples per class")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-test", type=int, default=800)
    ap.add_argument("--pool", type=int, default=1000, help="unlabelled rows for pretraining")
    ap.add_argument("--epochs", default="1", help="continue_pretraining epochs (int or 'auto')")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write the report to this .md file")
    args = ap.parse_args(argv)
    if args.quick:
        args.sets, args.shots, args.seeds, args.n_test, args.pool = "rotten", "8,16", 1, 200, 200
    epochs = args.epochs if args.epochs == "auto" else int(args.epochs)
    shots = [int(v) for v in args.shots.split(",")]
    sets = [s for s in args.sets.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    cmd = " ".join(
        [
            "python benchmarks/bench_continue_pretraining.py",
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    print(f"Command: `{cmd}`", flush=True)

    common.setup(args.threads)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    import sktransfer
    from sktransfer.backbones import get_backbone
    from sktransfer.pretrain import continue_pretraining

    t_start = time.perf_counter()
    load_before = common.load()
    get_backbone(BASE, device="cpu")  # load once, outside the timings
    results, timings, data_lines = [], [], []
    for name in sets:
        texts, y, n_zero = load_set(name)
        n_test = min(args.n_test, len(y) // 3)
        test, pool = split(texts, y, n_test, args.pool)
        picks = draws(y[pool], shots, args.seeds)
        _, counts = np.unique(y[test], return_counts=True)
        data_lines.append(
            f"- {name}: {len(y)} rows"
            + (f" ({n_zero} with rating 0 dropped)" if name != "rotten" else "")
            + f", test {len(test)} (majority class {100 * counts.max() / len(test):.1f} %), "
            f"unlabelled pool {len(pool)}, mean "
            f"{np.mean([len(t.split()) for t in texts[pool]]):.1f} words per text"
        )
        with tempfile.TemporaryDirectory(prefix="bench_cp_") as tmp:
            contenders = [("plain", BASE, None)]
            for m in methods:
                t0 = time.perf_counter()
                path = continue_pretraining(
                    BASE,
                    list(texts[pool]),
                    method=m,
                    output_dir=os.path.join(tmp, m),
                    epochs=epochs,
                    random_state=0,
                    verbose=False,
                    device="cpu",
                )
                wall = time.perf_counter() - t0
                meta = pretrain_meta(path)
                timings.append({"set": name, "method": m, "wall_s": wall, **meta})
                print(
                    f"[{name}] {m}: {wall:.1f}s, {meta.get('steps')} steps, epochs "
                    f"{meta.get('epochs')}, batch {meta.get('batch_size')}, loss "
                    f"{meta.get('first_loss')} -> {meta.get('final_loss')}",
                    flush=True,
                )
                contenders.append((m, str(path), meta))
            for label, model, _ in contenders:
                acc, encode_s, n_enc = evaluate(
                    model, texts, y, test, pool, picks, shots, args.seeds
                )
                results.append({"set": name, "contender": label, "acc": acc})
                for t in timings:
                    if t["set"] == name and t["method"] == label:
                        t["encode_s"], t["n_encoded"] = encode_s, n_enc
                if label == "plain":
                    plain_encode = (encode_s, n_enc)
                print(
                    f"[{name}] {label}: encoded {n_enc} texts in {encode_s:.1f}s; "
                    + ", ".join(
                        f"{n}/class {100 * np.mean([acc[(n, s)] for s in range(args.seeds)]):.1f}"
                        for n in shots
                    ),
                    flush=True,
                )
                sktransfer.clear_cache()
        timings.append(
            {
                "set": name,
                "method": "plain",
                "wall_s": None,
                "encode_s": plain_encode[0],
                "n_encoded": plain_encode[1],
            }
        )
    load_after = common.load()
    total_s = time.perf_counter() - t_start

    # ---- tables
    rows = []
    for name in sets:
        plain = next(r for r in results if r["set"] == name and r["contender"] == "plain")
        for r in (r for r in results if r["set"] == name):
            cells = []
            for n in shots:
                a = [r["acc"][(n, s)] for s in range(args.seeds)]
                cell = common.mean_sd(a)
                if r["contender"] != "plain":
                    d = [r["acc"][(n, s)] - plain["acc"][(n, s)] for s in range(args.seeds)]
                    cell += f" ({100 * np.mean(d):+.1f})"
                cells.append(cell)
            t = next((t for t in timings if t["set"] == name and t["method"] == r["contender"]), {})
            pre = (
                "-" if r["contender"] == "plain" else f"{t.get('steps')} steps, {t['wall_s']:.0f} s"
            )
            rows.append([name, r["contender"], pre, *cells])
    header = [
        "set",
        "contender",
        "continued pretraining",
        *(f"{n}/class: acc % (Δ vs plain)" for n in shots),
    ]
    trows = []
    for t in timings:
        if t["method"] == "plain":
            continue
        fl, ll = t.get("first_loss"), t.get("final_loss")
        trows.append(
            [
                t["set"],
                t["method"],
                t.get("epochs"),
                t.get("batch_size"),
                t.get("steps"),
                f"{t['wall_s']:.1f} s",
                f"{t['wall_s'] / max(1, t.get('steps') or 1):.2f} s",
                f"{fl:.3g} → {ll:.3g}" if fl is not None and ll is not None else "-",
                f"{t.get('encode_s', float('nan')):.1f} s / {t.get('n_encoded')}",
            ]
        )
    for t in timings:
        if t["method"] == "plain":
            trows.append(
                [
                    t["set"],
                    "plain",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f"{t['encode_s']:.1f} s / {t['n_encoded']}",
                ]
            )
    theader = [
        "set",
        "method",
        "epochs",
        "batch",
        "steps",
        "pretraining wall time",
        "per step (incl. load/save)",
        "loss: first step → last-epoch mean",
        "encode time / texts",
    ]
    text = "\n".join(
        [
            "# Continued pretraining vs plain all-MiniLM-L6-v2, few-shot logistic regression",
            "",
            f"Command: `{cmd}`",
            "",
            f"Machine: {common.machine()}. 1/5/15-min load average {load_before} before and "
            f"{load_after} after (shared machine). Total run time {total_s / 60:.1f} min.",
            "",
            f"Versions: {common.versions_line()}",
            "",
            f"Data (split random_state=0; labelled rows drawn from the pool with seeds "
            f"0..{args.seeds - 1}); continue_pretraining epochs={epochs}, random_state=0, "
            "default batch/lr, all blocks trainable:",
            *data_lines,
            "",
            "Accuracy: mean ± sd over seeds; Δ = mean paired difference to plain on the same "
            "labelled draws, in points.",
            "",
            common.md_table(header, rows),
            "",
            "Timings (wall time of the continue_pretraining call, including model load and save):",
            "",
            common.md_table(theader, trows),
            "",
        ]
    )
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written {out}")


if __name__ == "__main__":
    main()
