"""The Backbone: one pretrained network cut into ordered blocks.

Every estimator in sktransfer talks to networks through this object. It knows
how the network's input is prepared, the ordered blocks (stem -> stages ->
pooling) that define "the top k blocks", its output dimension, and a stable
content identity used as the cache key.
"""

import hashlib
import os
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

from .._deps import require


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
    """Map ``"auto"`` to the best available torch device name.

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
    if device.startswith("cuda"):
        torch = require("torch")
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but CUDA is not available here; use device='auto' or 'cpu'.")
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


@dataclass(frozen=True)
class ImagePreprocess:
    """Evaluation-time image preprocessing: resize, centre crop, normalise.

    Taken from the weights' own metadata (torchvision's ``weights.transforms()``)
    so features match what the network saw in pre-training.
    """

    resize_size: int
    crop_size: int
    mean: tuple
    std: tuple
    interpolation: str = "bilinear"

    @classmethod
    def from_torchvision(cls, preset):
        interp = getattr(preset, "interpolation", "bilinear")
        interp = getattr(interp, "value", interp)
        resize = preset.resize_size
        crop = preset.crop_size
        return cls(
            resize_size=int(resize[0] if isinstance(resize, (list, tuple)) else resize),
            crop_size=int(crop[0] if isinstance(crop, (list, tuple)) else crop),
            mean=tuple(float(m) for m in preset.mean),
            std=tuple(float(s) for s in preset.std),
            interpolation=str(interp),
        )

    def to_uint8_tensor(self, img):
        """One RGB PIL image -> uint8 tensor (3, crop, crop)."""
        tv = require("torchvision.transforms.v2.functional", "image preprocessing")
        modes = require("torchvision.transforms", "image preprocessing").InterpolationMode
        img = tv.resize(img, self.resize_size, interpolation=modes(self.interpolation), antialias=True)
        img = tv.center_crop(img, self.crop_size)
        return tv.pil_to_tensor(img)

    def normalize(self, batch_uint8):
        """uint8 batch (n, 3, h, w) -> normalised float32 batch, vectorised."""
        torch = require("torch")
        x = batch_uint8.float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)


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
        ``"torchvision"``, ``"sentence-transformers"``, ``"efficientnet-lite"`` or ``"testing"``.
    modality : {"image", "text"}
    net : torch.nn.Module
        A module whose ``blocks`` attribute is an ``nn.ModuleList`` in forward
        order and whose ``forward(x, layer=None)`` returns pooled features.
    block_names : list of str
    identity : str
        Hash of the family, architecture, weights (content) and preprocessing.
    preprocess : ImagePreprocess or None
    device : str
    n_forwarded : int
        How many samples have gone through the network (used to prove cache hits).
    """

    def __init__(self, *, name, family, modality, net, block_names, preprocess=None,
                 device="cpu", arch=None, weights_tag=None):
        self.name = name
        self.family = family
        self.modality = modality
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
        return f"Backbone({self.name!r}, family={self.family!r}, blocks={len(self.block_names)}, device={self.device!r})"

    @property
    def n_blocks(self):
        return len(self.block_names)

    def layer_index(self, layer):
        """Normalise ``layer`` (None, int, negative int or block name) to an index."""
        n = self.n_blocks
        if layer is None:
            return n - 1
        if isinstance(layer, str):
            if layer in self.block_names:
                return self.block_names.index(layer)
            raise ValueError(
                f"layer={layer!r} is not a block of {self.name!r}; its blocks are {self.block_names}."
            )
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and -n <= layer < n:
            return int(layer) % n
        raise ValueError(
            f"layer={layer!r} is out of range for {self.name!r}, which has {n} blocks "
            f"(0..{n - 1}, negative counts from the top): {self.block_names}."
        )

    def tokenize(self, texts):
        """Texts -> the text network's input features (a dict of tensors)."""
        return self.net.tokenize(texts)

    def prepare_images(self, images):
        """RGB PIL images -> uint8 batch tensor (normalised later, on the device)."""
        torch = require("torch")
        return torch.stack([self.preprocess.to_uint8_tensor(im) for im in images])

    def embed(self, batch, layer=None, pooled=True):
        """Features of a prepared batch as a float32 ndarray.

        Pooled (n, dim) by default; with ``pooled=False`` the raw output of
        block ``layer``: (n, c, h, w) for CNNs, and for text a list of
        (tokens, dim) arrays, one per text, without padding.
        """
        torch = require("torch")
        with self._lock, torch.inference_mode():
            self.net.eval()
            if self.modality == "image":
                x = batch.to(self.device, non_blocking=True)
                x = self.preprocess.normalize(x)
                if self.device == "cpu":
                    # NHWC convolutions are ~25% faster on CPU for these nets.
                    x = x.contiguous(memory_format=torch.channels_last)
                out = self.net(x, layer=layer) if pooled else self.net.run_blocks(x, 0, layer)
            else:
                feats = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in batch.items()}
                if not pooled:
                    # Token-level states, each row cut to its real tokens.
                    states = self.net.hidden_states(feats, self.layer_index(layer)).float()
                    mask = feats["attention_mask"].bool()
                    self.n_forwarded += states.shape[0]
                    return [states[i][mask[i]].cpu().numpy() for i in range(states.shape[0])]
                out = self.net(feats)
            self.n_forwarded += out.shape[0]
            return out.float().contiguous().cpu().numpy()

    def output_dim(self, layer=None):
        """Dimension of the pooled features at ``layer`` (one dummy forward)."""
        idx = self.layer_index(layer)
        if idx not in self._dims:
            if self.modality == "text":
                self._dims[idx] = int(self.net.dim)
            else:
                torch = require("torch")
                size = self.preprocess.crop_size
                dummy = torch.zeros(1, 3, size, size, dtype=torch.uint8)
                before = self.n_forwarded
                self._dims[idx] = int(self.embed(dummy, layer=idx).shape[1])
                self.n_forwarded = before
        return self._dims[idx]
