"""Benchmark: sktransfer's frozen-prefix cache vs plain skorch + Freezer.

Same network (EfficientNet-Lite0, the shipped ImageNet weights), same data
(digits from ``sktransfer.datasets.load_digit_images``, 8x8 grey upsampled to
224x224 RGB by the same preprocessing: shorter side 256 bilinear, centre crop
224, mean 127/255, std 128/255), same number of epochs, batch size, optimiser,
learning rates and schedule, on CPU.

Contenders
----------
sktransfer
    ``ImageClassifier("efficientnet_lite0", n_trainable_blocks=k,
    augment=False, head_init="random", freeze_batchnorm=False, max_epochs=E,
    early_stopping=False, lr=3e-3, batch_size=32, device="cpu", random_state=0)``.
    ``freeze_batchnorm=False`` (not the default for pretrained weights) so
    that the trainable block's BatchNorm trains as in the skorch baseline.
    ``head_init="random"`` (not the default "probe", LP-FT) so that both
    contenders train the same thing from the same kind of start: a random
    head (plus the top block for k=1). With ``augment=False`` the frozen
    blocks' outputs are computed once (``cached_blocks_`` = 9 for k=0, 8 for
    k=1) and each epoch runs only the trainable top. The cache is emptied
    (``clear_cache()``) before each fit, so the one-time fill is measured;
    it is timed by wrapping ``sktransfer.finetune._trainer.compute_features`` (the
    function fit and predict call to fill / read the cache).
plain skorch + Freezer
    ``skorch.NeuralNetClassifier`` whose module is a deep copy of
    ``get_backbone("efficientnet_lite0").net``'s 9 blocks, its global pool
    and a new head, on a float tensor of the preprocessed 224x224 images
    (preprocessed once, before fit, not timed in the epochs).
    ``skorch.callbacks.Freezer`` freezes every block (k=0) or every block but
    the last (k=1); the frozen blocks still run forward every epoch.
    Two variants of the frozen blocks' mode:

    * ``bn=train``: what plain skorch gives. Freezer only sets
      ``requires_grad=False``, so during training the frozen blocks'
      BatchNorm layers normalise with batch statistics and update their
      running statistics (the "frozen" features drift).
    * ``bn=eval``: the module's ``train()`` keeps the frozen blocks in eval
      mode (which is what sktransfer does), so it trains exactly what
      sktransfer trains.

Matched settings: AdamW (weight decay 0.01), lr 3e-3 for the head and, for
k=1, lr 3e-3 * 0.03 = 9e-5 for the trainable block (sktransfer's
``backbone_lr_scale="auto"`` from pretrained weights); the same warm-up
(10 % of the steps) + cosine schedule stepped every batch (skorch
``LRScheduler(LambdaLR, step_every="batch")`` in the baseline); batch 32,
shuffled; no validation split (``train_split=None`` /
``early_stopping=False``); the same head (``BatchNorm1d(affine=False)`` then
``Linear``, sktransfer's head). The baseline seeds torch exactly as
sktransfer does for ``random_state=0`` and builds its head first, so both
start from the same head weights and shuffle the training set in the same
order: with ``bn=eval`` the two run the same optimisation, up to float
rounding (sktransfer's cached features are computed in channels-last
layout), and their accuracies should agree to a sample or two. ``bn=train``
draws extra random numbers (drop-connect in the frozen stages, which run in
training mode), so its shuffling differs after the first batch.

Reported: per-epoch duration from ``net_.history[:, "dur"]`` (first epoch and
mean of the later ones), the one-time cache fill, whole fit time,
later-epoch ratio baseline / sktransfer (target >= 5x), held-out accuracy on
a stratified test split (target: within 1 point).

Usage::

    python benchmarks/bench_finetune_cache.py            # 256 train / 256 test, 4 epochs, k=0,1,
    both bn variants
    python benchmarks/bench_finetune_cache.py --quick    # 96 / 96, 2 epochs, bn=eval only
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _finetune_common as common
import numpy as np


def warmup_cosine(total, warmup_fraction=0.1):
    """The same per-step factor as sktransfer's WarmupCosine, as a LambdaLR lambda."""
    import math

    warmup = max(1, int(warmup_fraction * total))

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def build_baseline_module(torch, n_classes, n_frozen, bn_mode):
    from torch import nn

    from sktransfer.backbones import get_backbone

    # The head is built first, as sktransfer builds its Head before copying
    # the backbone: under the same seed both heads start from the same weights.
    head = nn.Sequential(nn.BatchNorm1d(1280, affine=False), nn.Linear(1280, n_classes))
    src = copy.deepcopy(get_backbone("efficientnet_lite0", device="cpu").net).to("cpu")

    class FullNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(list(src.blocks))
            self.pool = src.pool
            self.head = head

        def train(self, mode=True):
            super().train(mode)
            if bn_mode == "eval":
                for block in self.blocks[:n_frozen]:
                    block.train(False)
            return self

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(self.pool(x))

    return FullNet()


def preprocess_for_baseline(torch, images):
    """uint8 (n, 8, 8) -> normalised float32 (n, 3, 224, 224), the pipeline's own steps."""
    from PIL import Image

    from sktransfer.backbones.efficientnet_lite import PREPROCESS as P

    batch = torch.stack([P.to_uint8_tensor(Image.fromarray(a).convert("RGB")) for a in images])
    return P.normalize(batch)


def run_baseline(torch, Xtr, ytr, Xte, yte, k, epochs, bn_mode, batch_size, lr, seed):
    import skorch
    from skorch.callbacks import Freezer, LRScheduler

    n_classes = int(ytr.max()) + 1
    n_blocks = 9
    n_frozen = n_blocks - k
    # sktransfer seeds torch with this value derived from random_state (in a
    # forked RNG) before building its head and fitting; doing the same gives
    # the same initial head and the same shuffling order, so with bn=eval
    # both contenders run the same optimisation (up to float rounding).
    torch_seed = int(np.random.RandomState(seed).randint(2**31))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        module = build_baseline_module(torch, n_classes, n_frozen, bn_mode)
        steps = int(np.ceil(len(ytr) / batch_size)) * epochs
        frozen = lambda name: name.startswith("blocks.") and int(name.split(".")[1]) < n_frozen  # noqa: E731
        kwargs = {}
        if k:
            kwargs["optimizer__param_groups"] = [(f"blocks.{n_blocks - 1}.*", {"lr": lr * 0.03})]
        net = skorch.NeuralNetClassifier(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.AdamW,
            lr=lr,
            optimizer__weight_decay=0.01,
            max_epochs=epochs,
            batch_size=batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            device="cpu",
            verbose=0,
            callbacks=[
                ("freezer", Freezer(frozen)),
                (
                    "sched",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.LambdaLR,
                        lr_lambda=warmup_cosine(steps),
                        step_every="batch",
                    ),
                ),
            ],
            **kwargs,
        )
        t0 = time.perf_counter()
        net.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t0
    n_trainable = sum(p.numel() for p in net.module_.parameters() if p.requires_grad)
    t0 = time.perf_counter()
    pred = net.predict(Xte)
    pred_s = time.perf_counter() - t0
    acc = float((pred == yte).mean())
    return {
        "dur": [float(d) for d in net.history[:, "dur"]],
        "fit_s": fit_s,
        "predict_s": pred_s,
        "acc": acc,
        "pred": pred.tolist(),
        "fill_s": 0.0,
        "n_trainable_params": n_trainable,
        "train_loss": [float(v) for v in net.history[:, "train_loss"]],
    }


class FillTimer:
    """Wrap the fine-tuners' compute_features (in their trainer) to time the cache fill / reads."""

    def __init__(self):
        import sktransfer.finetune._trainer as ft

        self.ft = ft
        self.orig = ft.compute_features
        self.calls = []

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = self.orig(*args, **kwargs)
            self.calls.append(time.perf_counter() - t0)
            return out

        ft.compute_features = timed

    def take(self):
        calls, self.calls = self.calls, []
        return sum(calls)


def run_sktransfer(torch, timer, Xtr, ytr, Xte, yte, k, epochs, batch_size, lr, seed):
    import sktransfer
    from sktransfer import ImageClassifier

    sktransfer.clear_cache()
    clf = ImageClassifier(
        "efficientnet_lite0",
        n_trainable_blocks=k,
        augment=False,
        head_init="random",
        freeze_batchnorm=False,
        max_epochs=epochs,
        early_stopping=False,
        lr=lr,
        batch_size=batch_size,
        device="cpu",
        random_state=seed,
    )
    timer.take()
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    fill_s = timer.take()
    n_trainable = sum(p.numel() for p in clf.net_.module_.parameters() if p.requires_grad)
    t0 = time.perf_counter()
    pred = clf.predict(Xte)
    pred_s = time.perf_counter() - t0
    pred_fill_s = timer.take()
    acc = float((pred == yte).mean())
    return {
        "dur": [float(d) for d in clf.net_.history[:, "dur"]],
        "fit_s": fit_s,
        "predict_s": pred_s,
        "predict_fill_s": pred_fill_s,
        "acc": acc,
        "pred": pred.tolist(),
        "fill_s": fill_s,
        "cached_blocks": clf.cached_blocks_,
        "n_trainable_params": n_trainable,
        "train_loss": [float(v) for v in clf.net_.history[:, "train_loss"]],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="96 train / 96 test, 2 epochs, bn=eval only"
    )
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--n-test", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--ks", default="0,1", help="n_trainable_blocks values, comma-separated")
    ap.add_argument("--baseline-bn", choices=("both", "eval", "train"), default="both")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(common.OUT / "finetune_cache.md"))
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.baseline_bn = 96, 96, 2, "eval"
    torch = common.setup(args.threads)

    from sklearn.model_selection import train_test_split

    from sktransfer.backbones import get_backbone
    from sktransfer.datasets import load_digit_images

    images, target = load_digit_images()
    Xtr, Xte, ytr, yte = train_test_split(
        images,
        target,
        train_size=args.n_train,
        test_size=args.n_test,
        stratify=target,
        random_state=0,
    )
    ytr = ytr.astype(np.int64)
    get_backbone("efficientnet_lite0", device="cpu")  # load once, untimed for everyone
    t0 = time.perf_counter()
    Ttr = preprocess_for_baseline(torch, Xtr)
    Tte = preprocess_for_baseline(torch, Xte)
    prep_s = time.perf_counter() - t0
    timer = FillTimer()
    ks = [int(k) for k in args.ks.split(",")]
    bn_modes = ["eval", "train"] if args.baseline_bn == "both" else [args.baseline_bn]

    load_before = common.load()
    results = {}
    for k in ks:
        # sktransfer first, then the baselines; each prints as it finishes.
        r = run_sktransfer(
            torch, timer, Xtr, ytr, Xte, yte, k, args.epochs, args.batch_size, args.lr, args.seed
        )
        results[(k, "sktransfer")] = r
        print(
            f"k={k} sktransfer: fill {r['fill_s']:.1f}s dur {np.round(r['dur'], 3)} acc "
            f"{r['acc']:.3f}",
            flush=True,
        )
        for bn in bn_modes:
            r = run_baseline(
                torch, Ttr, ytr, Tte, yte, k, args.epochs, bn, args.batch_size, args.lr, args.seed
            )
            results[(k, f"skorch+Freezer bn={bn}")] = r
            print(
                f"k={k} skorch bn={bn}: dur {np.round(r['dur'], 2)} acc {r['acc']:.3f}", flush=True
            )
    load_after = common.load()

    def later(d):
        return float(np.mean(d[1:])) if len(d) > 1 else float("nan")

    rows = []
    for k in ks:
        ref = results[(k, "sktransfer")]
        for name in ["sktransfer"] + [f"skorch+Freezer bn={bn}" for bn in bn_modes]:
            r = results[(k, name)]
            ratio_later = later(r["dur"]) / later(ref["dur"])
            ratio_first = r["dur"][0] / ref["dur"][0]
            ratio_fit = r["fit_s"] / ref["fit_s"]
            fill = (
                f"{r['fill_s']:.2f} s (cached_blocks_={r['cached_blocks']})"
                if name == "sktransfer"
                else "- (no cache; frozen blocks run every epoch)"
            )
            rows.append(
                [
                    k,
                    name,
                    fill,
                    common.fmt_s(r["dur"][0]),
                    common.fmt_s(later(r["dur"])),
                    common.fmt_s(r["fit_s"]),
                    "1.00x (reference)" if name == "sktransfer" else f"{ratio_later:.0f}x",
                    "1.00x" if name == "sktransfer" else f"{ratio_first:.0f}x",
                    "1.00x" if name == "sktransfer" else f"{ratio_fit:.1f}x",
                    f"{100 * r['acc']:.1f}",
                    "-" if name == "sktransfer" else f"{100 * (r['acc'] - ref['acc']):+.1f}",
                    "-"
                    if name == "sktransfer"
                    else f"{100 * np.mean(np.asarray(r['pred']) == np.asarray(ref['pred'])):.1f}",
                    f"{r['n_trainable_params']:,}",
                ]
            )
    header = [
        "k (n_trainable_blocks)",
        "contender",
        "one-time cache fill (in fit)",
        "epoch 1 (dur)",
        f"mean of epochs 2-{args.epochs} (dur)",
        "whole fit",
        "later-epoch time / sktransfer's",
        "epoch-1 time / sktransfer's",
        "whole fit / sktransfer's",
        "test accuracy %",
        "accuracy − sktransfer's (points)",
        "same test prediction as sktransfer %",
        "trainable params",
    ]
    table = common.md_table(header, rows)
    cmd = "python benchmarks/bench_finetune_cache.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = "\n".join(
        [
            "# Fine-tuning: frozen-prefix cache vs skorch + Freezer",
            "",
            f"Command: `{cmd.strip()}`",
            "",
            f"Machine: {common.machine()}. 1/5/15-min load average {load_before} before and "
            f"{load_after} after (shared machine).",
            "",
            f"Versions: {common.versions_line()}",
            "",
            f"Data: digits, {args.n_train} train / {args.n_test} test (stratified, "
            f"random_state=0), 8x8 grey -> 224x224 RGB; {args.epochs} epochs, batch "
            f"{args.batch_size}, AdamW lr {args.lr} (head), warm-up 10 % + cosine; no validation "
            f"split. Baseline inputs preprocessed once into a float tensor in {prep_s:.1f} s (not "
            "in its "
            "epochs).",
            "",
            table,
            "",
            "Per-epoch durations (s) and train loss:",
            "",
        ]
    )
    for (k, name), r in results.items():
        durations = [round(d, 3) for d in r["dur"]]
        losses = [round(v, 3) for v in r["train_loss"]]
        text += f"- k={k} {name}: dur {durations}, train_loss {losses}"
        if name == "sktransfer":
            text += (
                f", predict {r['predict_s']:.2f} s (of which cache fill for the test images "
                f"{r['predict_fill_s']:.2f} s)"
            )
        else:
            text += f", predict {r['predict_s']:.2f} s"
        text += "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {f"k={k} {n}": r for (k, n), r in results.items()}
            | {"args": vars(args), "prep_s": prep_s},
            indent=1,
        )
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
