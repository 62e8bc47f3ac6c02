"""torch modules, datasets and skorch callbacks of the fine-tuners.

Imported lazily (torch and skorch at the top); everything is at module level
so fitted estimators pickle.
"""

import contextlib
import math

import numpy as np

from .._deps import require
from ._plan import trainable_at_epoch

torch = require("torch", "fine-tuning")
skorch = require("skorch", "fine-tuning")
nn = torch.nn


class Head(nn.Module):
    """The new task head: standardised input, then linear or one hidden layer.

    The input goes through ``BatchNorm1d(affine=False)``, as in MAE's linear
    probe: pooled features come at very different scales (unit-norm sentence
    embeddings, post-ReLU CNN channels), and standardising them lets one
    learning rate train every head quickly.
    """

    def __init__(self, in_dim, out_dim, hidden=None, dropout=0.0):
        super().__init__()
        self.norm = nn.BatchNorm1d(in_dim, affine=False)
        layers = [nn.Dropout(dropout)] if dropout else []
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.GELU()]
            layers += [nn.Dropout(dropout)] if dropout else []
            in_dim = hidden
        layers.append(nn.Linear(in_dim, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        if self.training and x.shape[0] == 1:
            # A last batch of one sample has no batch statistics.
            x = nn.functional.batch_norm(
                x, self.norm.running_mean, self.norm.running_var, training=False, eps=self.norm.eps
            )
        else:
            x = self.norm(x)
        return self.layers(x)


def warmup_steps(warmup_fraction, total):
    """Steps of linear warm-up: ``warmup_fraction`` of ``total``, at least one (0: none)."""
    return max(1, int(warmup_fraction * total)) if warmup_fraction else 0


def warmup_cosine(step, warmup, total):
    """Learning-rate factor of 0-based ``step``: linear warm-up, then cosine decay to 0."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class WarmupCosine(skorch.callbacks.Callback):
    """Linear warm-up then cosine decay to 0, stepped every batch.

    Each parameter group keeps its own base learning rate, so layer-wise
    learning rates decay together.
    """

    def __init__(self, warmup_fraction=0.1):
        self.warmup_fraction = warmup_fraction

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_ = 0
        self.total_ = None
        self.base_lrs_ = [g["lr"] for g in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.total_ is None:
            # The loader's own length: a domain-balanced loader's epoch is
            # not len(dataset) / batch_size steps.
            per_epoch = max(1, len(net.get_iterator(dataset_train, training=True)))
            self.total_ = per_epoch * net.max_epochs
            self.warmup_ = warmup_steps(self.warmup_fraction, self.total_)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        factor = warmup_cosine(self.step_, self.warmup_, self.total_)
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_):
            group["lr"] = base * factor
        self.step_ += 1


class GradualUnfreezing(skorch.callbacks.Callback):
    """Make one more block trainable every ``every`` epochs."""

    def __init__(self, first, last, every):
        self.first = first
        self.last = last
        self.every = every

    def on_epoch_begin(self, net, **kwargs):
        net.module_.set_trainable(
            trainable_at_epoch(self.first, self.last, self.every, len(net.history))
        )


class FiniteLoss(skorch.callbacks.Callback):
    """Stop with a clear error when the training loss is no longer a number (lr too high)."""

    def __init__(self, estimator="the fine-tuner"):
        self.estimator = estimator

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None and not math.isfinite(loss):
            raise ValueError(
                f"{self.estimator}: training diverged: the training loss is {loss} at epoch "
                f"{len(net.history)}. Lower lr (now {net.lr}) or backbone_lr_scale."
            )


class _AmpMixin:
    """Mixed precision (bfloat16 autocast) and pinned memory on CUDA."""

    def _autocast(self):
        if self.amp_ and str(self.device).startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def infer(self, x, **fit_params):
        with self._autocast():
            out = super().infer(x, **fit_params)
        if isinstance(out, tuple):
            # A domain-adaptation module's (y_pred, domain_pred, features, ...).
            return tuple(
                o.float() if torch.is_tensor(o) and o.is_floating_point() else o for o in out
            )
        return out.float()


class TransferNetClassifier(_AmpMixin, skorch.NeuralNetClassifier):
    amp_ = False


class TransferNetRegressor(_AmpMixin, skorch.NeuralNetRegressor):
    amp_ = False


class SampleDataset(torch.utils.data.Dataset):
    """Raw samples, each loaded and transformed per item, with optional targets."""

    def __init__(self, samples, transform, y=None, lengths=None):
        self.samples = samples
        self.transform = transform
        self.y = y
        self.lengths = lengths  # the modality's row_lengths, for batching by length

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.transform(self.samples[i].load()), self.y[i] if self.y is not None else 0


class ArrayDataset(torch.utils.data.Dataset):
    """Rows of an array (cached features or ragged token states), with optional targets."""

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i] if self.y is not None else 0


def row_lengths(dataset):
    """Each row's length (tokens of cached states or of texts), or None (fixed size)."""
    if isinstance(dataset, torch.utils.data.Subset):
        inner = row_lengths(dataset.dataset)
        return None if inner is None else inner[np.asarray(dataset.indices)]
    if hasattr(dataset, "inner"):  # a domain-adaptation dataset
        return row_lengths(dataset.inner)
    if isinstance(dataset, ArrayDataset) and dataset.X.dtype == object:
        return np.asarray([len(x) for x in dataset.X])
    return getattr(dataset, "lengths", None)


def grouped_order(rows, lengths, batch_size, group=16):
    """``rows`` shuffled so that each run of ``batch_size`` holds rows of similar length.

    Rows are shuffled, cut into chunks of ``group`` batches, sorted by length
    within each chunk and batched; the batches are then shuffled (a partial
    batch stays last, so that the loader's batch boundaries fall on them). A
    batch pads to its longest row: this pads far less than random batches,
    while each epoch still draws other batches (as Hugging Face's
    ``LengthGroupedSampler``). Uses torch's global RNG, as skorch's shuffling does.
    """
    rows = np.asarray(rows)
    rows = rows[torch.randperm(len(rows)).numpy()]
    batches = []
    for start in range(0, len(rows), batch_size * group):
        chunk = rows[start : start + batch_size * group]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    partial = [b for b in batches if len(b) < batch_size]
    full = [full[i] for i in torch.randperm(len(full)).tolist()]
    return np.concatenate(full + partial) if batches else rows


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Shuffled rows, batched by similar length (:func:`grouped_order`)."""

    def __init__(self, lengths, batch_size):
        self.lengths = lengths
        self.batch_size = batch_size

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        order = grouped_order(np.arange(len(self.lengths)), self.lengths, self.batch_size)
        return iter(order.tolist())


class TrainLoader(torch.utils.data.DataLoader):
    """skorch's ``iterator_train``: shuffled batches, of rows of similar length for texts.

    Texts of mixed lengths in random batches pad every row to the batch's
    longest; grouping by length cut the padding (and the epoch's time) of
    long, mixed texts.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, **kwargs):
        lengths = row_lengths(dataset) if shuffle and "sampler" not in kwargs else None
        if lengths is None:
            super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
        else:
            sampler = LengthGroupedSampler(lengths, batch_size)
            super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)


def silent(*args, **kwargs):
    """A picklable sink for skorch messages we do not print."""
