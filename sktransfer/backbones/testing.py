"""Tiny deterministic backbones for tests and examples (the "testing" family).

``"sktransfer/tiny-text"``, ``"sktransfer/tiny-cnn"``, ``"sktransfer/tiny-series"`` and
``"sktransfer/tiny-audio"`` are random networks with a fixed seed, small enough to run
scikit-learn's estimator checks in seconds. They carry no pretrained knowledge: never use them
for real work.
"""

import functools
import os

from .._deps import require
from ..modalities.image import ImagePreprocess
from ._nets import BlockNet, GlobalPool, TextTransferNet
from .base import Backbone, Family, ModelFacts, load_state, read_state_dict

torch = require("torch", "sktransfer's test networks")
nn = torch.nn

TINY_TEXT = "sktransfer/tiny-text"
TINY_CNN = "sktransfer/tiny-cnn"
TINY_SERIES = "sktransfer/tiny-series"
TINY_AUDIO = "sktransfer/tiny-audio"


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
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "offsets": torch.tensor(offsets, dtype=torch.long),
        }

    def forward(self, features, layer=None):
        x = self.embed(features["input_ids"], features["offsets"])
        return torch.tanh(self.proj(x))

    def can_start_at(self, block):
        return False

    def transfer_net(self, start, head, n_trainable, **options):
        return TextTransferNet(self, head, n_trainable)


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


def _bad_weights(name, weights, files):
    more = ", or a state-dict file saved from it" if files else ""
    return ValueError(
        f"weights={weights!r} for the test network {name!r} must be 'DEFAULT' (seed 0) or None "
        f"(seed 1){more}."
    )


def build_tiny_text(name=TINY_TEXT, *, weights="DEFAULT", device="cpu"):
    if weights not in ("DEFAULT", None):
        raise _bad_weights(name, weights, files=False)
    net = TinyTextNet(seed=0 if weights is not None else 1).to(device).eval()
    return Backbone(
        name=name,
        family="testing",
        modality="text",
        net=net,
        block_names=["embed", "proj"],
        device=device,
    )


def build_tiny_cnn(name=TINY_CNN, *, weights="DEFAULT", device="cpu"):
    """``weights``: "DEFAULT" (seed 0), None (seed 1), or a saved state dict of the net."""
    net = tiny_cnn(seed=1 if weights is None else 0)
    if weights not in (None, "DEFAULT"):
        if not (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)):
            raise _bad_weights(name, weights, files=True)
        load_state(
            net, read_state_dict(weights, name), f"weights file {str(weights)!r}", repr(name)
        )
    net = net.to(device).eval()
    return Backbone(
        name=name,
        family="testing",
        modality="image",
        net=net,
        block_names=["stem", "stage1", "stage2"],
        weights_tag=None if weights is None else str(weights),
        preprocess=ImagePreprocess(20, 16, (0.5,) * 3, (0.25,) * 3),
        device=device,
    )


def build_tiny_series(name=TINY_SERIES, *, weights="DEFAULT", device="cpu"):
    """Two small GRU layers (16 units), per channel, read at the last step; seed 0, or 1 for None.

    Recurrent, so that it knows where in the series a value is: scikit-learn's
    checks feed tabular columns as a series, which a convolution network's
    time average would mix up.
    """
    from ..modalities.timeseries import SeriesPreprocess
    from .series_nets import Recurrent, SeriesNet

    if weights not in ("DEFAULT", None):
        raise _bad_weights(name, weights, files=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if weights is not None else 1)
        net = SeriesNet([Recurrent("gru", 1, 16), Recurrent("gru", 16, 16)], pool="last")
    return Backbone(
        name=name,
        family="testing",
        modality="timeseries",
        net=net.to(device).eval(),
        block_names=["layer1", "layer2"],
        preprocess=SeriesPreprocess(),
        device=device,
    )


def build_tiny_audio(name=TINY_AUDIO, *, weights="DEFAULT", device="cpu"):
    """The GE2E layout in miniature: one LSTM layer (8 units) and the projection, on windows
    of 8 frames of 8 mel bands (16-sample FFTs every 2 samples); seed 0, or 1 for None.

    Its windows are a few samples long, so that scikit-learn's checks, which
    feed a handful of numbers per row as a clip, see them.
    """
    from ..modalities.audio import SpeechPreprocess
    from .ge2e import LSTMLayer, Projection, SpeechNet

    if weights not in ("DEFAULT", None):
        raise _bad_weights(name, weights, files=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if weights is not None else 1)
        net = SpeechNet([LSTMLayer(8, 8), Projection(8, 8)])
    return Backbone(
        name=name,
        family="testing",
        modality="audio",
        net=net.to(device).eval(),
        block_names=["lstm1", "projection"],
        preprocess=SpeechPreprocess(
            n_fft=16, hop=2, n_mels=8, partial_frames=8, partials_per_second=2000.0
        ),
        device=device,
    )


_BUILDERS = {
    TINY_TEXT: build_tiny_text,
    TINY_CNN: build_tiny_cnn,
    TINY_SERIES: build_tiny_series,
    TINY_AUDIO: build_tiny_audio,
}
_MODALITIES = {TINY_TEXT: "text", TINY_CNN: "image", TINY_SERIES: "timeseries", TINY_AUDIO: "audio"}


class TestingFamily(Family):
    """The tiny test networks: facts measured on the networks themselves (they are tiny)."""

    name = "testing"
    test_only = True

    def resolves(self, name):
        return name in _BUILDERS

    def listed_names(self):
        return tuple(_BUILDERS)

    def modality_of(self, name):
        return _MODALITIES[name]

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        return _BUILDERS[name](name, weights=weights, device=device)

    @functools.cache  # noqa: B019 - one family object per process
    def facts(self, name):
        return measured_facts(self.build(name))

    def available_offline(self, name):
        return True


def measured_facts(backbone, **overrides):
    """Facts read off a built test network."""
    facts = ModelFacts(
        backbone.name,
        backbone.modality.name,
        family=backbone.family,
        params=sum(p.numel() for p in backbone.net.parameters()),
        input_size=getattr(backbone.preprocess, "crop_size", None),
        output_dim=backbone.output_dim(),
        n_blocks=backbone.n_blocks,
        pretraining_data="none (random weights)",
        licence="BSD-3-Clause",
        source="test",
    )
    return facts.replace(**overrides)


FAMILY = TestingFamily()
