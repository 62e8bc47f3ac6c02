"""Resemblyzer's GE2E speaker encoder: a 3-layer LSTM on mel windows, cut into blocks.

Resemblyzer (Apache-2.0, resemble-ai) ships ``pretrained.pt``: the speaker
encoder of Jemine's "Real-Time Voice Cloning" (Wan et al. 2018's generalized
end-to-end loss), trained to tell speakers apart. Only that file is used: its
state dict is loaded with ``torch.load(weights_only=True)`` into this
module's own LSTM layers, and the package is never imported (it would import
webrtcvad and librosa, and its loader calls ``torch.load`` without
``weights_only``). The mel windows are computed in numpy
(:class:`~sktransfer.modalities.audio.SpeechPreprocess`).

Blocks: ``lstm1``, ``lstm2``, ``lstm3`` (256 units each) and ``projection``
(a linear layer and ReLU on the last LSTM state, L2-normalised): each
window's embedding. A clip's features are the mean over its windows,
L2-normalised, as resemblyzer's ``embed_utterance`` computes them.
"""

import importlib.util
import os
from pathlib import Path

from .._deps import install_hint, require
from ..modalities.audio import SpeechPreprocess, pad_windows
from ._nets import _Trainable
from .base import Backbone, ModelFacts, OneModelFamily, load_state

torch = require("torch", "sktransfer's speech networks")
nn = torch.nn

NAME = "resemblyzer-ge2e"


class LSTMLayer(nn.Module):
    """One LSTM layer on (windows, frames, features) -> (windows, frames, hidden)."""

    def __init__(self, n_in, hidden):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class Projection(nn.Module):
    """The last frame's state -> linear -> ReLU -> unit length: one embedding per window."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, h):
        e = torch.relu(self.linear(h[:, -1]))
        return e / e.norm(dim=1, keepdim=True).clamp(min=1e-12)


def pool_windows(h, flags):
    """(n * windows, [frames,] d) -> (n, d): the mean over each clip's real windows (a
    sequence is read at its last frame), L2-normalised."""
    if h.dim() == 3:
        h = h[:, -1]
    h = h.reshape(*flags.shape, -1)
    mean = (h * flags[..., None]).sum(dim=1) / flags.sum(dim=1, keepdim=True).clamp(min=1.0)
    return mean / mean.norm(dim=1, keepdim=True).clamp(min=1e-12)


def _run(blocks, x):
    """A prepared batch (n, windows, frames, mels + 1) through ``blocks``; and the flags."""
    flags = x[:, :, 0, -1]
    h = x[..., :-1].flatten(0, 1)
    for block in blocks:
        h = block(h)
    return h, flags


class SpeechNet(nn.Module):
    """Blocks run on every window of every clip; features pooled over a clip's windows."""

    # A block's raw output is one (windows, frames, hidden + 1) array per clip,
    # of as many windows as the clip has: cached ragged, like text's token states.
    ragged_states = True

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x, layer=None):
        stop = len(self.blocks) - 1 if layer is None else layer
        return pool_windows(*_run(self.blocks[: stop + 1], x))

    def block_output(self, x, layer):
        """Block ``layer``'s output on each clip's real windows, a flag column of ones last
        (what :func:`_run` reads back); only the last frame when the projection reads it next."""
        h, flags = _run(self.blocks[: layer + 1], x)
        if layer + 1 < len(self.blocks) and isinstance(self.blocks[layer + 1], Projection):
            h = h[:, -1:]  # the projection reads only the last frame's state
        h = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)
        h = h.reshape(*flags.shape, *h.shape[1:])
        return [clip[real.bool()] for clip, real in zip(h, flags)]

    def can_start_at(self, block):
        return True

    def transfer_net(self, start, head, n_trainable, input_module=None, freeze_batchnorm=False):
        return SpeechTransferNet(list(self.blocks)[start:], head, n_trainable)


class SpeechTransferNet(_Trainable, nn.Module):
    """A speech network's blocks, the window pooling and a new head; batches padded by
    :meth:`collate` to the most windows of a clip in them."""

    def __init__(self, blocks, head, n_trainable):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.n_frozen = 0
        self.set_trainable(n_trainable)

    def collate(self, batch):
        return collate_windows(batch)

    def forward(self, x):
        return self.head(pool_windows(*_run(self.blocks, x)))


def collate_windows(batch):
    """``[(windows tensor, y), ...]`` -> a zero-padded (n, windows, frames, mels + 1) batch."""
    x = torch.from_numpy(pad_windows([b[0] for b in batch]))
    return x, torch.utils.data.default_collate([b[1] for b in batch])


def ge2e_net(n_mels=40, hidden=256, embedding=256, layers=3):
    blocks = [LSTMLayer(n_mels if i == 0 else hidden, hidden) for i in range(layers)]
    return SpeechNet([*blocks, Projection(hidden, embedding)])


def block_names(layers=3):
    return [f"lstm{i + 1}" for i in range(layers)] + ["projection"]


def packaged_weights():
    """The path of ``pretrained.pt`` inside the installed resemblyzer package (not imported)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"model={NAME!r} needs the weights shipped in the package 'resemblyzer', which is not "
            f"installed. Install it with: {install_hint('resemblyzer')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise FileNotFoundError(f"The resemblyzer package has no pretrained.pt at {path}.")
    return path


def read_resemblyzer_state(path):
    """Resemblyzer's checkpoint -> this module's state dict (its 3-layer LSTM split in three)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"Could not read {str(path)!r} as a GE2E checkpoint: {exc}") from exc
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} does not hold a state dict (got {type(checkpoint)}).")
    if any(k.startswith("blocks.") for k in state):
        return state  # saved from this module
    out = {}
    for key, value in state.items():
        if key.startswith("lstm."):
            param = key.removeprefix("lstm.")
            layer = int(param.rsplit("_l", 1)[1])
            out[f"blocks.{layer}.lstm.{param.rsplit('_l', 1)[0]}_l0"] = value
        elif key.startswith("linear."):
            out[f"blocks.3.{key}"] = value
        # Anything else (GE2E's similarity scale and bias) belongs to the training loss.
    return out


def build(name=NAME, *, weights="DEFAULT", device="cpu"):
    """``weights``: "DEFAULT" (resemblyzer's pretrained.pt), None (random initialisation) or
    a checkpoint file in resemblyzer's layout or saved from this network."""
    if weights == "DEFAULT":
        path = packaged_weights()
    elif weights is None:
        path = None
    elif isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        path = weights
    else:
        raise ValueError(
            f"weights={weights!r} for {name!r} must be 'DEFAULT' (resemblyzer's pretrained.pt), "
            "None (random initialisation) or a local checkpoint file."
        )
    net = ge2e_net()
    if path is not None:
        load_state(net, read_resemblyzer_state(path), f"weights file {str(path)!r}", repr(name))
    return Backbone(
        name=name,
        family="speech",
        modality="audio",
        net=net.to(device).eval(),
        block_names=block_names(),
        preprocess=SpeechPreprocess(),
        device=device,
        weights_tag=None if weights is None else os.fspath(path),
    )


class SpeechFamily(OneModelFamily):
    name = "speech"
    modality = "audio"
    model_name = NAME
    builder = staticmethod(build)

    def facts(self, name):
        return ModelFacts(
            name,
            "audio",
            family=self.name,
            params=1_423_616,
            input_size=160,  # mel frames per window (1.6 s)
            output_dim=256,
            n_blocks=4,
            pretraining_data="LibriSpeech, VoxCeleb 1 and 2 (speaker verification, GE2E loss)",
            licence="Apache-2.0",
            source="resemblyzer package (resemble-ai/Resemblyzer)",
        )

    def available_offline(self, name):
        try:
            return packaged_weights().is_file()
        except (ImportError, FileNotFoundError):
            return False


FAMILY = SpeechFamily()
