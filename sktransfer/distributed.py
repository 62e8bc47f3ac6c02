"""Fitted estimators on Dask and Ray: transform (or predict) a collection block by block.

A fitted sktransfer estimator pickles to a few kilobytes: its network is not
in the pickle but loaded by name where it runs, once per worker process (the
process's backbone cache), then reused for every block that worker gets.
So the helpers below only ship the small estimator and call its method on
each block; the output is what the serial call gives, row for row.

Plain recipes do the same without these helpers::

    # Dask: a column of texts or paths -> a dask DataFrame of features.
    names = encoder.get_feature_names_out()
    meta = pd.DataFrame({n: pd.Series(dtype="float32") for n in names})
    features = ddf["text"].map_partitions(
        lambda part: pd.DataFrame(encoder.transform(part), columns=names, index=part.index),
        meta=meta,
    )

    # Ray Data: a callable class builds its copy once per actor.
    class Embed:
        def __init__(self, encoder):
            self.encoder = encoder
        def __call__(self, batch):
            return {**batch, "embedding": self.encoder.transform(batch["text"])}
    ds.map_batches(Embed, fn_constructor_args=(encoder,), concurrency=2, batch_format="pandas")

Grid search and cross-validation spread their fits with joblib, whose Dask
and Ray backends run them on a cluster: ``with joblib.parallel_config(backend="dask"):``
(a ``distributed.Client`` connected) or ``backend="ray"`` (after
``ray.util.joblib.register_ray()``), then ``GridSearchCV(..., n_jobs=-1).fit(X, y)``.
Give the estimators ``cache="/shared/folder"`` so that workers share the
frozen features (:ref:`cache`).

dask-ml's ``ParallelPostFit`` is not used: with dask's current (expression)
DataFrames it does not recognise a dask Series and computes the whole
column in the client instead of block by block, and it needs numba.
"""

import numpy as np

from ._deps import require

_METHODS = ("transform", "predict", "predict_proba")


def _check_method(estimator, method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if not hasattr(estimator, method):
        raise ValueError(f"{type(estimator).__name__} has no {method} method.")
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)


def _output_names(estimator, method):
    """Column names of ``method``'s 2-D output (None: 1-D output)."""
    if method == "transform":
        return [str(n) for n in estimator.get_feature_names_out()]
    if method == "predict_proba":
        return [f"proba_{c}" for c in estimator.classes_]
    return None


def _apply(estimator, method, part):
    """``estimator.method`` on one block (a pandas Series/DataFrame or an array)."""
    return getattr(estimator, method)(part)


def _frame_block(part, estimator, method, names):
    import pandas as pd

    out = _apply(estimator, method, part)
    if names is None:
        return pd.Series(np.asarray(out), index=part.index, name=method)
    return pd.DataFrame(np.asarray(out), index=part.index, columns=names)


def _array_block(block, estimator, method):
    out = np.asarray(_apply(estimator, method, block))
    return out if out.ndim == 2 else out[:, None]


def dask_transform(estimator, X, *, method="transform", meta=None):
    """A fitted estimator's ``transform`` (or ``predict``, ``predict_proba``) on a dask collection.

    Each partition (or block) goes to ``estimator.<method>`` where it lies;
    nothing is computed until you ask (``.compute()``, ``.to_parquet()``).
    The network is loaded once per worker process, and the result equals
    the serial call on the same rows.

    Parameters
    ----------
    estimator : fitted estimator or pipeline
        Any fitted sktransfer estimator, or a pipeline ending in one.
    X : dask Series, DataFrame or Array
        A Series of texts or image paths; a DataFrame (a pipeline with a
        ``ColumnTransformer`` takes its columns); or an array of images,
        chunked along its first axis only.
    method : {"transform", "predict", "predict_proba"}, default="transform"
    meta : optional
        For a dask Series or DataFrame X: the empty pandas object of the
        output (dask's ``meta``), for an estimator whose output columns
        cannot be known without running it.

    Returns
    -------
    dask DataFrame (features, or one column per class, named by
    ``get_feature_names_out`` / ``proba_<class>``), dask Series
    (``predict``), or dask Array for an array X; X's index is kept.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> from sktransfer import TextEncoder
    >>> enc = TextEncoder(device="cpu").fit(["a"])
    >>> texts = dd.from_pandas(pd.Series(["a good film", "a bad one", "fine"]), npartitions=2)
    >>> out = dask_transform(enc, texts)
    >>> out.npartitions, out.compute().shape
    (2, (3, 384))
    """
    require("dask", purpose="dask_transform")
    import dask.array as da
    import dask.dataframe as dd
    import pandas as pd

    _check_method(estimator, method)
    if isinstance(X, da.Array):
        if X.ndim > 1 and any(len(c) > 1 for c in X.chunks[1:]):
            raise ValueError(
                "dask_transform: X must be chunked along its first axis only (one sample per "
                f"row, whole); its chunks are {X.chunks}. Use "
                "X.rechunk({i: -1 for i in range(1, X.ndim)})."
            )
        names = _output_names(estimator, method)
        width = 1 if names is None else len(names)
        dtype = {
            "transform": np.dtype(np.float32),
            "predict_proba": np.dtype(np.float64),
            "predict": np.asarray(getattr(estimator, "classes_", [0.0])).dtype,
        }[method]
        out = X.map_blocks(
            _array_block,
            estimator,
            method,
            chunks=(X.chunks[0], (width,)),
            # Axis 1 (one chunk) becomes the output's columns; the others go.
            **({"new_axis": [1]} if X.ndim == 1 else {"drop_axis": list(range(2, X.ndim))}),
            dtype=dtype,
            meta=np.empty((0, width), dtype=dtype),
        )
        return out[:, 0] if method == "predict" else out
    if not isinstance(X, (dd.Series, dd.DataFrame)):
        raise TypeError(
            f"dask_transform takes a dask Series, DataFrame or Array; got {type(X).__name__}. "
            "For data in memory call the estimator itself."
        )
    names = _output_names(estimator, method)
    if meta is None:
        if names is None:
            meta = pd.Series([], dtype=np.asarray(estimator.classes_).dtype, name=method)
        else:
            dtype = "float32" if method == "transform" else "float64"
            meta = pd.DataFrame({n: pd.Series([], dtype=dtype) for n in names})
    return X.map_partitions(_frame_block, estimator, method, names, meta=meta)


class _RayBlock:
    """Ray Data's callable class: each actor unpickles the estimator and loads its network once."""

    def __init__(self, estimator, column, method, output_column):
        self.estimator = estimator
        self.column = column
        self.method = method
        self.output_column = output_column

    def __call__(self, batch):
        rows = batch[self.column] if self.column is not None else batch
        out = np.asarray(_apply(self.estimator, self.method, rows))
        batch = batch.copy()
        batch[self.output_column] = list(out) if out.ndim == 2 else out
        return batch


def ray_transform(
    estimator,
    dataset,
    column=None,
    *,
    method="transform",
    output_column=None,
    concurrency=1,
    num_gpus=None,
    batch_size=256,
    **map_batches_kwargs,
):
    """A fitted estimator's ``transform`` (or ``predict``...) on a Ray Dataset, by actors.

    ``Dataset.map_batches`` with a callable class: each of ``concurrency``
    actors gets the small fitted estimator once and loads its network once,
    then serves batch after batch. The dataset's blocks are what Ray hands
    out: a dataset of one block (``ray.data.from_pandas(df)`` of one
    DataFrame) runs on one actor whatever ``concurrency`` says; give
    ``from_pandas`` a list of frames, or ``dataset.repartition(n)`` first.

    Parameters
    ----------
    estimator : fitted estimator or pipeline
    dataset : ray.data.Dataset
    column : str, optional
        The column of texts or image paths the estimator takes. None gives
        it the whole batch as a pandas DataFrame (a pipeline with a
        ``ColumnTransformer``).
    method : {"transform", "predict", "predict_proba"}, default="transform"
    output_column : str, optional
        Where the output goes (one array per row for ``transform`` and
        ``predict_proba``). Default: "embedding", "prediction" or "proba".
    concurrency : int or tuple, default=1
        Actors (Ray's ``concurrency``; a (min, max) tuple autoscales).
    num_gpus : float, optional
        GPUs per actor (Ray's ``num_gpus``), for an estimator with
        ``device="cuda"`` or ``"auto"``.
    batch_size : int, default=256
        Rows per batch given to the estimator.
    **map_batches_kwargs
        Passed on to ``Dataset.map_batches`` (``num_cpus``, ...).

    Returns
    -------
    ray.data.Dataset
        The input's columns and ``output_column``, lazily evaluated.
    """
    ray_data = require("ray.data", purpose="ray_transform")
    _check_method(estimator, method)
    if not isinstance(dataset, ray_data.Dataset):
        raise TypeError(f"ray_transform takes a ray.data.Dataset; got {type(dataset).__name__}.")
    if column is not None and column not in dataset.columns():
        raise ValueError(
            f"ray_transform: column {column!r} is not in the dataset; its columns are "
            f"{dataset.columns()}."
        )
    default = {"transform": "embedding", "predict": "prediction", "predict_proba": "proba"}
    if num_gpus is not None:
        map_batches_kwargs["num_gpus"] = num_gpus
    return dataset.map_batches(
        _RayBlock,
        fn_constructor_args=(estimator, column, method, output_column or default[method]),
        concurrency=concurrency,
        batch_size=batch_size,
        batch_format="pandas",
        **map_batches_kwargs,
    )
