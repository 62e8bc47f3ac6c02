"""torch modules shared by the backbone families: block networks, and the modules that tune them.

Imported lazily (torch at the top); everything is at module level so fitted
networks pickle. Freeze depth is one rule here, counted from the top: a
module's ``set_trainable(k)`` makes its top ``k`` blocks trainable and keeps
the others frozen and in eval mode.
"""

from .._deps import require

torch = require("torch", "sktransfer's networks")
nn = torch.nn


def global_pool(x):
    """Average over every axis but batch and channels: (n, c, ...) -> (n, c)."""
    if x.dim() == 2:
        return x
    if x.dim() == 3:  # token sequences (n, tokens, d)
        return x.mean(dim=1)
    return x.flatten(2).mean(dim=2)


class GlobalPool(nn.Module):
    """Global average pooling followed by flattening."""

    def forward(self, x):
        return global_pool(x)


class InputNorm(nn.Module):
    """uint8 image batch -> float, normalised with the weights' mean and std."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        return (x.float() / 255.0 - self.mean) / self.std


class BlockNet(nn.Module):
    """Named blocks run in order, then a pooling module.

    ``forward(x, layer=None)`` stops after block ``layer`` and globally pools
    that block's output, so every block can serve as a feature layer; the
    network can also start from any block's input (the cached output of the
    blocks below).
    """

    def __init__(self, blocks, pool):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool

    def forward(self, x, layer=None):
        last = len(self.blocks) - 1
        stop = last if layer is None else layer
        x = self.run_blocks(x, 0, stop)
        if stop == last:
            return self.pool(x)
        return global_pool(x)

    def run_blocks(self, x, start, stop):
        """Raw output of blocks ``start`` .. ``stop`` (inclusive) applied to x."""
        for block in self.blocks[start : stop + 1]:
            x = block(x)
        return x

    def block_output(self, x, layer):
        return self.run_blocks(x, 0, layer)

    def can_start_at(self, block):
        return True

    def transfer_net(self, start, head, n_trainable, input_module=None, freeze_batchnorm=False):
        """Blocks ``start`` and up, the pool and ``head``; the top ``n_trainable`` blocks train."""
        norm = input_module if start == 0 else None
        return BlockTransferNet(
            list(self.blocks)[start:], self.pool, head, n_trainable, norm, freeze_batchnorm
        )


class _Trainable:
    """Blocks below the top ``n_trainable`` get no gradients and stay in eval mode.

    Eval mode keeps a frozen block's BatchNorm running statistics and
    dropout exactly as pretrained, which ``requires_grad=False`` alone does
    not.
    """

    def set_trainable(self, n_trainable):
        self.n_frozen = max(0, len(self.blocks) - int(n_trainable))
        for i, block in enumerate(self.blocks):
            for p in block.parameters():
                p.requires_grad_(i >= self.n_frozen)
        for p in self.extra_parameters():
            p.requires_grad_(self.extras_train())
        self.train(self.training)

    def extra_parameters(self):
        """Trainable parameters outside the blocks and the head."""
        return []

    def extras_train(self):
        return self.n_frozen == 0

    def train(self, mode=True):
        super().train(mode)
        for block in self.blocks[: self.n_frozen]:
            block.train(False)
        return self


class BlockTransferNet(_Trainable, nn.Module):
    """A block network's blocks (from the first uncached one), its pool, and a new head.

    When the lower blocks' outputs come from the cache the module starts at
    the first block it must run; ``blocks`` holds only those, and ``norm``
    is the identity.
    """

    def __init__(self, blocks, pool, head, n_trainable, norm=None, freeze_batchnorm=False):
        super().__init__()
        self.norm = norm if norm is not None else nn.Identity()
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool
        self.head = head
        self.n_frozen = 0
        self.freeze_batchnorm = bool(freeze_batchnorm)
        self.set_trainable(n_trainable)

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

    def extra_parameters(self):
        # The pool's own weights (ConvNeXt's and ViT's final norm) sit above
        # the top block: they train with it.
        return list(self.pool.parameters()) if len(self.blocks) else []

    def extras_train(self):
        return self.n_frozen < len(self.blocks)

    def forward(self, x):
        x = self.norm(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


class TextTransferNet(_Trainable, nn.Module):
    """A text network (blocks: embeddings, layers...) and a new head.

    ``encoder`` is a copy of the backbone's net: ``encoder(features)`` gives
    sentence embeddings and ``encoder.tokenize(texts)`` its inputs, which
    :meth:`collate` builds for each batch (dynamic padding).
    """

    def __init__(self, encoder, head, n_trainable):
        super().__init__()
        # Blocks first: named_parameters() then names their weights
        # "blocks.<i>...", which the layer-wise learning rates match on.
        self.blocks = nn.ModuleList(list(encoder.blocks))
        self.encoder = encoder
        self.head = head
        self.n_frozen = 0
        block_params = {id(p) for b in self.blocks for p in b.parameters()}
        self._extra_ids = [id(p) for p in encoder.parameters() if id(p) not in block_params]
        self.set_trainable(n_trainable)

    def extra_parameters(self):
        # Parameters outside the blocks (e.g. an unused pooler) train only
        # when everything does.
        ids = set(self._extra_ids)
        return [p for p in self.encoder.parameters() if id(p) in ids]

    def collate(self, batch):
        texts = [b[0] for b in batch]
        return self.encoder.tokenize(texts), torch.utils.data.default_collate([b[1] for b in batch])

    def forward(self, **features):
        return self.head(self.encoder(features))


class CachedTextNet(TextTransferNet):
    """The top layers of a text network, run from cached token-level outputs of the frozen ones.

    ``encoder`` has had its lowest blocks dropped (``drop_blocks``); the
    module takes their padded outputs and attention mask (:meth:`collate`).
    """

    def collate(self, batch):
        return collate_states(batch)

    def forward(self, states, attention_mask):
        return self.head(self.encoder.forward_states(states, attention_mask))


class CachedHeadNet(nn.Module):
    """Only the head, on features computed once from a fully frozen backbone."""

    def __init__(self, head):
        super().__init__()
        self.head = head
        self.blocks = nn.ModuleList()
        self.n_frozen = 0

    def set_trainable(self, n_trainable):
        pass

    def forward(self, x):
        return self.head(x)


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
