"""Fit fixed configurations and save what they predict: run at two commits and compare the files.

A check for changes that must not change behaviour (a restructure): 15 fine-tuning
configurations (tiny and real backbones, cached and not, augmentation, gradual unfreezing,
early stopping, a hidden head with class weights, regressors, domain losses) and three
encoders, each seeded; their predictions and training losses go to one ``.npz``.

Usage::

    python benchmarks/snapshot_predictions.py after.npz
    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python benchmarks/snapshot_predictions.py before.npz
    python benchmarks/snapshot_predictions.py --compare before.npz after.npz
"""

import argparse
import os

import numpy as np


def snapshot(path):
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sklearn
    import torch

    from sktransfer import (
        ImageClassifier,
        ImageEncoder,
        ImageRegressor,
        TextClassifier,
        TextEncoder,
        TextRegressor,
    )
    from sktransfer.adapt import domain_arrays
    from sktransfer.datasets import load_digit_images, load_rotten_tomatoes

    torch.set_num_threads(1)
    images, target = load_digit_images()
    X, y = images[:160], target[:160]
    df = load_rotten_tomatoes().sample(200, random_state=0)
    texts, labels = list(df["text"]), df["label"].to_numpy()
    seeded = dict(device="cpu", random_state=0)
    cnn, tiny = "sktransfer/tiny-cnn", "sktransfer/tiny-text"
    configs = {
        "img_k0": lambda: ImageClassifier(cnn, max_epochs=3, **seeded),
        "img_k1_aug": lambda: ImageClassifier(cnn, n_trainable_blocks=1, max_epochs=3, **seeded),
        "img_k1_noaug": lambda: ImageClassifier(
            cnn, n_trainable_blocks=1, augment=False, max_epochs=3, **seeded
        ),
        "img_all": lambda: ImageClassifier(
            cnn, n_trainable_blocks="all", augment=False, max_epochs=3, **seeded
        ),
        "img_scratch": lambda: ImageClassifier(
            cnn, weights=None, n_trainable_blocks="all", augment="flip", max_epochs=3, **seeded
        ),
        "img_unfreeze": lambda: ImageClassifier(
            cnn,
            n_trainable_blocks=1,
            unfreeze_every=1,
            augment=False,
            max_epochs=3,
            layer_decay=0.5,
            **seeded,
        ),
        "img_es": lambda: ImageClassifier(
            cnn,
            n_trainable_blocks=1,
            augment=False,
            max_epochs=4,
            early_stopping=True,
            validation_fraction=0.3,
            **seeded,
        ),
        "img_reg": lambda: ImageRegressor(
            cnn, n_trainable_blocks=1, augment=False, max_epochs=3, **seeded
        ),
        "img_hidden": lambda: ImageClassifier(
            cnn,
            module__hidden=16,
            module__dropout=0.1,
            max_epochs=3,
            class_weight="balanced",
            **seeded,
        ),
        "txt_k0": lambda: TextClassifier(tiny, max_epochs=3, **seeded),
        "txt_k1": lambda: TextClassifier(tiny, n_trainable_blocks=1, max_epochs=3, **seeded),
        "txt_reg": lambda: TextRegressor(tiny, n_trainable_blocks="all", max_epochs=3, **seeded),
        "lite_k1": lambda: ImageClassifier(
            "efficientnet_lite0", n_trainable_blocks=1, augment=False, max_epochs=2, **seeded
        ),
        "minilm_k2": lambda: TextClassifier(
            "all-MiniLM-L6-v2", n_trainable_blocks=2, max_epochs=2, **seeded
        ),
        "minilm_k0": lambda: TextClassifier("all-MiniLM-L6-v2", max_epochs=2, **seeded),
    }
    out = {}
    for name, make in configs.items():
        text = name.startswith(("txt", "minilm"))
        Xa, ya = (texts, labels) if text else (X, y)
        if name.endswith("reg"):
            ya = np.array([len(t) for t in Xa], dtype=float) if text else ya.astype(float) * 1.5 + 2
        n = 80 if name.startswith(("lite", "minilm")) else len(ya)
        est = make().fit(Xa[:n], ya[:n])
        pred = est.predict(Xa[:60]) if name.endswith("reg") else est.predict_proba(Xa[:60])
        out[name] = np.asarray(pred, dtype=np.float64)
        out[name + "_loss"] = np.asarray(est.history_[:, "train_loss"], dtype=np.float64)
        print(name, est.cached_blocks_, est.n_trainable_blocks_, est.max_epochs_, flush=True)
    with sklearn.config_context(enable_metadata_routing=True):
        Xd, yd, sd = domain_arrays(images[:100], target[:100], 255 - images[100:200])
        for loss in ("dann", "deepcoral", "dann+mcc"):
            est = ImageClassifier(
                cnn, n_trainable_blocks=1, augment=False, max_epochs=3, domain_loss=loss, **seeded
            ).fit(Xd, yd, sample_domain=sd)
            out["da_" + loss] = est.predict_proba(Xd[:60]).astype(np.float64)
    out["enc_img"] = ImageEncoder(cnn, layer=1).fit(X).transform(X[:30]).astype(np.float64)
    out["enc_txt"] = TextEncoder(tiny).fit(texts).transform(texts[:30]).astype(np.float64)
    out["enc_minilm"] = TextEncoder().fit(texts[:30]).transform(texts[:30]).astype(np.float64)
    np.savez(path, **out)
    print("saved", path)


def compare(before, after):
    a, b = np.load(before), np.load(after)
    worst = 0.0
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files or a[key].shape != b[key].shape:
            print(f"{key}: missing or another shape")
            worst = np.inf
            continue
        diff = float(np.abs(a[key] - b[key]).max())
        worst = max(worst, diff)
        print(f"{key:20s} {diff:.3g}")
    print(f"largest difference: {worst:.3g}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--compare", action="store_true", help="compare two saved snapshots")
    args = ap.parse_args()
    if args.compare:
        compare(*args.paths)
    else:
        snapshot(args.paths[0])
