"""torch ``nn.Module`` classes used by the backbones.

This module imports torch at the top, so only code that already needs torch
imports it (lazily); the classes live at module level so fitted networks pickle.
"""

import torch
from torch import nn


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


class NormPool(nn.Module):
    """Global average pooling, then a norm layer (ConvNeXt's head does this)."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        x = x.mean(dim=(2, 3), keepdim=True)
        return torch.flatten(self.norm(x), 1)


class ChannelsLastNormPool(nn.Module):
    """Swin's head: LayerNorm over channels of an NHWC map, then global average pooling.

    Intermediate stages have fewer channels than the norm expects; their
    maps are only pooled.
    """

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        if x.shape[-1] == self.norm.normalized_shape[0]:
            x = self.norm(x)
        return x.mean(dim=(1, 2))


class InceptionInput(nn.Module):
    """GoogLeNet's and Inception-v3's ``transform_input``: ImageNet-normalised input to [-1, 1].

    torchvision turns it on with their ImageNet weights, which were trained
    on inputs scaled that way. Kept as buffers (identity 1 and 0 when off),
    so it is part of the backbone's content hash.
    """

    def __init__(self, enabled, device=None):
        super().__init__()
        # torchvision's constants, computed in double as it does, then float32.
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        scale = [s / 0.5 for s in std] if enabled else [1.0] * 3
        shift = [(m - 0.5) / 0.5 for m in mean] if enabled else [0.0] * 3
        self.register_buffer("scale", torch.tensor(scale, device=device).view(1, 3, 1, 1))
        self.register_buffer("shift", torch.tensor(shift, device=device).view(1, 3, 1, 1))

    def forward(self, x):
        return x * self.scale + self.shift


class BlockNet(nn.Module):
    """Named blocks run in order, then a pooling module.

    ``forward(x, layer=None)`` stops after block ``layer`` and globally pools
    that block's output, so every block can serve as a feature layer.
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


class ViTStem(nn.Module):
    """Patch embedding, class token and position embedding of torchvision's ViT."""

    def __init__(self, vit):
        super().__init__()
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout
        self.patch_size = vit.patch_size
        self.hidden_dim = vit.hidden_dim

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.dropout(x + self.pos_embedding)


class ClassTokenPool(nn.Module):
    """Final LayerNorm of a ViT, then the class token."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        return self.norm(x)[:, 0]


class ConvBNReLU6(nn.Module):
    """Convolution, BatchNorm, ReLU6: EfficientNet-Lite's stem and head."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class EfficientNetLiteStage(nn.Module):
    """Consecutive MBConv blocks of one stage, with their drop-connect rates."""

    def __init__(self, blocks, rates):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.rates = list(rates)

    def forward(self, x):
        for block, rate in zip(self.blocks, self.rates):
            x = block(x, drop_connect_rate=rate)
        return x


class _InjectedEmbeddings(nn.Module):
    """Stands in for a transformer's embedding layer: returns the hidden states set just before the call."""

    def __init__(self):
        super().__init__()
        self.value = None

    def forward(self, *args, **kwargs):
        value, self.value = self.value, None
        return value


class _StopForward(Exception):
    pass


class SentenceTransformerNet(nn.Module):
    """A SentenceTransformer whose transformer layers are exposed as blocks.

    The forward pass is sentence-transformers' own (so pooling and
    normalisation follow the model's config); ``blocks`` lists the embedding
    layer and each transformer layer in order, for freezing. When ``slots``
    locates the embedding layer and the list of layers, the net can also
    return the token-level output of a lower block (``hidden_states``) and
    run the blocks above it from there (``drop_blocks`` then
    ``forward_states``): a fine-tune with frozen lower layers caches their
    outputs.
    """

    def __init__(self, model, blocks, slots=None):
        super().__init__()
        self.model = model
        self.blocks = nn.ModuleList(blocks)
        self.slots = slots
        self.n_dropped = 0
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = get_dim()

    @property
    def token_level(self):
        """Whether lower blocks' token-level outputs can stand in for them."""
        return self.slots is not None

    def tokenize(self, texts):
        # sentence-transformers >= 6 renamed tokenize() to preprocess().
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        return {k: v for k, v in prepare(list(texts)).items() if torch.is_tensor(v)}

    def forward(self, features, layer=None):
        if layer is not None and layer != len(self.blocks) - 1:
            raise ValueError("text backbones only give sentence embeddings of the last layer")
        return self.model(features)["sentence_embedding"]

    def hidden_states(self, features, layer):
        """Token-level output (batch, tokens, dim) of block ``layer``; the blocks above do not run."""
        captured = {}

        def hook(module, args, out):
            captured["h"] = out[0] if isinstance(out, tuple) else out
            raise _StopForward

        handle = self.blocks[layer].register_forward_hook(hook)
        try:
            self.model(features)
        except _StopForward:
            pass
        finally:
            handle.remove()
        return captured["h"]

    def drop_blocks(self, n):
        """Remove the lowest ``n`` blocks; ``forward_states`` then takes the output of block ``n - 1``."""
        if not self.token_level or self.n_dropped or not 1 <= n < len(self.blocks):
            raise ValueError(f"cannot drop {n} of {len(self.blocks)} blocks here")
        base, emb_attr, owner, attr = self.slots
        setattr(base, emb_attr, _InjectedEmbeddings())
        setattr(owner, attr, nn.ModuleList(list(getattr(owner, attr))[n - 1 :]))
        self.blocks = nn.ModuleList(list(self.blocks)[n:])
        self.n_dropped = n
        return self

    def forward_states(self, states, attention_mask):
        """Sentence embeddings from block ``n_dropped - 1``'s outputs (padded) and their mask."""
        base, emb_attr, _, _ = self.slots
        getattr(base, emb_attr).value = states
        # Dummy ids: the model reads their shape; the injected layer ignores them.
        ids = torch.zeros(attention_mask.shape, dtype=torch.long, device=attention_mask.device)
        return self.model({"input_ids": ids, "attention_mask": attention_mask})["sentence_embedding"]


class TinyTextNet(nn.Module):
    """A tiny deterministic text network for tests: hashed bytes -> 2 blocks."""

    def __init__(self, vocab=257, dim=8, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.embed = nn.EmbeddingBag(vocab, 16, mode="mean")
        self.proj = nn.Linear(16, dim)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(vocab, 16, generator=gen))
            self.proj.weight.copy_(torch.randn(dim, 16, generator=gen) / 4)
            self.proj.bias.zero_()
        self.blocks = nn.ModuleList([self.embed, self.proj])
        self.dim = dim

    def tokenize(self, texts):
        ids, offsets = [], []
        for text in texts:
            offsets.append(len(ids))
            ids.extend(text.encode("utf-8")[:256] or b"\0")
        return {"input_ids": torch.tensor(ids, dtype=torch.long), "offsets": torch.tensor(offsets, dtype=torch.long)}

    def forward(self, features, layer=None):
        x = self.embed(features["input_ids"], features["offsets"])
        return torch.tanh(self.proj(x))


def tiny_cnn(seed=0):
    """A tiny deterministic CNN for tests, cut into stem, 2 stages."""
    gen = torch.Generator().manual_seed(seed)
    blocks = [
        nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU()),
        nn.Sequential(nn.Conv2d(16, 32, 3, stride=1, padding=1), nn.BatchNorm2d(32), nn.ReLU()),
    ]
    net = BlockNet(blocks, GlobalPool())
    with torch.no_grad():
        for block in net.blocks:
            conv = block[0]
            fan_in = conv.in_channels * 9
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            conv.bias.zero_()
    return net
