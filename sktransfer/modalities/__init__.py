"""Kinds of input (text, images, ...) as objects, and which estimators serve each.

Every modality is a :class:`~sktransfer.modalities.base.Modality` registered
here by name. Backbones declare theirs; the estimator base classes register
each public estimator under its modality and role, so model selection can
build "the encoder for images" without naming a class.

Examples
--------
>>> from sktransfer.modalities import get_modality, modality_names
>>> {"image", "text"} <= set(modality_names())
True
>>> get_modality("text").noun
'texts'
"""

from .audio import AudioModality
from .base import Modality, Rows, Sample, digest, row_label
from .image import ImageModality
from .text import TextModality
from .timeseries import TimeSeriesModality

__all__ = [
    "Modality",
    "Rows",
    "Sample",
    "digest",
    "estimator_class",
    "get_modality",
    "infer_modality",
    "modality_names",
    "register_estimator",
    "register_modality",
    "row_label",
]

_MODALITIES = {}
# (modality name, role) -> estimator class; roles: "encoder", "classifier", "regressor".
_ESTIMATORS = {}
ROLES = ("encoder", "classifier", "regressor")


def register_modality(modality):
    """Make ``modality`` (a :class:`Modality` instance) known by its ``name``; return it."""
    if (
        not isinstance(modality, Modality)
        or not isinstance(modality.name, str)
        or not modality.name
    ):
        raise TypeError(
            f"register_modality needs a Modality instance with a name, got {modality!r}."
        )
    _MODALITIES[modality.name] = modality
    return modality


def get_modality(modality):
    """The registered :class:`Modality` for a name (a Modality passes through)."""
    if isinstance(modality, Modality):
        return modality
    try:
        return _MODALITIES[modality]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown modality {modality!r}; known: {modality_names()}.") from None


def modality_names():
    return sorted(_MODALITIES)


def infer_modality(X):
    """The name of the first modality (by priority) whose ``looks_like`` accepts X.

    Examples
    --------
    >>> import numpy as np
    >>> infer_modality(["a good film"]), infer_modality(np.zeros((2, 8, 8), np.uint8))
    ('text', 'image')
    """
    try:
        empty = len(X) == 0
    except TypeError:
        empty = False
    if empty:
        raise ValueError("X is empty: cannot tell which kind of input it holds.")
    for modality in sorted(_MODALITIES.values(), key=lambda m: (m.priority, m.name)):
        if modality.looks_like(X):
            return modality.name
    raise ValueError(
        f"Cannot tell which kind of input X holds ({type(X).__name__}); known kinds: "
        f"{modality_names()}. Pass modality= or the candidates explicitly."
    )


def register_estimator(cls, role):
    """Record ``cls`` as the ``role`` estimator of its ``_modality``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}.")
    _ESTIMATORS[(get_modality(cls._modality).name, role)] = cls


def estimator_class(modality, role):
    """The public estimator class of ``role`` for ``modality`` (e.g. the image encoder)."""
    name = get_modality(modality).name
    try:
        return _ESTIMATORS[(name, role)]
    except KeyError:
        raise ValueError(f"No {role} is registered for {name!r} input.") from None


register_modality(ImageModality())
register_modality(TextModality())
register_modality(TimeSeriesModality())
register_modality(AudioModality())
