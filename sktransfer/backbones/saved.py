"""Saved backbones: your own fine-tuned or further-pretrained network, as a folder loaded by path.

A folder written by :func:`write` (``save_backbone`` of a fitted
fine-tuner, :func:`sktransfer.pretrain.continue_pretraining`) holds:

- ``sktransfer_backbone.json``: the format version, the sktransfer version
  that wrote it, the modality, the *architecture* (a model name whose family
  builds the same network with ``weights=None``), the block names, the image
  preprocessing, the model it was derived from (name and identity), the
  SHA-256 of every weight file, and the history of what was done to it
  (fine-tuned by whom on how many rows, pretrained with which objective);
- the weights in the family's own format: a sentence-transformers model is
  the sentence-transformers folder itself (``SentenceTransformer(path)``
  loads it too); other networks are ``weights.pt``, a state dict of tensors
  (loaded with ``torch.load(weights_only=True)``).

Every estimator, :func:`~sktransfer.zoo.model_info` and
:func:`~sktransfer.selection.rank_encoders` take the folder as ``model=``; a
saved backbone can be fine-tuned and saved again (chained transfer), and its
history grows.
"""

import copy
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .._deps import require
from .base import Backbone, Family, ModelFacts, load_state, read_state_dict

MARKER = "sktransfer_backbone.json"
FORMAT = 1
WEIGHTS = "weights.pt"
#: Where continued pretraining keeps its last checkpoint, inside the folder it will write.
CHECKPOINT = "_checkpoint"


class SavedBackboneError(ValueError):
    """A saved backbone folder that cannot be loaded as it is."""


def is_saved(name):
    """Whether ``name`` is a folder written by :func:`write`."""
    try:
        return os.path.isfile(os.path.join(os.fspath(name), MARKER))
    except TypeError:
        return False


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _weight_files(folder):
    """The files whose bytes are weights (hashed at save, checked at load)."""
    folder = Path(folder)
    found = [p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt", ".pth")]
    return sorted(str(p.relative_to(folder)) for p in found if p.is_file())


def read_meta(path):
    """The metadata of a saved backbone folder, checked; errors name the folder and the problem."""
    path = Path(path)
    marker = path / MARKER
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SavedBackboneError(f"Could not read {str(marker)!r}: {exc}") from exc
    if not isinstance(meta, dict) or "format" not in meta:
        raise SavedBackboneError(f"{str(marker)!r} is not sktransfer backbone metadata.")
    if meta["format"] != FORMAT:
        raise SavedBackboneError(
            f"{str(path)!r} was saved in backbone format {meta['format']!r} (by sktransfer "
            f"{meta.get('sktransfer_version')}); this sktransfer reads format {FORMAT}. Load it "
            "with that version, or save it again."
        )
    for key in ("modality", "architecture", "block_names", "files"):
        if key not in meta:
            raise SavedBackboneError(f"{str(marker)!r} lacks the entry {key!r}.")
    return meta


def _check_files(path, meta):
    for rel, digest in meta["files"].items():
        file = Path(path) / rel
        if not file.is_file():
            raise SavedBackboneError(
                f"The saved backbone {str(path)!r} lacks its weight file {rel!r}."
            )
        if _sha256(file) != digest:
            raise SavedBackboneError(
                f"The weight file {str(file)!r} changed since it was saved (its SHA-256 differs "
                f"from the one in {MARKER}); save the backbone again instead of editing it."
            )


def full_net(backbone, trained):
    """A copy of ``backbone.net`` whose top blocks (and pool) carry ``trained``'s weights.

    ``trained`` is a transfer module (``BlockTransferNet``,
    ``TextTransferNet``, ``CachedTextNet``): its ``blocks`` are the top
    blocks of the backbone (the ones that were not cached). Lower, cached
    blocks were frozen, so the backbone's own weights are theirs.
    """
    encoder = getattr(trained, "encoder", None)
    if encoder is not None and len(trained.blocks) == backbone.n_blocks:
        return copy.deepcopy(encoder).to("cpu").eval()  # the whole text network trained
    net = copy.deepcopy(backbone.net).to("cpu").eval()
    n = len(trained.blocks)
    for mine, theirs in zip(list(net.blocks)[backbone.n_blocks - n :], trained.blocks):
        mine.load_state_dict(theirs.state_dict())
    pool = getattr(trained, "pool", None)
    if n and pool is not None and hasattr(net, "pool"):
        net.pool.load_state_dict(pool.state_dict())
    return net


def n_params(net):
    """Number of weights of ``net`` (``parameters()`` lists a shared tensor once)."""
    return sum(p.numel() for p in net.parameters())


def architecture_of(backbone):
    """The model name that builds ``backbone``'s network with ``weights=None``."""
    meta = getattr(backbone, "saved_meta", None)
    return meta["architecture"] if meta else backbone.name


def write(path, net, backbone, step, *, overwrite=False):
    """Write ``net`` (``backbone``'s architecture with new weights) as a saved backbone folder.

    Parameters
    ----------
    path : str or path
        The folder to create. An existing folder is replaced only with
        ``overwrite=True`` (and only if it is a saved backbone or empty).
    net : torch.nn.Module
        A network of the same class and blocks as ``backbone.net`` (see :func:`full_net`).
    backbone : Backbone
        What ``net`` was derived from.
    step : dict
        What was done (``{"step": "fine-tuned", "by": "ImageClassifier", ...}``),
        appended to the history.

    Returns
    -------
    pathlib.Path
    """
    from .. import __version__

    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{str(path)!r} exists and is not a folder.")
        if {p.name for p in path.iterdir()} - {CHECKPOINT}:
            if not overwrite:
                raise FileExistsError(
                    f"{str(path)!r} exists and is not empty; pass overwrite=True to replace it."
                )
            if not is_saved(path):
                raise FileExistsError(
                    f"{str(path)!r} is not a saved backbone; refusing to replace its contents."
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written next to its final place, then moved: an interrupted save
    # leaves the old folder (or none), never half a backbone.
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_folder = getattr(net, "save_folder", None)
        if save_folder is not None:
            save_folder(tmp)
        else:
            torch = require("torch")
            state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
            torch.save(state, tmp / WEIGHTS)
        base_meta = getattr(backbone, "saved_meta", None) or {}
        preprocess = backbone.preprocess
        meta = {
            "format": FORMAT,
            "sktransfer_version": __version__,
            "modality": backbone.modality.name,
            "architecture": architecture_of(backbone),
            "family": base_meta.get("family", backbone.family),
            "block_names": list(backbone.block_names),
            "preprocess": (
                dataclasses.asdict(preprocess) if dataclasses.is_dataclass(preprocess) else None
            ),
            "base_model": os.fspath(backbone.name),
            "base_identity": backbone.identity,
            "pretraining_data": base_meta.get("pretraining_data"),
            "licence": base_meta.get("licence"),
            "history": [
                *base_meta.get("history", []),
                {"date": datetime.date.today().isoformat(), **step},
            ],
            "params": n_params(net),
            "output_dim": backbone.output_dim(),
            "files": {rel: _sha256(tmp / rel) for rel in _weight_files(tmp)},
        }
        if not base_meta:
            from . import family_of

            facts = family_of(backbone.name).facts(backbone.name)
            meta["pretraining_data"] = facts.pretraining_data
            meta["licence"] = facts.licence
        (tmp / MARKER).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _preprocess(meta, built):
    """The saved preprocessing (an image model's crop and normalisation may have been changed)."""
    if meta.get("preprocess") is None or not dataclasses.is_dataclass(built.preprocess):
        return built.preprocess
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["preprocess"].items()}
    return dataclasses.replace(built.preprocess, **values)


def build(path, *, weights="DEFAULT", device="cpu"):
    """The Backbone saved in folder ``path`` (``weights=None``: its architecture, from scratch)."""
    from . import family_of

    if weights not in ("DEFAULT", None):
        raise ValueError(
            f"weights={weights!r} is not used by the saved backbone {os.fspath(path)!r}: it takes "
            '"DEFAULT" (the saved weights) or None (its architecture, randomly initialised).'
        )
    path = Path(path)
    meta = read_meta(path)
    if weights is not None:
        _check_files(path, meta)
    arch = meta["architecture"]
    if WEIGHTS not in meta["files"]:
        # The family's own folder format (sentence-transformers).
        from . import sentence_transformers_models as st_models

        st = st_models.load_sentence_transformer(str(path), device=device)
        backbone = st_models.from_model(st, os.fspath(path), weights=weights, device=device)
    else:
        try:
            family = family_of(arch)
        except ValueError as exc:
            raise SavedBackboneError(
                f"The saved backbone {str(path)!r} has the architecture of {arch!r}, which no "
                f"backbone family here resolves ({exc}). Register it first "
                "(sktransfer.backbones.register_backbone) or install what provides it."
            ) from exc
        built = family.build(arch, weights=None, device="cpu")
        net = built.net
        if weights is not None:
            state = read_state_dict(path / WEIGHTS, os.fspath(path))
            load_state(net, state, f"weights file {str(path / WEIGHTS)!r}", f"{arch!r}")
        backbone = Backbone(
            name=os.fspath(path),
            family=built.family,
            modality=built.modality.name,
            net=net.to(device).eval(),
            block_names=built.block_names,
            preprocess=_preprocess(meta, built),
            device=device,
            arch=built.arch,
            weights_tag=None if weights is None else f"saved:{meta['files'][WEIGHTS]}",
        )
    if list(backbone.block_names) != list(meta["block_names"]):
        raise SavedBackboneError(
            f"The saved backbone {str(path)!r} was saved with blocks {meta['block_names']}, but "
            f"its architecture {arch!r} builds {backbone.block_names} here."
        )
    backbone.saved_meta = meta
    return backbone


def _describe(meta):
    parts = []
    for step in meta.get("history", []):
        what = step.get("step", "changed")
        by = step.get("by")
        n = step.get("n_rows")
        parts.append(
            what + (f" by {by}" if by else "") + (f" on {n} rows" if n is not None else "")
        )
    return "; ".join(parts)


class SavedFamily(Family):
    """Folders written by :func:`write`: facts from the metadata, weights from the folder."""

    name = "saved"

    def resolves(self, name):
        return is_saved(name)

    def modality_of(self, name):
        return read_meta(name)["modality"]

    def build(self, name, *, weights="DEFAULT", device="cpu"):
        return build(name, weights=weights, device=device)

    def facts(self, name):
        meta = read_meta(name)
        base = meta.get("pretraining_data")
        history = _describe(meta)
        data = "; then ".join(p for p in (base, history) if p) or None
        params = meta.get("params")
        return ModelFacts(
            os.fspath(name),
            meta["modality"],
            family=f"saved/{meta.get('family')}",
            params=params,
            input_size=(meta.get("preprocess") or {}).get("crop_size"),
            output_dim=meta.get("output_dim"),
            n_blocks=len(meta["block_names"]),
            pretraining_data=data,
            licence=meta.get("licence"),
            source=f"local folder (from {meta.get('base_model')})",
        )

    def available_offline(self, name):
        return True


FAMILY = SavedFamily()
