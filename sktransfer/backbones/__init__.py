"""Model name -> Backbone (network, blocks, preprocessing, identity), through families.

Names resolve in this order: backbones registered with
:func:`register_backbone`, the tiny test networks, the shipped
EfficientNet-Lite0, sentence-transformers models (the shipped
all-MiniLM-L6-v2, hub names ``org/name``, local folders), then torchvision
classification models. Each family lives in its own module (builder, facts,
blocks, preprocessing) and is imported on first use, so ``import sktransfer``
loads no torch.
"""

import difflib
import os
import threading

from .._deps import require
from ..modalities import get_modality
from .base import (
    Backbone,
    Family,
    ModelFacts,
    OneModelFamily,
    WeightsUnavailableError,
    is_local_weights,
    resolve_device,
)

__all__ = [
    "Backbone",
    "Family",
    "ModelFacts",
    "WeightsUnavailableError",
    "families",
    "family_of",
    "get_backbone",
    "known_names",
    "model_modality",
    "register_backbone",
    "resolve_device",
]

# name -> _Registered family (one name each)
_REGISTERED = {}
_POOL = {}
_POOL_LOCK = threading.Lock()


class _Registered(OneModelFamily):
    """A backbone registered by name with :func:`register_backbone`."""

    def __init__(self, name, builder, modality, facts):
        self.name = "registered"
        self.model_name = name
        self.builder = builder
        self.modality = get_modality(modality).name
        self._facts = facts
        from . import testing

        self.test_only = getattr(builder, "__module__", None) == testing.__name__ or (
            facts is not None and facts.source == "test"
        )

    def facts(self, name):
        if self._facts is not None:
            return self._facts.replace(name=name, modality=self.modality)
        if self.test_only:
            from .testing import measured_facts

            return measured_facts(get_backbone(name), name=name)
        return ModelFacts(name, self.modality, source="registered")

    def available_offline(self, name):
        return True  # built in this process; nothing to download as far as sktransfer knows


def register_backbone(name, builder, modality, facts=None):
    """Make ``name`` resolvable to the Backbone that ``builder`` returns.

    Parameters
    ----------
    name : str
        The model name estimators will be given.
    builder : callable
        ``builder(name, *, weights="DEFAULT", device="cpu") -> Backbone``: the
        signature every family's builder has.
    modality : str or Modality
        The kind of input the network takes (``"image"``, ``"text"``...).
    facts : ModelFacts, optional
        What :func:`sktransfer.zoo.list_models` says about it; unknown facts otherwise.

    Examples
    --------
    >>> from sktransfer.backbones import testing
    >>> register_backbone("my-tiny-cnn", testing.build_tiny_cnn, "image")
    >>> get_backbone("my-tiny-cnn").block_names
    ['stem', 'stage1', 'stage2']
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}.")
    _REGISTERED[name] = _Registered(name, builder, modality, facts)
    with _POOL_LOCK:
        for key in [k for k in _POOL if k[0] == name]:
            del _POOL[key]


def unregister_backbone(name):
    """Forget a name given to :func:`register_backbone` (and its loaded backbones)."""
    _REGISTERED.pop(name, None)
    with _POOL_LOCK:
        for key in [k for k in _POOL if k[0] == name]:
            del _POOL[key]


def families():
    """Every family, in resolution order (registered names first)."""
    from . import (
        efficientnet_lite,
        fracast_model,
        ge2e,
        saved,
        sentence_transformers_models,
        series_nets,
        testing,
        torchvision_models,
        word_vectors,
    )

    return (
        *_REGISTERED.values(),
        saved.FAMILY,
        testing.FAMILY,
        efficientnet_lite.FAMILY,
        fracast_model.FAMILY,
        series_nets.FAMILY,
        ge2e.FAMILY,
        word_vectors.FAMILY,
        sentence_transformers_models.FAMILY,
        torchvision_models.FAMILY,
    )


def _check_name(name):
    if not isinstance(name, (str, os.PathLike)) or (isinstance(name, str) and not name):
        raise TypeError(
            f"model must be a non-empty str (a model name or a local folder), got {name!r}"
        )
    return os.fspath(name)


def known_names():
    """Every model name that resolves without a path or an org/ prefix."""
    names = set()
    for family in families():
        names.update(family.listed_names())
    return sorted(names)


def _unknown(name):
    close = difflib.get_close_matches(name, known_names(), n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown model {name!r}.{hint} Give a torchvision model name (e.g. 'resnet18'), "
        "a sentence-transformers hub name ('org/name'), a local model folder, or see "
        "sktransfer.backbones.known_names()."
    )


def family_of(name):
    """The family that resolves ``name``; ValueError with close matches when none does."""
    name = _check_name(name)
    for family in families():
        if family.resolves(name):
            return family
    raise _unknown(name)


def model_modality(name):
    """The modality name of a model, without loading it.

    Examples
    --------
    >>> model_modality("resnet18"), model_modality("all-MiniLM-L6-v2")
    ('image', 'text')
    """
    name = _check_name(name)
    return family_of(name).modality_of(name)


def _weights_key(weights):
    if weights is not None and is_local_weights(weights):
        path = os.fspath(weights)
        try:
            stat = os.stat(path)
            return (path, stat.st_mtime_ns, stat.st_size)
        except OSError:
            return (path,)
    return weights


def _name_key(name):
    """A saved backbone folder is keyed by its metadata's time too: saving again reloads it."""
    from .saved import MARKER, is_saved

    if is_saved(name):
        return (name, os.stat(os.path.join(name, MARKER)).st_mtime_ns)
    return name


def _build(name, weights, device, options=None):
    torch = require("torch")
    family = family_of(name)
    unknown = sorted(set(options or {}) - set(family.options))
    if unknown:
        raise ValueError(
            f"{unknown[0]}= does not apply to {name!r} (a {family.name} model)"
            + (
                ": out-of-vocabulary words exist only for word vectors (e.g. 'glove-6b-50d'); "
                "subword models have none."
                if unknown[0] == "oov"
                else "."
            )
        )
    # Building a network runs default initialisers on the global RNG; a
    # backbone load must not change the user's random state.
    with torch.random.fork_rng(devices=[]):
        # weights=None is one fixed random initialisation, so from-scratch
        # baselines are reproducible across processes.
        torch.manual_seed(0)
        return family.build(name, weights=weights, device=device, **(options or {}))


def get_backbone(model, weights="DEFAULT", device="cpu", **options):
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
    **options
        Build options of the model's family (word vectors: ``oov``); each
        set of them is its own backbone.

    Returns
    -------
    Backbone

    Examples
    --------
    >>> bb = get_backbone("sktransfer/tiny-cnn")
    >>> bb.modality.name, bb.block_names, bb.output_dim()
    ('image', ['stem', 'stage1', 'stage2'], 32)
    """
    device = resolve_device(device)
    name = _check_name(model)
    key = (_name_key(name), _weights_key(weights), device, tuple(sorted(options.items())))
    with _POOL_LOCK:
        backbone = _POOL.get(key)
        if backbone is None:
            backbone = _build(name, weights, device, options)
            _POOL[key] = backbone
    return backbone


def derived_backbone(base, key, state):
    """``base`` with some of its weights replaced by ``state`` (name -> array), shared by ``key``.

    What an encoder that pretrained itself in ``fit`` (``self_supervised=``)
    runs: only the weights that changed are kept in the estimator, and the
    network is rebuilt once per process from them.
    """
    import copy

    torch = require("torch")
    pool_key = (base.name, ("derived", base.identity, key), base.device)
    with _POOL_LOCK:
        backbone = _POOL.get(pool_key)
        if backbone is None:
            net = copy.deepcopy(base.net)
            own = net.state_dict()
            unknown = sorted(set(state) - set(own))
            if unknown:
                raise ValueError(
                    f"weights {unknown[:3]} are not in {base.name!r}; were they trained on "
                    "another model?"
                )
            with torch.no_grad():
                for name, value in state.items():
                    own[name].copy_(torch.as_tensor(value))
            backbone = Backbone(
                name=base.name,
                family=base.family,
                modality=base.modality.name,
                net=net.eval(),
                block_names=base.block_names,
                preprocess=base.preprocess,
                device=base.device,
                arch=base.arch,
                weights_tag=f"derived:{key}",
            )
            _POOL[pool_key] = backbone
    return backbone


def clear_backbones():
    """Forget every loaded backbone (frees their memory)."""
    with _POOL_LOCK:
        _POOL.clear()
