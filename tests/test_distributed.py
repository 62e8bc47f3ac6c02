"""sktransfer on Dask and Ray, on this machine: a LocalCluster of 2 worker processes, and a
local Ray instance of 2 CPUs. Real texts (Rotten Tomatoes) through the real MiniLM."""

# The test extras install both engines: a broken install fails here, it is not skipped.
import os

import dask.array as da
import dask.dataframe as dd
import distributed
import joblib
import numpy as np
import pandas as pd
import pytest
import ray
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer import ImageEncoder, TextEncoder
from sktransfer.datasets import load_digit_images, load_rotten_tomatoes
from sktransfer.distributed import dask_transform, ray_transform


@pytest.fixture(scope="module")
def reviews():
    rt = load_rotten_tomatoes().sample(120, random_state=0).reset_index(drop=True)
    rt["n_words"] = rt["text"].str.split().str.len()
    return rt


@pytest.fixture(scope="module")
def client():
    # distributed sets OMP_NUM_THREADS=1, MKL_NUM_THREADS=1 (...) in this
    # process's environment for the workers it spawns, and leaves them: later
    # tests' child processes would inherit them and compute with one thread.
    before = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as c,
        ):
            yield c
    finally:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _pool_size():
    from sktransfer import backbones

    return len(backbones._POOL), sum(b.n_forwarded for b in backbones._POOL.values())


def test_dask_series_equals_the_serial_transform(client, reviews):
    enc = TextEncoder(device="cpu", cache=False).fit(reviews["text"])
    series = dd.from_pandas(reviews["text"], npartitions=6)
    client.run(_clear_pool)
    out = dask_transform(enc, series)
    assert list(out.columns) == list(enc.get_feature_names_out())
    result = out.compute()
    pd.testing.assert_index_equal(result.index, reviews.index)
    np.testing.assert_allclose(result.to_numpy(), enc.transform(reviews["text"]), atol=1e-5)
    # Six partitions on two workers: each worker built the network once, and
    # every text went through it once.
    loads = client.run(_pool_size)
    assert len(loads) == 2 and all(n == 1 for n, _ in loads.values()), loads
    assert sum(rows for _, rows in loads.values()) == len(reviews)


def _clear_pool():
    from sktransfer import backbones

    backbones._POOL.clear()


def test_dask_dataframe_through_a_pipeline_predicts_as_in_memory(client, reviews):
    pipe = make_pipeline(
        make_column_transformer(
            (TextEncoder(device="cpu"), "text"), (StandardScaler(), ["n_words"])
        ),
        LogisticRegression(max_iter=1000),
    ).fit(reviews[["text", "n_words"]], reviews["label"])
    frame = dd.from_pandas(reviews[["text", "n_words"]], npartitions=3)
    predicted = dask_transform(pipe, frame, method="predict").compute()
    np.testing.assert_array_equal(predicted, pipe.predict(reviews[["text", "n_words"]]))
    proba = dask_transform(pipe, frame, method="predict_proba").compute()
    assert list(proba.columns) == [f"proba_{c}" for c in pipe.classes_]
    np.testing.assert_allclose(proba, pipe.predict_proba(reviews[["text", "n_words"]]), atol=1e-6)


def test_dask_array_of_images(client):
    images, _ = load_digit_images()
    images = images[:64]
    enc = ImageEncoder(model="sktransfer/tiny-cnn", device="cpu").fit(images)
    out = dask_transform(enc, da.from_array(images, chunks=(16, 8, 8)))
    assert out.shape == (64, enc.embedding_dim_) and out.dtype == np.float32
    np.testing.assert_allclose(out.compute(), enc.transform(images), atol=1e-5)
    with pytest.raises(ValueError, match="chunked along its first axis only"):
        dask_transform(enc, da.from_array(images, chunks=(16, 4, 8)))


def test_errors_name_what_was_expected(reviews):
    enc = TextEncoder(device="cpu")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        dask_transform(enc, dd.from_pandas(reviews["text"], npartitions=2))
    enc.fit(reviews["text"][:5])
    with pytest.raises(TypeError, match="dask Series, DataFrame or Array"):
        dask_transform(enc, reviews["text"])
    with pytest.raises(ValueError, match="method must be one of"):
        dask_transform(enc, dd.from_pandas(reviews["text"], npartitions=2), method="score")
    with pytest.raises(ValueError, match="has no predict method"):
        dask_transform(enc, dd.from_pandas(reviews["text"], npartitions=2), method="predict")


def test_grid_search_on_the_dask_joblib_backend(client, reviews, tmp_path):
    X, y = reviews["text"], reviews["label"]
    search = GridSearchCV(
        make_pipeline(
            TextEncoder(device="cpu", cache=str(tmp_path)), LogisticRegression(max_iter=1000)
        ),
        {"logisticregression__C": [0.1, 1.0, 10.0]},
        cv=3,
        n_jobs=-1,
    )
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    serial = GridSearchCV(search.estimator, search.param_grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert search.best_params_ == serial.best_params_


def test_ray_dataset_equals_the_serial_transform(ray_local, reviews):
    enc = TextEncoder(device="cpu").fit(reviews["text"])
    ds = ray.data.from_pandas(reviews[["text", "label"]])
    out = ray_transform(enc, ds, "text", concurrency=2, batch_size=32).to_pandas()
    assert list(out.columns) == ["text", "label", "embedding"]
    order = out["text"].map({t: i for i, t in enumerate(reviews["text"])}).to_numpy()
    np.testing.assert_allclose(
        np.stack(out["embedding"].to_numpy()), enc.transform(reviews["text"])[order], atol=1e-5
    )
    with pytest.raises(ValueError, match="column 'review' is not in the dataset"):
        ray_transform(enc, ds, "review")


def test_grid_search_on_the_ray_joblib_backend(ray_local, reviews):
    from ray.util.joblib import register_ray

    register_ray()
    X, y = reviews["text"], reviews["label"]
    search = GridSearchCV(
        make_pipeline(TextEncoder(device="cpu"), LogisticRegression(max_iter=1000)),
        {"logisticregression__C": [0.1, 10.0]},
        cv=2,
        n_jobs=2,
    )
    with joblib.parallel_config(backend="ray"):
        search.fit(X, y)
    serial = GridSearchCV(search.estimator, search.param_grid, cv=2).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_a_missing_engine_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r'pip install "sktransfer\[dask\]"'):
        dask_transform(TextEncoder(), None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "sktransfer\[ray\]"'):
        ray_transform(TextEncoder(), None)
