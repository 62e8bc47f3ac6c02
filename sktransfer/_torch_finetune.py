"""torch modules and skorch callbacks of the fine-tuning estimators.

Imported lazily (it imports torch and skorch at the top); everything is at
module level so fitted estimators pickle.
"""

import math

import torch
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback
from torch import nn


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
            x = nn.functional.batch_norm(x, self.norm.running_mean, self.norm.running_var,
                                         training=False, eps=self.norm.eps)
        else:
            x = self.norm(x)
        return self.layers(x)


class _FreezableMixin:
    """Blocks below ``n_frozen`` get no gradients and stay in eval mode.

    Eval mode keeps a frozen block's BatchNorm running statistics and
    dropout exactly as pretrained, which ``requires_grad=False`` alone does
    not.
    """

    def set_frozen(self, n_frozen):
        self.n_frozen = int(n_frozen)
        for i, block in enumerate(self.blocks):
            for p in block.parameters():
                p.requires_grad_(i >= self.n_frozen)
        for p in self.frozen_extras():
            p.requires_grad_(self.n_frozen == 0)
        self.train(self.training)

    def frozen_extras(self):
        return []

    def train(self, mode=True):
        super().train(mode)
        for block in self.blocks[: self.n_frozen]:
            block.train(False)
        return self


class InputNorm(nn.Module):
    """uint8 image batch -> float, normalised with the weights' mean and std."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        return (x.float() / 255.0 - self.mean) / self.std


class ImageTransferNet(_FreezableMixin, nn.Module):
    """The backbone's blocks (from the first uncached one), its pool, a new head.

    When the lower blocks' outputs come from the cache the module starts at
    the first block it must run; ``blocks`` holds only those, and ``norm``
    is the identity.
    """

    def __init__(self, blocks, pool, head, n_frozen, norm=None, freeze_batchnorm=False):
        super().__init__()
        self.norm = norm if norm is not None else nn.Identity()
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool
        self.head = head
        self.n_frozen = 0
        self.freeze_batchnorm = bool(freeze_batchnorm)
        self.set_frozen(n_frozen)

    def train(self, mode=True):
        super().train(mode)
        if self.freeze_batchnorm:
            # Pretrained running statistics normalise the trainable blocks in
            # training as in evaluation; updating them with a small momentum
            # (0.01 in EfficientNet-Lite) leaves evaluation with statistics
            # that match neither the old nor the new data.
            for block in self.blocks:
                for m in block.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.train(False)
        return self

    def frozen_extras(self):
        # The pool's own weights (ConvNeXt's and ViT's final norm) sit above
        # the top block: they train with it.
        return [] if not self.blocks else list(self.pool.parameters())

    def forward(self, x):
        x = self.norm(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


class TextTransferNet(_FreezableMixin, nn.Module):
    """A text backbone network (blocks: embeddings, layers...) and a new head.

    ``encoder`` is a copy of the backbone's net: ``encoder(features)`` gives
    sentence embeddings and ``encoder.tokenize(texts)`` its inputs.
    """

    def __init__(self, encoder, head, n_frozen):
        super().__init__()
        # Blocks first: named_parameters() then names their weights
        # "blocks.<i>...", which the layer-wise learning rates match on.
        self.blocks = nn.ModuleList(list(encoder.blocks))
        self.encoder = encoder
        self.head = head
        self.n_frozen = 0
        block_params = {id(p) for b in self.blocks for p in b.parameters()}
        self._extra_ids = [id(p) for p in encoder.parameters() if id(p) not in block_params]
        self.set_frozen(n_frozen)

    def frozen_extras(self):
        ids = set(self._extra_ids)
        # Parameters outside the blocks (e.g. an unused pooler) train only
        # when everything does.
        return [p for p in self.encoder.parameters() if id(p) in ids]

    def forward(self, **features):
        return self.head(self.encoder(features))


class CachedTextNet(TextTransferNet):
    """The top layers of a text backbone, run from cached token-level outputs of the frozen ones.

    ``encoder`` has had its lowest blocks dropped (``drop_blocks``); the
    module takes their padded outputs and attention mask (``StatesCollate``).
    """

    def forward(self, states, attention_mask):
        return self.head(self.encoder.forward_states(states, attention_mask))


class CachedHeadNet(nn.Module):
    """Only the head, on features computed once from a fully frozen backbone."""

    def __init__(self, head):
        super().__init__()
        self.head = head
        self.blocks = nn.ModuleList()

    def set_frozen(self, n_frozen):
        pass

    def forward(self, x):
        return self.head(x)


class WarmupCosine(Callback):
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
            self.warmup_ = max(1, int(self.warmup_fraction * self.total_)) if self.warmup_fraction else 0

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        step = self.step_
        if self.warmup_ and step < self.warmup_:
            factor = (step + 1) / self.warmup_
        else:
            progress = (step - self.warmup_) / max(1, self.total_ - self.warmup_)
            factor = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_):
            group["lr"] = base * factor
        self.step_ += 1


class GradualUnfreezing(Callback):
    """Make one more block trainable every ``every`` epochs."""

    def __init__(self, first, last, every):
        self.first = first
        self.last = last
        self.every = every

    def on_epoch_begin(self, net, **kwargs):
        from ._freeze import trainable_at_epoch

        epoch = len(net.history)
        k = trainable_at_epoch(self.first, self.last, self.every, epoch)
        n_blocks = len(net.module_.blocks)
        net.module_.set_frozen(max(0, n_blocks - k))


class _AmpMixin:
    """Mixed precision (bfloat16 autocast) and pinned memory on CUDA."""

    def _autocast(self):
        if self.amp_ and str(self.device).startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        import contextlib

        return contextlib.nullcontext()

    def infer(self, x, **fit_params):
        with self._autocast():
            out = super().infer(x, **fit_params)
        if isinstance(out, tuple):
            # A domain-adaptation module's (y_pred, domain_pred, features, ...).
            return tuple(o.float() if torch.is_tensor(o) and o.is_floating_point() else o for o in out)
        return out.float()


class TransferNetClassifier(_AmpMixin, NeuralNetClassifier):
    amp_ = False


class TransferNetRegressor(_AmpMixin, NeuralNetRegressor):
    amp_ = False


class SampleDataset(torch.utils.data.Dataset):
    """Raw samples (texts, or images decoded per item) with optional targets."""

    def __init__(self, samples, y=None, image_transform=None):
        self.samples = samples
        self.y = y
        self.image_transform = image_transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        sample = self.samples[i]
        x = sample.text if hasattr(sample, "text") else self.image_transform(sample.load())
        yi = self.y[i] if self.y is not None else 0
        return x, yi


class TextCollate:
    """Tokenise a batch of texts with dynamic padding (and truncation)."""

    def __init__(self, encoder):
        self.encoder = encoder

    def __call__(self, batch):
        texts = [b[0] for b in batch]
        features = self.encoder.tokenize(texts)
        ys = torch.utils.data.default_collate([b[1] for b in batch])
        return features, ys


class StatesDataset(torch.utils.data.Dataset):
    """Cached token-level states (one (tokens, dim) array per text) with optional targets."""

    def __init__(self, states, y=None):
        self.states = states
        self.y = y

    def __len__(self):
        return len(self.states)

    def __getitem__(self, i):
        return self.states[i], self.y[i] if self.y is not None else 0


def collate_states(batch):
    """Pad a batch of (tokens, dim) arrays on the right; mask the padding."""
    lengths = [len(b[0]) for b in batch]
    dim = batch[0][0].shape[1]
    states = torch.zeros(len(batch), max(lengths), dim)
    mask = torch.zeros(len(batch), max(lengths), dtype=torch.long)
    for i, (b, n) in enumerate(zip(batch, lengths)):
        states[i, :n] = torch.from_numpy(b[0])
        mask[i, :n] = 1
    ys = torch.utils.data.default_collate([b[1] for b in batch])
    return {"states": states, "attention_mask": mask}, ys


class ImageTransform:
    """PIL image -> uint8 tensor: eval preprocessing, or random augmentation."""

    def __init__(self, preprocess, augment):
        self.preprocess = preprocess
        self.augment = augment
        self._aug = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_aug"] = None
        return state

    def __call__(self, img):
        if not self.augment:
            return self.preprocess.to_uint8_tensor(img)
        if self._aug is None:
            from torchvision.transforms import v2

            size = self.preprocess.crop_size
            ops = [v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True)]
            if self.augment == "flip":
                ops.append(v2.RandomHorizontalFlip())
            ops += [v2.ColorJitter(0.2, 0.2, 0.2), v2.PILToTensor()]
            self._aug = v2.Compose(ops)
        return self._aug(img)
