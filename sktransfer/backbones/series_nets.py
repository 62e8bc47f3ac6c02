"""Your own sequence networks: 1-D CNNs (FCN, ResNet) and recurrent nets (LSTM, GRU) by name.

These are the time-series classifiers of Wang, Yan & Oates (2017, "Time
series classification from scratch with deep neural networks") that Ismail
Fawaz et al. (2018, "Transfer learning for time series classification")
pretrained on one UCR set and fine-tuned on another. No weights are
published for them: build one from scratch (``weights=None``), train it on a
large source set (``TimeSeriesClassifier(model="fcn", weights=None,
n_trainable_blocks="all")``), save it (``save_backbone(folder)``) and pass the
folder as ``model=`` to transfer it; or load a state-dict file of the same
architecture with ``weights="path/to/file.pt"``.

Every network reads one channel: a series of several channels goes through
it channel by channel and the pooled features are concatenated, so a network
pretrained on univariate series serves multivariate ones too.
"""

import os
from collections import OrderedDict
from dataclasses import dataclass

from .._deps import require
from ..modalities.timeseries import SeriesPreprocess
from ._nets import BlockTransferNet
from .base import Backbone, Family, ModelFacts, load_state, read_state_dict

torch = require("torch", "sktransfer's sequence networks")
nn = torch.nn


class ConvBlock(nn.Sequential):
    """Conv1d with "same" zero padding (explicit: kernels of even length) -> BatchNorm -> ReLU."""

    def __init__(self, c_in, c_out, kernel, relu=True):
        layers = [
            ("pad", nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0)),
            ("conv", nn.Conv1d(c_in, c_out, kernel)),
            ("bn", nn.BatchNorm1d(c_out)),
        ]
        super().__init__(OrderedDict(layers + ([("relu", nn.ReLU())] if relu else [])))


class ResidualBlock(nn.Module):
    """Three convolutions (kernels 8, 5, 3) and a 1x1 shortcut, as in Wang et al.'s ResNet."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(c_in, c_out, 8), ConvBlock(c_out, c_out, 5), ConvBlock(c_out, c_out, 3, False)
        )
        self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.BatchNorm1d(c_out))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Recurrent(nn.Module):
    """One LSTM/GRU layer on (n, features, length), returning (n, hidden, length)."""

    def __init__(self, kind, c_in, hidden):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(c_in, hidden, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(x.transpose(1, 2))
        return out.transpose(1, 2)


def _pool(h, kind):
    """(n, features, length) -> (n, features): the time average, or the last step (RNNs)."""
    return h.mean(dim=-1) if kind == "mean" else h[..., -1]


class TimePool(nn.Module):
    def __init__(self, kind="mean"):
        super().__init__()
        self.kind = kind

    def forward(self, h):
        return _pool(h, self.kind)


def channel_rows(x, start, feature_axis):
    """(n, channels, ...) -> (n * channels, ...): each channel a row of its own. A raw series
    (``start`` 0) gets the feature axis its first block reads when ``feature_axis``."""
    h = x.flatten(0, 1)
    return h.unsqueeze(1) if feature_axis and not start else h


class ChannelwiseNet(nn.Module):
    """Blocks run on each channel of ``(n, channels, ...)``; features concatenated per channel.

    A block's raw output, as the cache keeps it, is ``(n, channels,
    features, length)``. Subclasses set ``blocks`` and ``pool``, and
    ``feature_axis`` False when a channel's prepared input already has one.
    """

    per_channel = True
    feature_axis = True

    def run_blocks(self, x, start, stop):
        n, c = x.shape[:2]
        h = channel_rows(x, start, self.feature_axis)
        for block in self.blocks[start : stop + 1]:
            h = block(h)
        return h.reshape(n, c, *h.shape[1:])

    def forward(self, x, layer=None):
        stop = len(self.blocks) - 1 if layer is None else layer
        h = self.run_blocks(x, 0, stop)
        return self.pool(h.flatten(0, 1)).reshape(len(x), -1)

    def block_output(self, x, layer):
        return self.run_blocks(x, 0, layer)

    def can_start_at(self, block):
        return True


class SeriesNet(ChannelwiseNet):
    """A sequence network of one input channel, run on each channel of ``(n, channels, length)``."""

    def __init__(self, blocks, pool="mean"):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.pool = TimePool(pool)

    def transfer_net(self, start, head, n_trainable, input_module=None, freeze_batchnorm=False):
        return SeriesTransferNet(
            list(self.blocks)[start:], self.pool, head, n_trainable, start, freeze_batchnorm
        )


class SeriesTransferNet(BlockTransferNet):
    """A sequence network's blocks from ``start`` on, channel by channel, and a new head."""

    feature_axis = True

    def __init__(self, blocks, pool, head, n_trainable, start, freeze_batchnorm=False):
        super().__init__(blocks, pool, head, n_trainable, None, freeze_batchnorm)
        self.start = start

    def forward(self, x):
        h = channel_rows(x, self.start, self.feature_axis)
        for block in self.blocks:
            h = block(h)
        return self.head(self.pool(h).reshape(len(x), -1))


@dataclass(frozen=True)
class Architecture:
    blocks: tuple
    pool: str
    build: object
    cite: str

    def net(self):
        return SeriesNet(self.build(), self.pool)


def _fcn():
    return [ConvBlock(1, 128, 8), ConvBlock(128, 256, 5), ConvBlock(256, 128, 3)]


def _resnet():
    return [ResidualBlock(1, 64), ResidualBlock(64, 128), ResidualBlock(128, 128)]


def _recurrent(kind):
    return lambda: [Recurrent(kind, 1, 128), Recurrent(kind, 128, 128)]


WANG = "Wang, Yan & Oates 2017"
ARCHITECTURES = {
    "fcn": Architecture(("conv1", "conv2", "conv3"), "mean", _fcn, WANG),
    "resnet1d": Architecture(("block1", "block2", "block3"), "mean", _resnet, WANG),
    "lstm": Architecture(("layer1", "layer2"), "last", _recurrent("lstm"), "2 x 128 units"),
    "gru": Architecture(("layer1", "layer2"), "last", _recurrent("gru"), "2 x 128 units"),
}


def build(name, *, weights="DEFAULT", device="cpu"):
    """``weights``: None (random initialisation) or a local state-dict file of this architecture."""
    arch = ARCHITECTURES[name]
    if weights is not None and not (
        isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)
    ):
        raise ValueError(
            f"No pretrained weights are published for {name!r} (weights={weights!r}). Pass "
            "weights=None to train it from scratch, a state-dict file of this architecture, or "
            "pretrain it on a source set and pass the folder save_backbone wrote as model=."
        )
    net = arch.net()
    if weights is not None:
        load_state(
            net, read_state_dict(weights, name), f"weights file {str(weights)!r}", repr(name)
        )
    return Backbone(
        name=name,
        family="sequence",
        modality="timeseries",
        net=net.to(device).eval(),
        block_names=arch.blocks,
        preprocess=SeriesPreprocess(),
        device=device,
        weights_tag=None if weights is None else os.fspath(weights),
    )


class SequenceFamily(Family):
    name = "sequence"
    modality = "timeseries"

    def resolves(self, name):
        return name in ARCHITECTURES

    def listed_names(self):
        return tuple(ARCHITECTURES)

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        return build(name, weights=weights, device=device)

    def facts(self, name):
        arch = ARCHITECTURES[name]
        net = arch.net()
        return ModelFacts(
            name,
            "timeseries",
            family=self.name,
            params=sum(p.numel() for p in net.parameters()),
            output_dim=128,
            n_blocks=len(arch.blocks),
            pretraining_data=f"none published ({arch.cite}): weights=None, a file, or your own",
            licence="BSD-3-Clause",
            source="sktransfer",
        )

    def available_offline(self, name):
        # No pretrained weights exist to have: weights=None or the user's own file.
        return False


FAMILY = SequenceFamily()
