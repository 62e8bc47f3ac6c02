"""The model zoo: what sktransfer can load, with facts to choose between models.

:func:`list_models` gives one row per model name the backbone families list
(torchvision classification models, the models shipped in pip packages,
well-known sentence-transformers names), with its size, input and output
dimensions, pre-training data, licence and whether its weights are on this
machine now. Each family keeps its models' facts next to its builder
(:class:`sktransfer.backbones.ModelFacts`); no weights are loaded or
downloaded to build the table.

Examples
--------
>>> from sktransfer.zoo import list_models, model_info
>>> df = list_models(modality="text")
>>> "all-MiniLM-L6-v2" in set(df["name"])
True
>>> model_info("efficientnet_lite0")["output_dim"]
1280
"""

import os

from .backbones import families, family_of
from .backbones.base import COLUMNS
from .modalities import get_modality

__all__ = ["default_candidates", "list_models", "model_info"]

INT_COLUMNS = ("params", "input_size", "output_dim", "n_blocks")


def _check_modality(modality, allow_none=True):
    if modality is None and allow_none:
        return None
    try:
        return get_modality(modality).name
    except ValueError:
        options = "None, " if allow_none else ""
        raise ValueError(
            f"modality must be {options}one of the known modalities, got {modality!r}"
        ) from None


def _listed(modality=None, include_test_models=False):
    """(name, family) of every listed model, by name; the first family to list a name wins."""
    seen = {}
    for family in families():
        if family.test_only and not include_test_models:
            continue
        for name in family.listed_names():
            if name not in seen and (modality is None or family.modality_of(name) == modality):
                seen[name] = family
    return sorted(seen.items())


def model_names(modality=None, include_test_models=False):
    """Names of the models listed by the zoo, sorted.

    Examples
    --------
    >>> "resnet18" in model_names("image"), "resnet18" in model_names("text")
    (True, False)
    >>> "sktransfer/tiny-cnn" in model_names(include_test_models=True)
    True
    """
    return [name for name, _ in _listed(_check_modality(modality), include_test_models)]


def _row(name, family):
    facts = family.facts(name)
    return facts.row(family.available_offline(name))


def list_models(modality=None, available_offline=None, include_test_models=False):
    """One row per model that sktransfer's backbones know, with its facts.

    Parameters
    ----------
    modality : {None, "image", "text", "timeseries", "audio"}, default=None
        Keep only the models of one modality.
    available_offline : {None, True, False}, default=None
        Keep only models whose weights are (True) or are not (False) on this
        machine now.
    include_test_models : bool, default=False
        Also list the tiny random ``sktransfer/...`` test networks.

    Returns
    -------
    pandas.DataFrame
        Sorted by modality then name, with the columns ``name``,
        ``modality``, ``family``, ``params``, ``input_size``, ``output_dim``,
        ``n_blocks``, ``pretraining_data``, ``licence``, ``source``,
        ``available_offline`` (described below).

    Notes
    -----
    The first call that lists image models builds each torchvision
    architecture on the ``meta`` device (no weights, no memory) to read its
    feature dimension and blocks: about two seconds for ~80 models. The
    result is kept for the process; ``available_offline`` is looked up anew on
    every call.

    The columns:

    - ``name``: what to pass as ``model=`` to the encoders and fine-tuners.
    - ``modality``: ``"image"``, ``"text"`` or ``"timeseries"``.
    - ``family``: the architecture family (``"resnet"``, ``"vit"``,
      ``"efficientnet-lite"``, ``"sentence-transformers/bert"``...).
    - ``params``: parameters of the published network, its classification head
      included (torchvision's ``num_params``).
    - ``input_size``: images: the crop size the weights expect (pixels);
      text: the maximum sequence length (tokens; longer texts are truncated).
    - ``output_dim``: dimension of the pooled features (an encoder's output).
    - ``n_blocks``: how many blocks the backbone is cut into (what
      ``layer=`` and freezing count); missing for torchvision architectures
      sktransfer cannot cut yet, which cannot be loaded.
    - ``pretraining_data``: what the default weights were trained on.
    - ``licence``: the weights' licence or where their terms are documented.
    - ``source``: ``"torchvision"``, ``"sentence-transformers"``,
      ``"shipped: <pip package>"``, ``"test"`` or ``"registered"`` (a
      :func:`~sktransfer.backbones.register_backbone` of this process).
    - ``available_offline``: whether the default weights are on this machine
      now (a shipped package installed, torchvision's checkpoint in
      ``torch.hub.get_dir()/checkpoints``, a sentence-transformers model in the
      Hugging Face cache), so that loading needs no download.

    ``params``, ``input_size``, ``output_dim`` and ``n_blocks`` have pandas'
    nullable ``Int64`` dtype, ``available_offline`` is ``bool`` and the other
    columns hold Python strings (``object``). A fact that cannot be known
    without downloading the model is missing (``<NA>`` or None), not guessed.

    Examples
    --------
    >>> df = list_models(modality="image")
    >>> columns = ["params", "input_size", "output_dim", "n_blocks"]
    >>> df.set_index("name").loc["resnet18", columns].tolist()
    [11689512, 224, 512, 5]
    >>> bool(df.set_index("name").loc["efficientnet_lite0", "available_offline"])
    True
    >>> text = list_models(modality="text", available_offline=True)
    >>> text.set_index("name").loc["all-MiniLM-L6-v2", ["output_dim", "input_size"]].tolist()
    [384, 256]
    """
    import pandas as pd

    modality = _check_modality(modality)
    if available_offline not in (None, True, False):
        raise ValueError(
            f"available_offline must be None, True or False, got {available_offline!r}"
        )
    listed = _listed(modality, bool(include_test_models))
    for family in {id(f): f for _, f in listed}.values():
        if hasattr(family, "prefetch_facts"):
            family.prefetch_facts([n for n, f in listed if f is family])
    rows = sorted(
        (_row(name, family) for name, family in listed), key=lambda r: (r["modality"], r["name"])
    )
    if available_offline is not None:
        rows = [r for r in rows if r["available_offline"] == available_offline]
    columns = {}
    for col in COLUMNS:
        values = [r[col] for r in rows]
        if col in INT_COLUMNS:
            columns[col] = pd.array(values, dtype="Int64")
        elif col == "available_offline":
            columns[col] = pd.array(values, dtype=bool)
        else:
            columns[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns).reset_index(drop=True)


def model_info(name):
    """The facts of one model, as a dict (a row of :func:`list_models`).

    Parameters
    ----------
    name : str
        A model name as given to the encoders: a listed name, a
        sentence-transformers hub name (``org/name``) or a local folder.

    Returns
    -------
    dict
        Keys as the columns of :func:`list_models`; unknown facts are None.

    Raises
    ------
    ValueError
        For a name no backbone resolves; the message suggests close matches,
        as :func:`sktransfer.backbones.get_backbone` does.

    Examples
    --------
    >>> info = model_info("all-MiniLM-L6-v2")
    >>> info["params"], info["output_dim"], info["input_size"], info["licence"]
    (22713216, 384, 256, 'Apache-2.0')
    >>> model_info("resnet19")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown model 'resnet19'. Did you mean 'resnet1d', 'resnet18', ...
    """
    family = family_of(name)  # TypeError, or ValueError with close matches
    return _row(os.fspath(name), family)


def default_candidates(modality, available_offline=True):
    """Names of the models a search over ``modality`` should try by default.

    The models sktransfer can use for ``modality``, test networks excluded:
    by default only those whose weights are on this machine now. torchvision
    models that sktransfer cannot cut into blocks are left out.

    Parameters
    ----------
    modality : {"image", "text", "timeseries", "audio"}
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
    modality = _check_modality(modality, allow_none=False)
    out = []
    for name, family in _listed(modality):
        # Availability first: it is cheap; whether it can be cut needs a meta build.
        if available_offline is not None and family.available_offline(name) != available_offline:
            continue
        if family.loadable(name):
            out.append(name)
    return out
