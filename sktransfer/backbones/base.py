"""The Backbone (a pretrained network cut into ordered blocks), its facts, what families share.

Every estimator talks to networks through a :class:`Backbone`: how its input
is prepared (through its :class:`~sktransfer.modalities.base.Modality`), the
ordered blocks (stem -> stages) that "the top k blocks" counts, the output
size, and a stable content identity used as the cache key. A *family*
(torchvision, sentence-transformers, ...) builds backbones from names and
knows their facts (:class:`ModelFacts`), which the zoo lists.
"""

import dataclasses
import hashlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .._deps import require
from ..modalities import get_modality


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither on this machine nor downloadable now."""


def offline_mode():
    """True when the user asked for no network access (HF_HUB_OFFLINE & co)."""
    for var in ("SKTRANSFER_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def can_reach(url, timeout=3.0):
    """Whether a TCP connection to the host of ``url`` opens within ``timeout`` s.

    Used before a download so that a machine without internet fails in
    seconds with an explanation instead of hanging inside a download.
    """
    if offline_mode():
        return False
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_device(device):
    """Map ``"auto"`` to the best available torch device; check that an explicit one exists.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device in (None, "auto"):
        torch = require("torch")
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' (optionally 'cuda:N') or 'mps'; got {device!r}."
        )
    kind = device.split(":")[0]
    if kind != "cpu":
        torch = require("torch")
        mps = getattr(torch.backends, "mps", None)
        available = (
            torch.cuda.is_available()
            if kind == "cuda"
            else (mps is not None and mps.is_available())
        )
        if not available:
            name = "CUDA" if kind == "cuda" else "MPS (Apple silicon)"
            raise ValueError(
                f"device={device!r} was asked for, but {name} is not available here; use "
                "device='auto' or 'cpu'."
            )
    return device


def state_dict_digest(module, extra=""):
    """Content hash of a module's weights and buffers (plus ``extra``).

    A tensor registered under two names (a text backbone lists its layers
    again as ``blocks``) is hashed once, and bytes are hashed in place.
    """
    torch = require("torch")
    h = hashlib.blake2b(digest_size=16)
    h.update(extra.encode())
    seen = set()
    for key, tensor in module.state_dict().items():
        t = tensor.detach()
        ident = (t.data_ptr(), t.dtype, tuple(t.shape))
        if t.numel() and ident in seen:
            continue
        seen.add(ident)
        t = t.cpu().contiguous()
        h.update(key.encode())
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def read_state_dict(path, model):
    """A state dict from a local checkpoint file, with errors that say what is wrong with the file.

    Takes a plain ``state_dict()``, or a dict holding one under
    ``"state_dict"``, ``"model_state_dict"`` or ``"model"``; strips
    DataParallel's ``"module."`` prefix.
    """
    torch = require("torch")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} for {model!r} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"Could not read {str(path)!r} as a torch state dict for {model!r}: {exc}"
        ) from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(
            f"{str(path)!r} does not hold a state dict of tensors (got {type(state).__name__}); "
            "save model.state_dict()."
        )
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_state(module, state, source, target, optional=()):
    """Load ``state`` into ``module``, strictly but for missing keys that start with ``optional``.

    Mismatches (missing or unexpected keys, other shapes) raise a ValueError
    that names the file (``source``) and the model (``target``, e.g.
    ``"torchvision's 'resnet18'"``), instead of torch's RuntimeError.
    """
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that differ
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"{source} does not match {target}: {detail}") from exc
    missing = [k for k in missing if not k.startswith(tuple(optional))]
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match {target}: missing keys "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected keys "
            f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}."
        )


def is_local_weights(weights):
    """Whether ``weights`` names a file rather than a weights name such as "DEFAULT"."""
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (
        os.sep in weights
        or "/" in weights
        or Path(weights).suffix in (".pth", ".pt", ".bin", ".ckpt")
    )


# ----------------------------------------------------------------------- facts

COLUMNS = (
    "name",
    "modality",
    "family",
    "params",
    "input_size",
    "output_dim",
    "n_blocks",
    "pretraining_data",
    "licence",
    "source",
    "available_offline",
)


@dataclass(frozen=True)
class ModelFacts:
    """What the zoo says about a model, known without loading it (as timm's ``PretrainedCfg``).

    A fact that cannot be known without downloading the model is None, never
    guessed. ``available_offline`` is not a fact of the model but of this
    machine now: families look it up on every call.
    """

    name: str
    modality: str
    family: str = None
    params: int = None
    input_size: int = None
    output_dim: int = None
    n_blocks: int = None
    pretraining_data: str = None
    licence: str = None
    source: str = None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def row(self, available_offline):
        """The zoo's row: a dict with the keys :data:`COLUMNS`."""
        return {**dataclasses.asdict(self), "available_offline": bool(available_offline)}


class Family:
    """A family of backbones: which names it resolves, how it builds them, what it knows of them.

    Every family has one build signature, ``build(name, *, weights, device)``.
    """

    name = None
    modality = None
    test_only = False
    #: Build options beyond ``weights`` and ``device`` that estimators may pass (word
    #: vectors: ``oov``); ``get_backbone`` rejects any other.
    options = ()

    def resolves(self, name):
        raise NotImplementedError

    def listed_names(self):
        """The names the zoo lists for this family."""
        return ()

    def modality_of(self, name):
        """The modality of a name this family resolves, without building it."""
        return self.modality

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        raise NotImplementedError

    def facts(self, name):
        return ModelFacts(name, self.modality, family=self.name, source=self.name)

    def available_offline(self, name):
        return False

    def loadable(self, name):
        """Whether sktransfer can cut this model into blocks (the zoo lists some it cannot)."""
        return True


class OneModelFamily(Family):
    """A family of one model name (``model_name``), built by the module's ``builder``."""

    model_name = None
    builder = None  # staticmethod(build): build(name, *, weights, device)

    def resolves(self, name):
        return name == self.model_name

    def listed_names(self):
        return (self.model_name,)

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        return self.builder(name, weights=weights, device=device)


# ----------------------------------------------------------------------- backbone


class Backbone:
    """A pretrained network, its ordered blocks, preprocessing and identity.

    Instances are built by :func:`sktransfer.backbones.get_backbone` from a
    plain model name and shared within a process; estimators never take one as
    a hyperparameter.

    Attributes
    ----------
    name : str
        The model name the user gave.
    family : str
        ``"torchvision"``, ``"sentence-transformers"``, ``"efficientnet-lite"``, ``"testing"``...
    modality : Modality
        What kind of input the network takes; it prepares batches for the first block.
    net : torch.nn.Module
        A module whose ``blocks`` attribute is an ``nn.ModuleList`` in forward
        order, whose ``forward(batch, layer=None)`` returns pooled features
        and whose ``transfer_net(start, head, n_trainable, ...)`` builds the
        module that fine-tunes it from block ``start`` on.
    block_names : list of str
    identity : str
        Hash of the family, architecture, weights (content) and preprocessing.
    preprocess : object or None
        The modality's preprocessing parameters (e.g. an ``ImagePreprocess``).
    device : str
    n_forwarded : int
        How many samples have gone through the network (used to prove cache hits).
    """

    def __init__(
        self,
        *,
        name,
        family,
        modality,
        net,
        block_names,
        preprocess=None,
        device="cpu",
        arch=None,
        weights_tag=None,
    ):
        self.name = name
        self.family = family
        self.modality = get_modality(modality)
        self.net = net
        self.block_names = list(block_names)
        self.preprocess = preprocess
        self.device = device
        self.arch = arch or name
        self.weights_tag = weights_tag
        self.n_forwarded = 0
        self._dims = {}
        self._lock = threading.Lock()
        self.identity = state_dict_digest(
            net, extra=repr((family, self.arch, preprocess, getattr(net, "config_repr", "")))
        )

    def __repr__(self):
        return (
            f"Backbone({self.name!r}, family={self.family!r}, blocks={self.n_blocks}, "
            f"device={self.device!r})"
        )

    @property
    def n_blocks(self):
        return len(self.block_names)

    @property
    def ragged(self):
        """Whether a block's raw output has a length per sample (texts' token states)."""
        return bool(getattr(self.net, "ragged_states", False))

    def can_start_at(self, block):
        """Whether the network can run from the raw output of the blocks below ``block``."""
        return 0 < block < self.n_blocks and bool(self.net.can_start_at(block))

    def layer_index(self, layer):
        """Normalise ``layer`` (None, int, negative int or block name) to an index."""
        n = self.n_blocks
        if layer is None:
            return n - 1
        if isinstance(layer, str):
            if layer in self.block_names:
                return self.block_names.index(layer)
            raise ValueError(
                f"layer={layer!r} is not a block of {self.name!r}; its blocks are "
                f"{self.block_names}."
            )
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and -n <= layer < n:
            return int(layer) % n
        raise ValueError(
            f"layer={layer!r} is out of range for {self.name!r}, which has {n} blocks "
            f"(0..{n - 1}, negative counts from the top): {self.block_names}."
        )

    def prepare(self, items):
        """Loaded samples -> a batch for the first block (on the CPU)."""
        return self.modality.prepare(items, self)

    def embed(self, batch, layer=None, pooled=True, precision="float32"):
        """Features of a prepared batch as float32 ndarrays.

        Pooled (n, dim) by default; with ``pooled=False`` the raw output of
        block ``layer``: (n, c, h, w) for CNNs, and for text a list of
        (tokens, dim) arrays, one per text, without padding. With
        ``precision="bfloat16"`` the network runs under bfloat16 autocast.
        """
        torch = require("torch")
        autocast = torch.autocast(
            self.device.split(":")[0],  # "cpu", "cuda" or "mps"
            dtype=torch.bfloat16,
            enabled=precision == "bfloat16",
        )
        chunk = self.modality.cpu_chunk if self.device == "cpu" else None
        with self._lock, torch.inference_mode(), autocast:
            self.net.eval()
            x = self.modality.to_device(batch, self)
            parts = []
            for part in x.split(chunk) if chunk else [x]:
                # A lone row takes other CPU kernels than 2-4 rows do, and its
                # features would differ in their last bits from the same row
                # in a chunk: it runs doubled, so a row's features do not
                # depend on the rows batched with it.
                alone = chunk is not None and len(part) == 1
                if alone:
                    part = torch.cat([part, part])
                out = (
                    self.net(part, layer=layer)
                    if pooled
                    else self.net.block_output(part, self.layer_index(layer))
                )
                parts.append(out[:1] if alone else out)
            out = parts[0] if len(parts) == 1 else torch.cat(parts)
            self.n_forwarded += len(out)
            if isinstance(out, list):
                return [o.float().cpu().numpy() for o in out]
            return out.float().contiguous().cpu().numpy()

    def output_dim(self, layer=None, channels=1):
        """Dimension of the pooled features at ``layer`` (one dummy forward).

        A network that encodes each of a row's ``channels`` alone (time
        series: ``net.per_channel``) concatenates their features.
        """
        idx = self.layer_index(layer)
        if idx not in self._dims:
            before = self.n_forwarded
            self._dims[idx] = int(self.embed(self.modality.dummy_batch(self), layer=idx).shape[1])
            self.n_forwarded = before
        return self._dims[idx] * (channels if getattr(self.net, "per_channel", False) else 1)
