"""Benchmark: static word vectors (GloVe 6B 50-d) against MiniLM and TF-IDF on Rotten Tomatoes.

One stratified split of the shipped critic snippets (``--train`` / ``--test``
rows, seed 0). Each encoder feeds a logistic regression (C=1, standardised
features; TF-IDF: word 1-2 grams). Reported: test accuracy, and the
encoders' throughput: texts per second of ``transform`` on the test texts,
without the cache (``cache=False``), after a warm-up call on 64 texts that
loads the model; the ratio of GloVe's to MiniLM's throughput is the figure
the issue asks for (at least 50x on a CPU).

Run: ``python benchmarks/bench_word_vectors.py`` (about 2 min on 2 cores).
"""

import argparse
import time

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()

    import torch

    from sktransfer import TextEncoder
    from sktransfer.datasets import load_rotten_tomatoes
    from sktransfer.modalities.text import TfidfBaseline

    df = load_rotten_tomatoes()
    X_train, X_test, y_train, y_test = train_test_split(
        df["text"].tolist(),
        df["label"].to_numpy(),
        train_size=args.train,
        test_size=args.test,
        stratify=df["label"],
        random_state=0,
    )
    print(f"torch threads: {torch.get_num_threads()}; train {len(X_train)}, test {len(X_test)}")
    rows = {}
    for name, model in (
        ("GloVe 6B 50-d", "glove-6b-50d"),
        ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    ):
        enc = TextEncoder(model=model, device="cpu", cache=False)
        enc.fit(X_train[:64]).transform(X_train[:64])  # loads the model
        start = time.perf_counter()
        features = enc.transform(X_test)
        speed = len(X_test) / (time.perf_counter() - start)
        clf = make_pipeline(enc, StandardScaler(), LogisticRegression(max_iter=2000))
        accuracy = clf.fit(X_train, y_train).score(X_test, y_test)
        rows[name] = (accuracy, speed, features.shape[1])
    tfidf = make_pipeline(TfidfBaseline(), LogisticRegression(max_iter=2000))
    accuracy = tfidf.fit(X_train, y_train).score(X_test, y_test)
    rows["TF-IDF (1-2 grams)"] = (accuracy, None, None)

    print("\n| encoder | test accuracy | texts/s (transform, no cache) | dimensions |")
    print("|---|---|---|---|")
    for name, (accuracy, speed, dim) in rows.items():
        shown = "-" if speed is None else f"{speed:,.0f}"
        print(f"| {name} | {accuracy:.3f} | {shown} | {dim or '-'} |")
    ratio = rows["GloVe 6B 50-d"][1] / rows["all-MiniLM-L6-v2"][1]
    print(f"\nGloVe / MiniLM throughput: {ratio:.0f}x")


if __name__ == "__main__":
    main()
