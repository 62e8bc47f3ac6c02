"""Benchmark: TextEncoder(precision="bfloat16") against raw SentenceTransformer.encode in float32.

The same 2,000 Rotten Tomatoes snippets and the same shipped all-MiniLM-L6-v2,
side by side in one process, each timed ``--repeats`` times (best kept),
cold (``cache=False``: every text through the network):

- ``SentenceTransformer.encode`` in float32 (the peer, and the reference);
- ``TextEncoder()`` in float32;
- ``TextEncoder(precision="bfloat16")``: bfloat16 autocast.

Quality: each bfloat16 embedding's cosine to the float32 one, and the
accuracy of ``LogisticRegression`` on each, by 5-fold cross-validation on the
2,000 labelled snippets. Goal (issue "Scale"): >= 1.5x the raw float32 encode,
cosine >= 0.999, accuracy within 0.5 point.

Run: ``python benchmarks/bench_cpu_precision.py [--threads 2] [--n 2000]``.
"""

import argparse
import json
import time

import _finetune_common as common
import numpy as np


def best_of(repeats, fn):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    common.setup(args.threads)
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from sktransfer import TextEncoder
    from sktransfer.backbones.sentence_transformers_models import minilm_path
    from sktransfer.datasets import load_rotten_tomatoes

    reviews = load_rotten_tomatoes().sample(args.n, random_state=0)
    texts, y = reviews["text"].tolist(), reviews["label"].to_numpy()
    st = SentenceTransformer(str(minilm_path()), device="cpu")
    fp32 = TextEncoder(device="cpu", cache=False).fit(texts[:2])
    bf16 = TextEncoder(device="cpu", cache=False, precision="bfloat16").fit(texts[:2])
    # Warm-up: first calls build kernels and caches.
    st.encode(texts[:64], batch_size=32)
    fp32.transform(texts[:64])
    bf16.transform(texts[:64])

    results = {}
    runs = {
        "SentenceTransformer.encode, float32": lambda: st.encode(texts, batch_size=32),
        "TextEncoder, float32": lambda: fp32.transform(texts),
        'TextEncoder, precision="bfloat16"': lambda: bf16.transform(texts),
    }
    outs = {}
    for name, fn in runs.items():
        seconds, out = best_of(args.repeats, fn)
        outs[name] = np.asarray(out, dtype=np.float32)
        results[name] = {"seconds": seconds}
        print(f"{name}: {seconds:.2f} s", flush=True)

    ref = outs["SentenceTransformer.encode, float32"]
    for name, out in outs.items():
        cos = (ref * out).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(out, axis=1)
        acc = cross_val_score(LogisticRegression(max_iter=2000), out, y, cv=5).mean()
        results[name].update(
            speedup=results["SentenceTransformer.encode, float32"]["seconds"]
            / results[name]["seconds"],
            cosine_min=float(cos.min()),
            cosine_mean=float(cos.mean()),
            accuracy=float(acc),
        )

    print()
    print(f"Machine: {common.machine()}; load {common.load()}; bf16 CPU support: {_bf16_flags()}")
    print(common.versions_line())
    print(f"{args.n} Rotten Tomatoes snippets, cold (no cache), best of {args.repeats}")
    rows = [
        [
            name,
            f"{r['seconds']:.2f}",
            f"{r['speedup']:.2f}x",
            f"{r['cosine_min']:.5f}",
            f"{100 * r['accuracy']:.1f}",
        ]
        for name, r in results.items()
    ]
    header = ["encode", "seconds", "vs raw float32", "min cosine to float32", "LR accuracy %"]
    print(common.md_table(header, rows))
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "cpu_precision.json").write_text(json.dumps(results, indent=1))


def _bf16_flags():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(found) or "none"


if __name__ == "__main__":
    main()
