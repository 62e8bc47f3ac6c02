"""Benchmark: embedding 20,000 real texts serially, on a Dask LocalCluster and with Ray.

The texts: the first 20,000 distinct sentences of the sentiment snippets
(tweets, film and product reviews, opinion pieces; shipped with sktransfer),
through the shipped all-MiniLM-L6-v2, cold (``cache=False``), one torch
thread per worker:

- serial: ``TextEncoder.transform`` in this process, 1 thread;
- Dask: :func:`sktransfer.distributed.dask_transform` on a
  ``distributed.LocalCluster`` of 1 and 2 worker processes (1 thread each),
  the column split into 8 partitions per worker;
- Ray: :func:`sktransfer.distributed.ray_transform` with 1 and 2 actors.

Each engine's time includes what a user waits for: the graph or dataset,
shipping the estimator, each worker loading the network once, and
gathering the result; the clusters' own start-up is timed apart. Reported:
seconds, rows per second, speed-up over serial, overhead (engine time with
1 worker over serial), and whether the output equals the serial one
(max |difference|).

Run: ``python benchmarks/bench_scale_out.py [--n 20000] [--engines dask,ray]``. Needs the
dask and ray extras (``pip install ".[dask,ray]"``).
"""

import argparse
import json
import os
import time

import _finetune_common as common
import numpy as np


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--engines", default="dask,ray", help="comma-separated: dask, ray")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the workers: one thread each
    common.setup(1)
    import dask.dataframe as dd
    import ray
    from distributed import Client, LocalCluster

    from sktransfer import TextEncoder
    from sktransfer.datasets import load_sentiment_snippets
    from sktransfer.distributed import dask_transform, ray_transform

    texts = load_sentiment_snippets()["text"].drop_duplicates().head(args.n).reset_index(drop=True)
    encoder = TextEncoder(device="cpu", cache=False).fit(texts[:2])
    encoder.transform(texts[:64])  # the network loaded and warm in this process
    results = {}
    serial_s, serial = timed(lambda: encoder.transform(texts))
    results["serial, 1 thread"] = {"seconds": serial_s, "workers": 1}
    print(f"serial: {serial_s:.1f} s", flush=True)

    def record(name, seconds, start_s, n, out):
        diff = float(np.abs(out - serial).max())
        results[name] = {
            "seconds": seconds,
            "startup_s": start_s,
            "workers": n,
            "max_abs_diff": diff,
        }
        print(f"{name}: {seconds:.1f} s (start-up {start_s:.1f} s), diff {diff:.1e}", flush=True)

    workers = [int(w) for w in args.workers.split(",")]
    engines = args.engines.split(",")
    for n in workers if "dask" in engines else []:
        start_s, cluster = timed(
            lambda n=n: LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
        )
        with cluster, Client(cluster):
            column = dd.from_pandas(texts, npartitions=8 * n)
            seconds, out = timed(lambda c=column: dask_transform(encoder, c).compute())
        record(f"Dask LocalCluster, {n} worker(s) x 1 thread", seconds, start_s, n, out.to_numpy())

    if "ray" in engines:
        start_s, _ = timed(
            lambda: ray.init(num_cpus=max(workers), include_dashboard=False, log_to_driver=False)
        )
    frame = texts.to_frame("text")
    frame["row"] = np.arange(len(frame))
    for n in workers if "ray" in engines else []:
        # One block per DataFrame given: 8 blocks per actor, as Dask gets 8 partitions per
        # worker (a dataset of one block runs on one actor, whatever the concurrency).
        ds = ray.data.from_pandas(
            [frame.iloc[part] for part in np.array_split(np.arange(len(frame)), 8 * n)]
        )
        seconds, out = timed(
            lambda n=n, ds=ds: ray_transform(
                encoder, ds, "text", concurrency=n, batch_size=256, num_cpus=1
            ).to_pandas()
        )
        emb = np.stack(out.sort_values("row")["embedding"].to_numpy())
        record(f"Ray Data, {n} actor(s) x 1 CPU", seconds, start_s, n, emb)
    if "ray" in engines:
        ray.shutdown()

    print()
    print(f"Machine: {common.machine()}; load {common.load()}")
    print(common.versions_line(extra=("dask", "distributed", "ray")))
    print(f"{len(texts)} distinct sentiment snippets, all-MiniLM-L6-v2, cold, 1 thread per worker")
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                f"{r['seconds']:.1f}",
                f"{len(texts) / r['seconds']:.0f}",
                f"{serial_s / r['seconds']:.2f}x",
                f"{r.get('startup_s', 0):.1f}",
                f"{r.get('max_abs_diff', 0):.1e}",
            ]
        )
    header = ["run", "seconds", "rows/s", "vs serial", "engine start-up s", "max abs diff"]
    print(common.md_table(header, rows))
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "scale_out.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
