"""The ``sktransfer`` command line."""

import argparse
import os
import sys
import time


def _cv_scores(pipe, X, y, cv):
    from sklearn.model_selection import cross_val_score

    start = time.perf_counter()
    scores = cross_val_score(pipe, X, y, cv=cv)
    return scores, time.perf_counter() - start


def _row(task, name, scores, seconds):
    return f"{task:<24} {name:<46} {scores.mean():.3f} ± {scores.std():.3f}   {seconds:7.1f} s"


def demo(
    n_texts=2000, n_images=1000, folds=5, device="auto", text=True, images=True, out=sys.stdout
):
    """Cross-validate the default encoders against non-transfer baselines.

    Text: Rotten Tomatoes snippets (shipped with sktransfer), all-MiniLM-L6-v2
    embeddings + logistic regression vs TF-IDF + logistic regression. Images:
    scikit-learn's 8x8 digits, EfficientNet-Lite0 features + logistic
    regression vs raw pixels + logistic regression.

    Returns
    -------
    list of dict
        One entry per pipeline: task, pipeline, mean, std, seconds.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from . import ImageEncoder, TextEncoder
    from .datasets import load_digit_images, load_rotten_tomatoes

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    results = []
    print(
        f"sktransfer demo: {folds}-fold cross-validated accuracy (mean ± std), time includes "
        "model loading\n",
        file=out,
    )
    print(f"{'task':<24} {'pipeline':<46} {'accuracy':<15}   {'time':>9}", file=out)

    def run(task, name, pipe, X, y):
        scores, seconds = _cv_scores(pipe, X, y, cv)
        results.append(
            {
                "task": task,
                "pipeline": name,
                "mean": scores.mean(),
                "std": scores.std(),
                "seconds": seconds,
            }
        )
        print(_row(task, name, scores, seconds), file=out, flush=True)

    def subsample(X, y, n):
        if n >= len(y):
            return X, y
        X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=0)
        return X, y

    if text:
        df = load_rotten_tomatoes()
        X, y = subsample(df["text"], df["label"], n_texts)
        task = f"Rotten Tomatoes ({len(y)})"
        run(
            task,
            "TextEncoder(all-MiniLM-L6-v2) + LogReg",
            make_pipeline(TextEncoder(device=device), LogisticRegression(max_iter=2000)),
            X,
            y,
        )
        run(
            task,
            "TF-IDF + LogReg (no transfer)",
            make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=2000)),
            X,
            y,
        )
        run(task, "majority class", DummyClassifier(), X, y)
    if images:
        digit_images, target = load_digit_images()
        X, y = subsample(digit_images, target, n_images)
        task = f"digits 8x8 ({len(y)})"
        run(
            task,
            "ImageEncoder(efficientnet_lite0) + LogReg",
            make_pipeline(
                ImageEncoder(device=device), StandardScaler(), LogisticRegression(max_iter=2000)
            ),
            X,
            y,
        )
        flatten = FunctionTransformer(lambda a: a.reshape(len(a), -1) / 255.0)
        run(
            task,
            "raw pixels + LogReg (no transfer)",
            make_pipeline(flatten, LogisticRegression(max_iter=2000)),
            X,
            y,
        )
        run(task, "majority class", DummyClassifier(), X, y)

    for task in dict.fromkeys(r["task"] for r in results):
        rows = [r for r in results if r["task"] == task]
        transfer, baseline = rows[0], rows[1]
        if transfer["mean"] <= baseline["mean"]:
            print(
                f"\nNote: on {task} the pretrained features do not beat the non-transfer baseline "
                f"({transfer['mean']:.3f} vs {baseline['mean']:.3f}): the pretraining data is far "
                "from "
                "this task, so transfer does not help here.",
                file=out,
            )
    return results


def main(argv=None):
    from .modalities import modality_names

    parser = argparse.ArgumentParser(prog="sktransfer", description=__doc__)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"sktransfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "demo",
        help="cross-validate the default encoders against non-transfer baselines on shipped data",
    )
    p.add_argument(
        "--n-texts", type=int, default=2000, help="Rotten Tomatoes snippets to use (default 2000)"
    )
    p.add_argument(
        "--n-images", type=int, default=1000, help="digit images to use (default 1000 of 1797)"
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--only", choices=["text", "image"], help="run one half of the demo")
    m = sub.add_parser(
        "models", help="list the models sktransfer can load, with their facts (the zoo)"
    )
    m.add_argument("--modality", choices=modality_names())
    m.add_argument(
        "--offline", action="store_true", help="only models whose weights are on this machine"
    )
    args = parser.parse_args(argv)
    if args.command == "models":
        from .zoo import list_models

        table = list_models(
            modality=args.modality, available_offline=True if args.offline else None
        )
        # The long text columns make the table too wide for a terminal.
        wide = ("pretraining_data", "licence", "source")
        print(table[[c for c in table.columns if c not in wide]].to_string(index=False))
        return 0
    if args.command == "demo":
        # The demo only uses weights that ship with the install: never wait on a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        demo(
            n_texts=args.n_texts,
            n_images=args.n_images,
            folds=args.folds,
            device=args.device,
            text=args.only in (None, "text"),
            images=args.only in (None, "image"),
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
