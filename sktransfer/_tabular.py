"""Tables in, pipelines out: what ``sktransfer fit | predict | rank | report`` do with a file.

The command line reads CSV, TSV or Parquet files, names columns as the file
does, and numbers rows as the file does: data row 1 is the first row after
the header (line 2 of a CSV). Every error here is a :class:`TableError` whose
message speaks in those terms; the command line prints it and exits with 2.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ._deps import require
from .modalities.base import is_missing

READERS = {".csv": ",", ".tsv": "\t", ".txt": ","}
PARQUET = (".parquet", ".pq")
# A numeric target with at most this many distinct integer values is read as
# class labels; anything else numeric is a regression target.
MAX_CLASSES = 20


class TableError(ValueError):
    """A problem with the user's file or options, in the user's terms."""


def read_table(path):
    """The file at ``path`` as a DataFrame (CSV, TSV or Parquet, by its extension)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file.")
    ext = path.suffix.lower()
    if ext in PARQUET:
        require("pyarrow", purpose="reading Parquet files")
        return pd.read_parquet(path)
    if ext in READERS:
        try:
            return pd.read_csv(path, sep=READERS[ext])
        except pd.errors.ParserError as exc:
            raise TableError(f"{path}: not a readable {ext[1:].upper()} file ({exc}).") from None
    raise TableError(
        f"{path}: unknown file type {ext or '(none)'!r}; sktransfer reads .csv, .tsv and "
        ".parquet files."
    )


def write_table(frame, path):
    """Write ``frame`` without its index, as the extension says (Parquet, TSV, else CSV)."""
    path = Path(path)
    if path.suffix.lower() in PARQUET:
        require("pyarrow", purpose="writing Parquet files")
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep=READERS.get(path.suffix.lower(), ","))


def row_name(i, path):
    """How the user finds data row ``i`` (0-based) of ``path``."""
    if Path(path).suffix.lower() in PARQUET:
        return f"row {i + 1}"
    return f"row {i + 1} (line {i + 2})"


def _rows(positions, path, limit=5):
    names = [row_name(int(i), path) for i in positions[:limit]]
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return ", ".join(names) + more


def columns(text):
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None -> []."""
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def check_columns(frame, names, path, option):
    """Every name in ``names`` is a column of ``frame``; otherwise say which, and list them."""
    for name in names:
        if name not in frame.columns:
            present = ", ".join(map(str, frame.columns))
            raise TableError(
                f"{option} {name!r}: {path} has no column {name!r}. Its columns are: {present}."
            )


def text_column(frame, name, path):
    values = frame[name].to_numpy(dtype=object)
    bad = np.flatnonzero([is_missing(v) for v in values])
    if len(bad):
        raise TableError(
            f"{path}: the text column {name!r} is empty in {_rows(bad, path)}; fill or drop "
            "those rows."
        )
    # Numbers in a text column (codes, years) are read as their text.
    return pd.Series([str(v) for v in values], name=name, dtype=object)


def image_column(frame, name, path):
    """The column's image paths, made absolute; relative paths are relative to the file's folder."""
    base = Path(path).resolve().parent
    out = []
    for i, value in enumerate(frame[name].to_numpy(dtype=object)):
        if is_missing(value) or value == "":
            raise TableError(
                f"{path}, {row_name(i, path)}: the image column {name!r} is empty; expected the "
                "path of an image file."
            )
        if not isinstance(value, str):
            raise TableError(
                f"{path}, {row_name(i, path)}: the image column {name!r} holds {value!r}; "
                "expected the path of an image file."
            )
        file = Path(value).expanduser()
        file = file if file.is_absolute() else base / file
        if not file.is_file():
            raise TableError(
                f"{path}, {row_name(i, path)}: image {value!r} (column {name!r}) not found; "
                f"looked at {file}. Relative paths are read from the folder of {Path(path).name}."
            )
        out.append(str(file))
    return pd.Series(out, name=name, dtype=object)


def numeric_columns(frame, names, path):
    for name in names:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            bad = np.flatnonzero(converted.isna() & values.notna())
            raise TableError(
                f"{path}: the numeric column {name!r} holds text in {_rows(bad, path)} "
                f"(e.g. {values.iloc[bad[0]]!r}); expected numbers (empty cells are filled "
                "with the column's median)."
            )
    return frame[names].astype(float)


def target(frame, name, path, task):
    """``(y, task)``: the target column checked for ``task`` ("auto" decides, as documented)."""
    values = frame[name]
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise TableError(
            f"{path}: the target column {name!r} is empty in {_rows(bad, path)}; every training "
            "row needs a target."
        )
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task == "auto":
        whole = numeric and np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)
        many = values.nunique() > MAX_CLASSES
        task = "regression" if numeric and (many or not whole) else "classification"
    if task == "regression":
        if not numeric:
            converted = pd.to_numeric(values, errors="coerce")
            rows = np.flatnonzero(converted.isna().to_numpy())
            raise TableError(
                f"{path}: --task regression needs numbers in the target column {name!r}, but "
                f"{_rows(rows, path)} hold(s) {values.iloc[rows[0]]!r}. Use --task "
                "classification for class labels."
            )
        return values.to_numpy(dtype=float), task
    counts = values.value_counts()
    if len(counts) < 2:
        raise TableError(
            f"{path}: the target column {name!r} has a single value ({counts.index[0]!r}); "
            "classification needs at least 2 classes."
        )
    if len(counts) > max(MAX_CLASSES, len(values) // 2):
        raise TableError(
            f"{path}: the target column {name!r} has {len(counts)} distinct values in "
            f"{len(values)} rows: class labels repeat. If it holds numbers to predict, use "
            "--task regression."
        )
    return values.to_numpy(), task


def features(frame, spec, path):
    """The feature columns of ``frame`` as ``spec`` names them, checked and resolved."""
    check_columns(frame, spec["text"], path, "--text")
    check_columns(frame, spec["image"], path, "--image")
    check_columns(frame, spec["numeric"], path, "--numeric")
    parts = [text_column(frame, c, path) for c in spec["text"]]
    parts += [image_column(frame, c, path) for c in spec["image"]]
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
    if spec["numeric"]:
        numbers = numeric_columns(frame, spec["numeric"], path).reset_index(drop=True)
        out = pd.concat([out.reset_index(drop=True), numbers], axis=1)
    return out.reset_index(drop=True)


def pipelines(spec, task, *, fine_tune=None, device="auto", verbose=True, random_state=0):
    """``(transfer, baseline)``: unfitted pipelines for the feature columns of ``spec``.

    Transfer: an encoder per text and image column, median-imputed
    standardised numbers, then a linear model on the standardised features
    (or one fine-tuner with ``fine_tune``). Baseline: TF-IDF for text, 32x32
    raw pixels for images, the same numbers, the same linear model.
    """
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .modalities import estimator_class, get_modality

    regression = task == "regression"
    linear = (
        RidgeCV(alphas=np.logspace(-3, 3, 13)) if regression else LogisticRegression(max_iter=2000)
    )

    def table(make_text, make_image):
        steps = [(f"text_{c}", make_text(), c) for c in spec["text"]]
        steps += [(f"image_{c}", make_image(), c) for c in spec["image"]]
        if spec["numeric"]:
            numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
            steps.append(("numeric", numbers, spec["numeric"]))
        return ColumnTransformer(steps)

    def encoder(modality):
        cls, model = estimator_class(modality, "encoder"), spec[f"{modality}_model"]
        return lambda: cls(model=model, device=device, verbose=verbose)

    def base(modality):
        return lambda: make_pipeline(*get_modality(modality).baseline()[1])

    baseline = make_pipeline(table(base("text"), base("image")), clone(linear))
    if fine_tune is None:
        transfer = make_pipeline(table(encoder("text"), encoder("image")), StandardScaler(), linear)
        return transfer, baseline
    if len(spec["text"] + spec["image"]) != 1 or spec["numeric"]:
        raise TableError(
            "--fine-tune trains one network on one column: name a single --text or --image "
            f"column and no --numeric ones (got text {spec['text']}, image {spec['image']}, "
            f"numeric {spec['numeric']})."
        )
    modality = "text" if spec["text"] else "image"
    cls = estimator_class(modality, "regressor" if regression else "classifier")
    # X holds just that column: a one-column DataFrame, which the fine-tuners take.
    tuned = cls(
        model=spec[f"{modality}_model"],
        n_trainable_blocks=fine_tune,
        device=device,
        verbose=verbose,
        random_state=random_state,
    )
    return tuned, baseline


def describe(pipe):
    """A one-line name of a pipeline for tables: its column steps and its model."""
    from sklearn.compose import ColumnTransformer

    if not hasattr(pipe, "steps"):
        return f"{type(pipe).__name__}({pipe.model}, n_trainable_blocks={pipe.n_trainable_blocks})"
    parts = []
    for step in pipe.steps:
        est = step[1]
        if isinstance(est, ColumnTransformer):
            for _, trans, cols in est.transformers:
                if trans == "passthrough":
                    continue
                inner = trans.steps[0][1] if hasattr(trans, "steps") else trans
                label = type(inner).__name__
                model = getattr(inner, "model", None)
                label += f"({model})" if model else ""
                parts.append(f"{label}[{cols if isinstance(cols, str) else ','.join(cols)}]")
        elif type(est).__name__ != "StandardScaler":
            parts.append(type(est).__name__)
    return " + ".join(parts)
