"""Benchmark: the CUDA path (bfloat16 autocast, pinned memory) against the CPU, on one machine.

For each estimator, the same fit or encode runs with ``device="cpu"`` and
``device="cuda"`` on the same rows, and the script reports the time of each,
the speed-up, and how closely the CUDA results match the CPU ones:

* ``TextEncoder`` (all-MiniLM-L6-v2), 2,000 Rotten Tomatoes snippets: the
  smallest cosine similarity between a row's CPU and CUDA embedding;
* ``ImageEncoder`` (EfficientNet-Lite0), 500 digit images: the largest
  difference between the two feature matrices, relative to their scale;
* ``TextClassifier(n_trainable_blocks=2)``, 1,000 snippets to train, 1,000 to
  test; ``ImageClassifier(n_trainable_blocks=1, augment=False)``, 500 digits
  to train, 500 to test: test accuracy on each device, the share of test rows
  predicted alike, and the largest difference of a predicted probability;
* ``TextClassifier(domain_loss="dann")`` with 500 unlabelled tweets: that
  the adapted fit runs under autocast, and its time on each device.

CUDA fine-tuning runs under bfloat16 autocast (8 bits of mantissa), so the
two devices' training paths part slowly; predictions are compared, not
weights. Without CUDA the script stops with a message.

Run: ``python benchmarks/bench_gpu.py`` on a machine with a CUDA GPU;
``--quick`` for a smoke run (a fifth of the rows, one epoch; CPU only if no
GPU, to check the script itself).
"""

import argparse
import json
import time
import warnings

import _finetune_common as common
import numpy as np


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def on_devices(devices, make, fit_rows, test_rows):
    """Fit ``make(device)`` on each device (``fit_rows``: args, kwargs); results per device."""
    from sktransfer import clear_cache

    out = {}
    for device in devices:
        clear_cache()
        est = make(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, fit_s = timed(lambda est=est: (est.fit(*fit_rows[0], **fit_rows[1]), sync()))
        proba = est.predict_proba(test_rows[0])
        pred = est.classes_[proba.argmax(1)]
        out[device] = {
            "fit_s": fit_s,
            "accuracy": float((pred == test_rows[1]).mean()),
            "epochs": len(est.history_),
            "helped": est.fine_tuning_helped_,
            "proba": proba,
            "pred": pred,
        }
        print(device, {k: v for k, v in out[device].items() if k not in ("proba", "pred")})
    return out


def encode_on(devices, encoder, model, X, n, results):
    """Encode the first ``n`` rows of ``X`` on each device; the features per device."""
    from sktransfer import clear_cache

    out = {}
    for device in devices:
        clear_cache()
        enc = encoder(model=model, device=device, cache=False).fit(X[:8])
        out[device], s = timed(lambda enc=enc: (enc.transform(X[:n]), sync())[0])
        kind = "text" if encoder.__name__.startswith("Text") else "image"
        results[f"{kind} encode {device}"] = {"rows": n, "s": s, "rows_per_s": n / s}
    return out


def compare(res, devices):
    row = {d: {k: v for k, v in res[d].items() if k not in ("proba", "pred")} for d in devices}
    if len(devices) == 2:
        a, b = (res[d] for d in devices)
        row["agreement"] = float((a["pred"] == b["pred"]).mean())
        row["max_proba_diff"] = float(np.abs(a["proba"] - b["proba"]).max())
        row["speed_up"] = a["fit_s"] / b["fit_s"]
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import os

    torch = common.setup(args.threads or os.cpu_count())
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    if devices == ["cpu"] and not args.quick:
        raise SystemExit("No CUDA GPU here: run with --quick to check the script on the CPU.")
    if torch.cuda.is_available():
        print("GPU:", torch.cuda.get_device_name(0))
    from sktransfer import (
        ImageClassifier,
        ImageEncoder,
        TextClassifier,
        TextEncoder,
    )
    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes, load_sentiment_snippets

    scale = 5 if args.quick else 1
    epochs = 1 if args.quick else 4
    rt = load_rotten_tomatoes().sample(frac=1.0, random_state=0)
    texts, labels = rt["text"].tolist(), (rt["label"] == "fresh").to_numpy().astype(int)
    images, digits = load_digit_images()
    results = {"machine": common.machine(), "versions": common.versions()}

    # Encoders: one frozen pass each, the cache emptied before each.
    emb = encode_on(devices, TextEncoder, "all-MiniLM-L6-v2", texts, 2000 // scale, results)
    if len(devices) == 2:
        a, b = emb["cpu"], emb["cuda"]
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        results["text encode min cosine"] = float(cos.min())
    feats = encode_on(devices, ImageEncoder, "efficientnet_lite0", images, 500 // scale, results)
    if len(devices) == 2:
        diff = np.abs(feats["cpu"] - feats["cuda"]).max() / np.abs(feats["cpu"]).max()
        results["image encode max relative diff"] = float(diff)
    print(json.dumps(results, indent=1, default=str), flush=True)

    n = 1000 // scale
    res = on_devices(
        devices,
        lambda d: TextClassifier(
            model="all-MiniLM-L6-v2",
            n_trainable_blocks=2,
            max_epochs=epochs,
            device=d,
            random_state=0,
        ),
        ((texts[:n], labels[:n]), {}),
        (texts[n : 2 * n], labels[n : 2 * n]),
    )
    results["TextClassifier k=2"] = compare(res, devices)
    n = 500 // scale
    res = on_devices(
        devices,
        lambda d: ImageClassifier(
            model="efficientnet_lite0",
            n_trainable_blocks=1,
            augment=False,
            max_epochs=epochs,
            device=d,
            random_state=0,
        ),
        ((images[:n], digits[:n]), {}),
        (images[n : 2 * n], digits[n : 2 * n]),
    )
    results["ImageClassifier k=1"] = compare(res, devices)

    tweets = load_sentiment_snippets("tweets")["text"].tolist()[: 500 // scale]
    n = 1000 // scale
    res = on_devices(
        devices,
        lambda d: TextClassifier(
            model="all-MiniLM-L6-v2",
            n_trainable_blocks=2,
            max_epochs=max(1, epochs // 2),
            domain_loss="dann",
            device=d,
            random_state=0,
        ),
        # skada's layout: target rows carry sample_domain -1 and label -1.
        (
            (texts[:n] + tweets, np.r_[labels[:n], [-1] * len(tweets)]),
            {"sample_domain": np.r_[np.ones(n, int), -np.ones(len(tweets), int)]},
        ),
        (texts[n : 2 * n], labels[n : 2 * n]),
    )
    results["TextClassifier k=2 dann"] = compare(res, devices)
    print(json.dumps(results, indent=1, default=str), flush=True)
    common.OUT.mkdir(exist_ok=True)
    (common.OUT / "gpu.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
