"""The ``sktransfer`` command line."""

import argparse
import logging
import os
import sys
import time
import zipfile

import numpy as np
import pandas as pd

from . import _tabular as tab

log = logging.getLogger("sktransfer")


def _blocks(value):
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of blocks or 'all', got {value!r}"
        ) from None


def _cv_scores(pipe, X, y, cv):
    from sklearn.model_selection import cross_val_score

    start = time.perf_counter()
    scores = cross_val_score(pipe, X, y, cv=cv)
    return scores, time.perf_counter() - start


def _row(task, name, scores, seconds):
    return f"{task:<24} {name:<46} {scores.mean():.3f} ± {scores.std():.3f}   {seconds:7.1f} s"


def _demo_tasks(n_texts, n_images, device, text, images):
    """``(task, X, y, [(pipeline name, estimator), ...])`` for each task the demo runs."""
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ImageClassifier, ImageEncoder, TextEncoder
    from .datasets import load_digit_images, load_digits_on_photos, load_rotten_tomatoes
    from .modalities import get_modality

    def subsample(X, y, n):
        if n >= len(y):
            return X, y
        X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=0)
        return X, y

    def logreg():
        return LogisticRegression(max_iter=2000)

    def image_rows(fine_tune):
        rows = [
            (
                "ImageEncoder(efficientnet_lite0) + LogReg",
                make_pipeline(ImageEncoder(device=device), StandardScaler(), logreg()),
            )
        ]
        if fine_tune:
            # Frozen inputs, so the 8 lower blocks come from the cache; 10 epochs keep the
            # demo short (the default budget, about 300 steps, scored 0.596 against 0.590).
            tuned = ImageClassifier(
                n_trainable_blocks=1, augment=False, max_epochs=10, device=device, random_state=0
            )
            rows.append(("ImageClassifier(1 block, 10 epochs)", tuned))
        # The same baseline as transfer_report's: 32x32 pixels, standardised.
        pixels = get_modality("image").baseline()[1]
        rows.append(("raw pixels + LogReg (no transfer)", make_pipeline(*pixels, logreg())))
        return rows + [("majority class", DummyClassifier())]

    tasks = []
    if text:
        df = load_rotten_tomatoes()
        X, y = subsample(df["text"], df["label"], n_texts)
        rows = [
            (
                "TextEncoder(all-MiniLM-L6-v2) + LogReg",
                make_pipeline(TextEncoder(device=device), logreg()),
            ),
            (
                "TF-IDF + LogReg (no transfer)",
                make_pipeline(TfidfVectorizer(sublinear_tf=True), logreg()),
            ),
            ("majority class", DummyClassifier()),
        ]
        tasks.append((f"Rotten Tomatoes ({len(y)})", X, y, rows))
    if images:
        # Colour photos behind the digits: closer to what ImageNet networks saw.
        photos, target = load_digits_on_photos()
        X, y = subsample(photos, target, n_images // 2)
        tasks.append((f"digits on photos ({len(y)})", X, y, image_rows(fine_tune=True)))
        digit_images, target = load_digit_images()
        X, y = subsample(digit_images, target, n_images)
        tasks.append((f"digits 8x8 ({len(y)})", X, y, image_rows(fine_tune=False)))
    return tasks


def demo(n_texts=2000, n_images=1000, folds=5, device="auto", text=True, images=True, out=None):
    """Cross-validate the default encoders against non-transfer baselines.

    Text: Rotten Tomatoes snippets (shipped with sktransfer), all-MiniLM-L6-v2
    embeddings + logistic regression vs TF-IDF + logistic regression. Images:
    handwritten digits on patches of photos (``n_images // 2`` of them), where
    EfficientNet-Lite0 features and a fine-tuned top block beat raw pixels; and
    scikit-learn's plain 8x8 digits (``n_images``), where they do not.

    Returns
    -------
    list of dict
        One entry per pipeline: task, pipeline, mean, std, seconds.
    """
    from sklearn.model_selection import StratifiedKFold

    out = out or sys.stdout
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    results = []
    print(
        f"sktransfer demo: {folds}-fold cross-validated accuracy (mean ± std), time includes "
        "model loading\n",
        file=out,
    )
    print(f"{'task':<24} {'pipeline':<46} {'accuracy':<15}   {'time':>9}", file=out)
    for task, X, y, rows in _demo_tasks(n_texts, n_images, device, text, images):
        for name, pipe in rows:
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

    for task in dict.fromkeys(r["task"] for r in results):
        rows = [r for r in results if r["task"] == task]
        transfer = max(
            (r for r in rows if "no transfer" not in r["pipeline"]), key=lambda r: r["mean"]
        )
        baseline = next(r for r in rows if "no transfer" in r["pipeline"])
        if transfer["mean"] <= baseline["mean"]:
            print(
                f"\nNote: on {task} the pretrained network does not beat the non-transfer "
                f"baseline ({transfer['mean']:.3f} vs {baseline['mean']:.3f}): the pretraining "
                "data is far from this task, so transfer does not help here.",
                file=out,
            )
    return results


# -- the tabular commands -------------------------------------------------------------
BUNDLE = "sktransfer-cli-model"


def _spec(args):
    return {
        "text": tab.columns(args.text),
        "image": tab.columns(args.image),
        "numeric": tab.columns(args.numeric),
        "text_model": args.text_model,
        "image_model": args.image_model,
    }


def _data(args, spec):
    """The file's features and target, checked (errors in the file's terms)."""
    if not (spec["text"] or spec["image"] or spec["numeric"]):
        raise tab.TableError("Name at least one feature column: --text, --image or --numeric.")
    frame = tab.read_table(args.data)
    tab.check_columns(frame, [args.target], args.data, "--target")
    overlap = {args.target} & set(spec["text"] + spec["image"] + spec["numeric"])
    if overlap:
        raise tab.TableError(f"--target {args.target!r} is also named as a feature column.")
    y, task = tab.target(frame, args.target, args.data, args.task)
    return tab.features(frame, spec, args.data), y, task


def _splitter(task, folds, y):
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "regression":
        return KFold(folds, shuffle=True, random_state=0)
    smallest = min(np.unique(y, return_counts=True)[1])
    if smallest < folds:
        raise tab.TableError(
            f"--cv {folds}: the rarest class has {smallest} row(s); each fold needs one. Use "
            f"--cv {max(2, smallest)} or fewer folds."
        )
    return StratifiedKFold(folds, shuffle=True, random_state=0)


def fit_command(args, out=None):
    """``sktransfer fit``: cross-validate against a baseline, fit on every row, save with skops."""
    out = out or sys.stdout
    from sklearn.model_selection import cross_val_score

    from .persist import dump

    spec = _spec(args)
    X, y, task = _data(args, spec)
    transfer, baseline = tab.pipelines(
        spec, task, fine_tune=args.fine_tune, device=args.device, verbose=not args.quiet
    )
    metric = "R²" if task == "regression" else "accuracy"
    log.info("%s: %d rows, %s, features %s", args.data, len(X), task, list(X.columns))
    if args.cv:
        cv = _splitter(task, args.cv, y)
        print(f"{args.cv}-fold cross-validated {metric} on {len(X)} rows of {args.data}:", file=out)
        rows = [("transfer", transfer)] + ([("baseline", baseline)] if args.baseline else [])
        for kind, pipe in rows:
            start = time.perf_counter()
            scores = cross_val_score(pipe, X, y, cv=cv)
            took = time.perf_counter() - start
            print(
                f"  {kind:<9} {tab.describe(pipe):<60} {scores.mean():.3f} ± {scores.std():.3f}"
                f"   {took:6.1f} s",
                file=out,
                flush=True,
            )
    transfer.fit(X, y)
    bundle = {
        "format": BUNDLE,
        "model": transfer,
        "target": args.target,
        "task": task,
        "columns": spec,
        "id": args.id,
    }
    dump(bundle, args.output)
    print(f"Fitted on all {len(X)} rows; saved to {args.output}", file=out)
    return 0


def predict_command(args, out=None):
    """``sktransfer predict``: the saved model's predictions (and probabilities) for a file."""
    out = out or sys.stdout
    from .persist import load

    try:
        # SimpleImputer keeps the dtype it fitted on: a numpy dtype, plain data.
        bundle = load(args.model, trusted=["numpy.dtype"])
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise tab.TableError(
            f"{args.model}: not a model file that sktransfer can load ({exc})."
        ) from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE:
        raise tab.TableError(f"{args.model}: not a model written by `sktransfer fit`.")
    frame = tab.read_table(args.data)
    X = tab.features(frame, bundle["columns"], args.data)
    model, target = bundle["model"], bundle["target"]
    id_column = args.id or bundle.get("id")
    result = pd.DataFrame(index=range(len(frame)))
    if id_column:
        tab.check_columns(frame, [id_column], args.data, "--id")
        result[id_column] = frame[id_column].to_numpy()
    else:
        result["row"] = np.arange(1, len(frame) + 1)
    result[f"predicted_{target}"] = model.predict(X)
    if hasattr(model, "predict_proba"):
        for cls, column in zip(model.classes_, model.predict_proba(X).T):
            result[f"probability_{cls}"] = column
    if args.output:
        tab.write_table(result, args.output)
        print(f"{len(result)} predictions written to {args.output}", file=out)
    else:
        result.to_csv(out, index=False)
    return 0


def _one_column(spec, command):
    columns = spec["text"] + spec["image"]
    if len(columns) != 1 or spec["numeric"]:
        raise tab.TableError(
            f"sktransfer {command} judges one text or image column: name a single --text or "
            "--image column."
        )
    return columns[0]


def rank_command(args, out=None):
    """``sktransfer rank``: rank pretrained encoders for one column, without fine-tuning."""
    out = out or sys.stdout
    from .selection import rank_encoders

    spec = _spec(args)
    column = _one_column(spec, "rank")
    X, y, _ = _data(args, spec)
    models = tab.columns(args.models) or None
    table = rank_encoders(
        X[[column]],
        y,
        models,
        probe_cv=args.probe_cv or None,
        device=args.device,
        plot=args.plot,
        verbose=not args.quiet,
    )
    print(table.drop(columns=["score_time_s"], errors="ignore").to_string(index=False), file=out)
    if args.plot:
        print(f"Plot written to {args.plot}", file=out)
    return 0


def report_command(args, out=None):
    """``sktransfer report``: does transfer help on this column? (transfer_report)"""
    out = out or sys.stdout
    import warnings

    from .selection import NegativeTransferWarning, plot_report, transfer_report

    spec = _spec(args)
    column = _one_column(spec, "report")
    X, y, _ = _data(args, spec)
    model = spec["text_model"] if spec["text"] else spec["image_model"]
    with warnings.catch_warnings():
        # The verdict is printed below; the warning would say it twice.
        warnings.simplefilter("ignore", NegativeTransferWarning)
        report = transfer_report(
            X[[column]],
            y,
            model,
            cv=args.cv,
            fine_tune=args.fine_tune,
            scratch=args.scratch,
            device=args.device,
            verbose=not args.quiet,
        )
    cols = ["mean", "std", "gain_vs_best_non_pretrained", "fit_time_s"]
    print(report[cols].to_string(float_format=lambda v: f"{v:.3f}"), file=out)
    print("\n" + report.attrs["verdict"], file=out)
    if args.plot:
        plot_report(report, args.plot)
        print(f"Plot written to {args.plot}", file=out)
    return 0


def _add_table_options(p, *, fine_tune=False):
    p.add_argument("data", help="a .csv, .tsv or .parquet file with a header row")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--text", help="text column(s), comma-separated")
    p.add_argument(
        "--image",
        help="image-path column(s), comma-separated; relative paths are read from the data "
        "file's folder",
    )
    p.add_argument(
        "--numeric",
        help="numeric column(s), comma-separated (standardised; empty cells get the median)",
    )
    p.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help=f"auto: numbers with more than {tab.MAX_CLASSES} distinct values or fractions are "
        "regression, anything else classes",
    )
    p.add_argument("--text-model", default="all-MiniLM-L6-v2", help="text encoder model")
    p.add_argument("--image-model", default="efficientnet_lite0", help="image encoder model")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


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
        "--n-images",
        type=int,
        default=1000,
        help="8x8 digit images to use (default 1000 of 1797); half as many digits on photos",
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
    f = sub.add_parser(
        "fit",
        help="fit encoders (or a fine-tuner) and a linear model on a CSV/Parquet file; save it",
    )
    _add_table_options(f)
    f.add_argument("-o", "--output", required=True, help="the model file to write (.skops)")
    f.add_argument(
        "--fine-tune",
        type=_blocks,
        metavar="N",
        help="fine-tune the top N blocks (or 'all') of the one --text/--image column's network",
    )
    f.add_argument("--cv", type=int, default=5, help="folds for the scores printed (0: none)")
    f.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="skip the baseline's score"
    )
    f.add_argument("--id", help="a column that `predict` copies to its output")
    pr = sub.add_parser("predict", help="predictions of a model from `sktransfer fit` for a file")
    pr.add_argument("model", help="the .skops file that `sktransfer fit` wrote")
    pr.add_argument("data", help="a .csv, .tsv or .parquet file with the same feature columns")
    pr.add_argument("-o", "--output", help="where to write the predictions (default: stdout)")
    pr.add_argument("--id", help="the column to copy to the output (default: fit's --id)")
    r = sub.add_parser("rank", help="rank pretrained encoders for one column (rank_encoders)")
    _add_table_options(r)
    r.add_argument("--models", help="comma-separated candidates (default: every offline model)")
    r.add_argument(
        "--probe-cv", type=int, default=3, help="folds of the linear-probe check (0: none)"
    )
    r.add_argument("--plot", help="write the ranking as a PNG here")
    rp = sub.add_parser("report", help="does transfer help on one column? (transfer_report)")
    _add_table_options(rp)
    rp.add_argument("--cv", type=int, default=3)
    rp.add_argument("--no-fine-tune", dest="fine_tune", action="store_false")
    rp.add_argument("--no-scratch", dest="scratch", action="store_false")
    rp.add_argument("--plot", help="write the report as a PNG here")
    args = parser.parse_args(argv)
    logging.basicConfig(format="sktransfer: %(message)s", level=logging.WARNING)
    commands = {
        "fit": fit_command,
        "predict": predict_command,
        "rank": rank_command,
        "report": report_command,
    }
    if args.command in commands:
        try:
            return commands[args.command](args)
        except tab.TableError as exc:
            print(f"sktransfer {args.command}: error: {exc}", file=sys.stderr)
            return 2
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
