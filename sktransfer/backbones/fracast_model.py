"""Fracast-0: the pretrained forecasting model that ships inside the ``fracast`` package.

An 85,001-parameter dilated-convolution forecaster (Apache-2.0), trained on
large forecasting corpora (GiftEval pretraining, LOTSA, Chronos' datasets,
BOOM, fev). Its core reads the last 2,048 points of a series (min-max
scaled, left-padded and masked), projects them with recency and periodogram
phase features (the stem), and runs one shared block at dilations 1..512
(the stages). sktransfer cuts it into these two blocks and pools the final
states as its forecasting head summarises them: the mean over observed
points and the last state (128 features per channel).

The stages share one set of weights across the ten dilations, so
``n_trainable_blocks=1`` trains that shared block (at every dilation).
"""

import json
import os
from importlib import resources

from .._deps import require
from ..modalities.timeseries import SeriesPreprocess
from ._nets import _Trainable
from .base import Backbone, ModelFacts, OneModelFamily, load_state, read_state_dict
from .series_nets import ChannelwiseNet, SeriesTransferNet

torch = require("torch", "the Fracast backbone")
nn = torch.nn

NAME = "fracast"
CONTEXT = 2048
WEIGHTS = ("DEFAULT", "fp32", "w8")


class FracastStem(nn.Module):
    """(n, 3, W) values, mask, scale -> (n, W, d + 1): projected inputs and periodic phases; the
    mask."""

    def __init__(self, core):
        super().__init__()
        self.in_proj = core.in_proj
        self.periodic = core.periodic
        self.widths = list(core.level_widths)

    def forward(self, x):
        from fracast._core.periodic.official_encoding import _recency_encoding

        observed = x[:, 1] > 0.5
        values = torch.where(observed, x[:, 0], torch.zeros_like(x[:, 0]))
        coverage = observed.to(values.dtype)
        n, length = values.shape
        positions = torch.arange(length, device=x.device).unsqueeze(0).expand(n, -1)
        features = [
            values.unsqueeze(-1),
            coverage.unsqueeze(-1),
            _recency_encoding(positions, length).to(values.dtype),
        ]
        h = self.in_proj(torch.cat(features, dim=-1))
        h = h + self.periodic(values, observed, self.widths)
        return torch.cat([h, coverage.unsqueeze(-1)], dim=-1)


class FracastStages(nn.Module):
    """The shared block at each dilation (FiLM-conditioned on it), then the final norm."""

    def __init__(self, core):
        super().__init__()
        self.block = core.block
        self.scale = core.scale
        self.norm = core.norm
        self.dilations = list(core.dilations())

    def forward(self, h):
        x, coverage = h[..., :-1], h[..., -1:]
        for dilation in self.dilations:
            x = self.block(self.scale(x, dilation), dilation)
        return torch.cat([self.norm(x), coverage], dim=-1)


class FracastPool(nn.Module):
    """(n, W, d + 1) -> (n, 2d): the mean of the states over observed points, and the last state."""

    def forward(self, h):
        states, coverage = h[..., :-1], h[..., -1:]
        mean = (states * coverage).sum(dim=1) / coverage.sum(dim=1).clamp(min=1.0)
        return torch.cat([mean, states[:, -1]], dim=-1)


class FracastNet(ChannelwiseNet):
    """Fracast's core as two blocks, run on each channel; features concatenated per channel.

    ``forecaster`` is Fracast's pretrained forecasting head: encoders do not
    use it; :meth:`forecast_net` starts a regressor from it.
    """

    feature_axis = False  # a channel's prepared input is (3, window): values, mask, scale

    def __init__(self, core, forecaster):
        super().__init__()
        self.blocks = nn.ModuleList([FracastStem(core), FracastStages(core)])
        self.pool = FracastPool()
        self.forecaster = forecaster
        self.horizon = int(forecaster.horizon)

    def transfer_net(self, start, head, n_trainable, input_module=None, freeze_batchnorm=False):
        return FracastTransferNet(list(self.blocks)[start:], self.pool, head, n_trainable, start)

    def forecast_net(self, n_outputs, n_trainable, y_loc, y_scale):
        """The blocks and the pretrained forecasting head, for the next ``n_outputs`` values."""
        return FracastForecastNet(
            list(self.blocks), self.forecaster, n_outputs, n_trainable, y_loc, y_scale
        )


class FracastForecastNet(_Trainable, nn.Module):
    """Fracast's blocks and its pretrained forecasting head, for a regressor.

    Outputs the median forecast of the next ``n_outputs`` values of each
    window, back on the window's own scale (the third row of the prepared
    batch), then standardised as the regressor standardises y, so that the
    squared error trains it like any head. The forecasting head is
    pretrained: it sits where a network's pretrained pool sits (``pool``)
    and learns at the blocks' rate, even when no block trains.
    """

    def __init__(self, blocks, forecaster, n_outputs, n_trainable, y_loc, y_scale):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.pool = forecaster
        self.n_outputs = int(n_outputs)
        self.median = int(torch.argmin((forecaster.q - 0.5).abs()))
        self.register_buffer("y_loc", torch.as_tensor(y_loc, dtype=torch.float32))
        self.register_buffer("y_scale", torch.as_tensor(y_scale, dtype=torch.float32))
        self.n_frozen = 0
        self.set_trainable(n_trainable)

    def extra_parameters(self):
        return list(self.pool.parameters())

    def extras_train(self):
        return True

    def forward(self, x):
        x = x[:, 0]  # one channel
        h = x
        for block in self.blocks:
            h = block(h)
        values, observed = x[:, 0], x[:, 1] > 0.5
        quantiles = self.pool.forward_horizon(
            h[..., :-1], last_obs=values[:, -1:], ctx=values, ctx_mask=observed
        )
        forecast = quantiles[:, : self.n_outputs, self.median] * x[:, 2, 1:2] + x[:, 2, :1]
        return (forecast - self.y_loc) / self.y_scale


class FracastTransferNet(SeriesTransferNet):
    """Fracast's blocks from ``start`` on, channel by channel, and a new head."""

    feature_axis = False


def _config():
    weights = resources.files("fracast") / "weights"
    return weights, json.loads((weights / "config.json").read_text(encoding="utf-8"))


def _core(weights):
    """Fracast's core and forecasting head with the package's weights ("DEFAULT"/"fp32", or
    "w8" dequantised), or randomly initialised (None)."""
    require("fracast", purpose="model='fracast'")
    from fracast._core.model import build_from_cfg

    folder, cfg = _config()
    core, head = build_from_cfg({key: cfg[key] for key in ("model", "pyramid")})
    if weights in ("DEFAULT", "fp32", "w8"):
        from fracast.inference import load_fracast

        core, head = load_fracast(folder, weights="w8" if weights == "w8" else "fp32")
    return core, head


def build(name=NAME, *, weights="DEFAULT", device="cpu"):
    """``weights``: "DEFAULT" (the shipped FP32 weights), "w8" (the shipped int8 ones,
    dequantised), None (the architecture, randomly initialised) or a state-dict file of
    this network."""
    local = weights is not None and weights not in WEIGHTS
    if local and not (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)):
        raise ValueError(
            f"weights={weights!r} for {name!r} must be 'DEFAULT' (the FP32 weights shipped in the "
            "fracast package), 'w8' (its int8 weights), None (random initialisation) or a "
            "state-dict file of this network."
        )
    net = FracastNet(*_core(None if local else weights))
    if local:
        load_state(
            net, read_state_dict(weights, name), f"weights file {str(weights)!r}", repr(name)
        )
    return Backbone(
        name=name,
        family="fracast",
        modality="timeseries",
        net=net.to(device).eval(),
        block_names=["stem", "stages"],
        preprocess=SeriesPreprocess(context=CONTEXT),
        device=device,
        weights_tag=None if weights is None else os.fspath(weights),
    )


class FracastFamily(OneModelFamily):
    name = "fracast"
    modality = "timeseries"
    model_name = NAME
    builder = staticmethod(build)

    def facts(self, name):
        return ModelFacts(
            name,
            "timeseries",
            family=self.name,
            params=25_536,  # the core; its forecasting head has 59,465 more
            input_size=CONTEXT,
            output_dim=128,
            n_blocks=2,
            pretraining_data="GiftEval pretraining, LOTSA, Chronos data, BOOM, fev (forecasting)",
            licence="Apache-2.0",
            source="fracast package (ztxtech/fracast-0)",
        )

    def available_offline(self, name):
        try:
            return (resources.files("fracast") / "weights" / "model.safetensors").is_file()
        except ModuleNotFoundError:
            return False


FAMILY = FracastFamily()
