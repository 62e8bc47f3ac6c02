"""Benchmark: what a text fine-tune costs on long texts, with and without a domain loss.

The fit from issue "Fine-tuning that wins on data it was not tuned on": the
shipped all-MiniLM-L6-v2 with its top 2 of 6 layers trainable, on 1,000
labelled passages of about 400 characters (consecutive sentences of one
document joined until at least 350 characters: the 684 such passages of the
Amazon product reviews of ``load_sentiment_snippets``, then passages of its
New York Times editorials; label: 1 when the sentences' mean rating >= 0)
plus 500 unlabelled film-review sentences (its "movies" domain).

Measured, in one process, on CPU:

1. one frozen encode of the 1,000 source rows (``TextEncoder(cache=False)``);
2. the source-only fit: ``TextClassifier(n_trainable_blocks=2,
   random_state=0).fit(X, y, sample_domain=...)`` (the target rows are left
   out, as skada's SourceOnly does), with the default training batches
   (rows of similar length batched together) and with plain shuffled
   batches (the training loader is given no row lengths);
3. the adapted fit: the same with ``domain_loss="dann+mcc",
   domain_loss_weight=0.3`` (``max_epochs="auto"``: 5 epochs here), and with
   ``max_epochs=10``, what "auto" gave before adapted fits got their own
   budget.

The cache is emptied before each fit, so every fit pays for its own frozen
layers. Reported: wall time, epochs, seconds per epoch (training rows plus
the validation pass), accuracy on the target rows' labels, and the two
targets: an epoch of the source-only fit costs at most one frozen encode of
the same rows, and the adapted fit at most 3x the source-only fit.

Run: ``python benchmarks/bench_fit_cost.py`` (about 20 minutes on 2 cores);
``--quick`` uses 300 + 150 rows.
"""

import argparse
import json
import time

import _finetune_common as common
import numpy as np


def passages(n, min_chars=350):
    """Consecutive sentences of one document joined into passages of >= min_chars."""
    from sktransfer.datasets import load_sentiment_snippets

    df = load_sentiment_snippets(["amazon", "nyt"])
    review = df["domain"] + df["id"].str.split("_").str[0]
    texts, labels, parts, ratings = [], [], [], []
    last = None
    for text, rating, rid in zip(df["text"], df["rating"], review):
        if rid != last:
            parts, ratings, last = [], [], rid
        parts.append(text)
        ratings.append(rating)
        if sum(len(p) + 1 for p in parts) >= min_chars:
            texts.append(" ".join(parts))
            labels.append(int(np.mean(ratings) >= 0))
            parts, ratings = [], []
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} passages of >= {min_chars} characters")
    return texts[:n], np.asarray(labels[:n])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    common.setup(args.threads)
    from sktransfer import TextClassifier, TextEncoder, clear_cache
    from sktransfer.adapt import domain_arrays
    from sktransfer.datasets import load_sentiment_snippets

    n_src, n_tgt = (300, 150) if args.quick else (1000, 500)
    X_src, y_src = passages(n_src)
    movies = load_sentiment_snippets("movies").sample(n_tgt, random_state=0)
    movies = movies[movies["label"] != "neutral"]
    X_tgt, y_tgt = movies["text"].tolist(), (movies["label"] == "positive").to_numpy().astype(int)
    X, y, domain = domain_arrays(X_src, y_src, X_tgt)
    print(
        f"{len(X_src)} source passages ({np.mean([len(t) for t in X_src]):.0f} characters on "
        f"average), {len(X_tgt)} target sentences ({np.mean([len(t) for t in X_tgt]):.0f})"
    )

    clear_cache()
    start = time.perf_counter()
    TextEncoder(cache=False).fit(X_src).transform(X_src)
    encode = time.perf_counter() - start
    print(f"frozen encode of the source rows: {encode:.1f} s")

    runs = {
        "source-only": {},
        "source-only, plain shuffled batches": None,
        "adapted (dann+mcc, 0.3)": {"domain_loss": "dann+mcc", "domain_loss_weight": 0.3},
        "adapted, max_epochs=10 (the budget before)": {
            "domain_loss": "dann+mcc",
            "domain_loss_weight": 0.3,
            "max_epochs": 10,
        },
    }
    results = {}
    from sktransfer.finetune import _torch

    grouped = _torch.row_lengths
    for name, params in runs.items():
        clear_cache()
        # Plain shuffled batches: the training loader sees no row lengths.
        _torch.row_lengths = grouped if params is not None else (lambda dataset: None)
        clf = TextClassifier(n_trainable_blocks=2, random_state=0, device="cpu", **(params or {}))
        start = time.perf_counter()
        clf.fit(X, y, sample_domain=domain)
        wall = time.perf_counter() - start
        _torch.row_lengths = grouped
        durs = [h["dur"] for h in clf.history_]
        acc = float((clf.predict(X_tgt) == y_tgt).mean())
        results[name] = {
            "wall_s": wall,
            "epochs": len(durs),
            "max_epochs": clf.max_epochs_,
            "epoch_s": float(np.median(durs)),
            "target_accuracy": acc,
        }
        print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}))

    source, adapted = results["source-only"], results["adapted (dann+mcc, 0.3)"]
    rows = [
        (
            name,
            f"{r['wall_s']:.0f}",
            f"{r['epochs']} of {r['max_epochs']}",
            f"{r['epoch_s']:.1f}",
            f"{r['epoch_s'] / encode:.2f}",
            f"{r['target_accuracy']:.3f}",
        )
        for name, r in results.items()
    ]
    print()
    print(f"Machine: {common.machine()}; load {common.load()}")
    print(common.versions_line())
    print(f"Frozen encode of the {len(X_src)} source rows: {encode:.1f} s")
    print(
        common.md_table(
            [
                "fit",
                "wall s",
                "epochs run",
                "s per epoch (median)",
                "epoch / frozen encode",
                "target accuracy",
            ],
            rows,
        )
    )
    print(
        f"adapted / source-only wall time: {adapted['wall_s'] / source['wall_s']:.2f}x "
        "(target <= 3x); source-only epoch / frozen encode: "
        f"{source['epoch_s'] / encode:.2f} (target <= 1)"
    )
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "fit_cost.json").write_text(
        json.dumps({"encode_s": encode, "fits": results}, indent=1)
    )


if __name__ == "__main__":
    main()
