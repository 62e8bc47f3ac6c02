"""Model name -> Backbone (network, blocks, preprocessing, identity).

Names resolve in this order: backbones registered with
:func:`register_backbone` (including the tiny test networks), the models
shipped in packages (``all-MiniLM-L6-v2``, ``efficientnet_lite0``),
torchvision classification models, local sentence-transformers folders, and
sentence-transformers hub names (``org/name``).
"""

import difflib
import os
import threading

from .._deps import require
from .base import Backbone, WeightsUnavailableError, resolve_device
from . import shipped, testing
from . import sentence_transformers_models as _st
from . import torchvision_models as _tv

__all__ = [
    "Backbone",
    "WeightsUnavailableError",
    "get_backbone",
    "register_backbone",
    "model_modality",
]

# name -> (builder(weights, device) -> Backbone, modality)
_REGISTRY = {
    testing.TINY_TEXT: (testing.build_tiny_text, "text"),
    testing.TINY_CNN: (testing.build_tiny_cnn, "image"),
    shipped.EFFICIENTNET_LITE0: (shipped.build_efficientnet_lite0, "image"),
}
for _name in shipped.MINILM_NAMES:
    _REGISTRY[_name] = (lambda weights="DEFAULT", device="cpu", _n=_name: shipped.build_minilm(_n, device, weights), "text")

_POOL = {}
_POOL_LOCK = threading.Lock()


def register_backbone(name, builder, modality):
    """Make ``name`` resolvable to the Backbone that ``builder`` returns.

    Parameters
    ----------
    name : str
        The model name estimators will be given.
    builder : callable
        ``builder(weights="DEFAULT", device="cpu") -> Backbone``.
    modality : {"image", "text"}

    Examples
    --------
    >>> from sktransfer.backbones import testing
    >>> register_backbone("my-tiny-cnn", testing.build_tiny_cnn, "image")
    >>> get_backbone("my-tiny-cnn").block_names
    ['stem', 'stage1', 'stage2']
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    _REGISTRY[name] = (builder, modality)
    with _POOL_LOCK:
        for key in [k for k in _POOL if k[0] == name]:
            del _POOL[key]


def known_names():
    """Every model name that resolves without a path or an org/ prefix."""
    names = set(_REGISTRY) | set(_st.KNOWN_SHORT_NAMES)
    try:
        names |= set(_tv.available_models())
    except ImportError:
        pass
    return sorted(names)


def _unknown(name):
    close = difflib.get_close_matches(name, known_names(), n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown model {name!r}.{hint} Give a torchvision model name (e.g. 'resnet18'), "
        "a sentence-transformers hub name ('org/name'), a local model folder, or see "
        "sktransfer.backbones.known_names()."
    )


def model_modality(name):
    """``"image"`` or ``"text"`` for a model name, without loading it.

    Examples
    --------
    >>> model_modality("resnet18"), model_modality("all-MiniLM-L6-v2")
    ('image', 'text')
    """
    if not isinstance(name, (str, os.PathLike)) or (isinstance(name, str) and not name):
        raise TypeError(f"model must be a non-empty str (a model name or a local folder), got {name!r}")
    name = os.fspath(name)
    if name in _REGISTRY:
        return _REGISTRY[name][1]
    if os.path.isdir(name) or _st.looks_like_hub_name(name):
        return "text"
    if _tv.is_torchvision_model(name):
        return "image"
    raise _unknown(name)


def _weights_key(weights):
    if weights is not None and _tv.is_local_weights(weights):
        path = os.fspath(weights)
        try:
            stat = os.stat(path)
            return (path, stat.st_mtime_ns, stat.st_size)
        except OSError:
            return (path,)
    return weights


def _build(name, weights, device):
    torch = require("torch")
    # Building a network runs default initialisers on the global RNG; a
    # backbone load must not change the user's random state.
    with torch.random.fork_rng(devices=[]):
        # weights=None is one fixed random initialisation, so from-scratch
        # baselines are reproducible across processes.
        torch.manual_seed(0)
        return _build_unseeded(name, weights, device)


def _build_unseeded(name, weights, device):
    if name in _REGISTRY:
        return _REGISTRY[name][0](weights=weights, device=device)
    modality = model_modality(name)
    if modality == "image":
        return _tv.build(name, weights=weights, device=device)
    return _st.build(name, device=device, weights=weights)


def get_backbone(model, weights="DEFAULT", device="cpu"):
    """The shared Backbone for ``model`` with ``weights`` on ``device``.

    Backbones are built once per process and reused, so clones of an
    estimator (cross-validation, grid search) do not reload the network.

    Parameters
    ----------
    model : str or path
        Model name or local folder (see module docstring).
    weights : str, path or None, default="DEFAULT"
        ``"DEFAULT"`` (pretrained) or None (random initialisation, the same
        one in every process); image models also take a torchvision weights
        name or a local state-dict file.
    device : str, default="cpu"
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    Backbone

    Examples
    --------
    >>> bb = get_backbone("sktransfer/tiny-cnn")
    >>> bb.modality, bb.block_names, bb.output_dim()
    ('image', ['stem', 'stage1', 'stage2'], 32)
    """
    device = resolve_device(device)
    name = os.fspath(model) if isinstance(model, os.PathLike) else model
    key = (name, _weights_key(weights), device)
    with _POOL_LOCK:
        backbone = _POOL.get(key)
        if backbone is None:
            backbone = _build(name, weights, device)
            _POOL[key] = backbone
    return backbone


def clear_backbones():
    """Forget every loaded backbone (frees their memory)."""
    with _POOL_LOCK:
        _POOL.clear()
