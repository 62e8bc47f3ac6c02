"""The estimator contract every sktransfer estimator shares, written once.

- Parameters common to every estimator, in scikit-learn's constraint language
  (``_parameter_constraints``), and the constraints scikit-learn lacks
  (integers that are not bools, device names).
- X through the estimator's modality, ``n_features_in_`` /
  ``feature_names_in_`` at fit and the same columns at predict/transform.
- One message for X and y (or any per-row array) of different lengths.
- The model's modality against the estimator's, and the input tags.
"""

import numbers
import os
import re

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._cache import is_folder_path
from .modalities import get_modality

__all__ = [
    "COMMON_CONSTRAINTS",
    "Constraint",
    "EmbeddingNamesMixin",
    "IntInterval",
    "check_length",
    "check_model",
    "check_rows",
    "input_attributes",
]


class IntInterval(Interval):
    """An integer interval that refuses bools, unlike scikit-learn's (``True`` is not 1 block)."""

    def __init__(self, left, right, *, closed):
        super().__init__(numbers.Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and super().is_satisfied_by(val)


class Constraint(HasMethods):
    """Base of our own constraints (scikit-learn's validation takes only its own classes).

    Subclasses define ``is_satisfied_by`` and ``__str__`` (which the
    ``InvalidParameterError`` message shows).
    """

    def __init__(self):
        super().__init__([])


class Device(Constraint):
    """``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (availability: at fit)."""

    def is_satisfied_by(self, val):
        return isinstance(val, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", val) is not None

    def __str__(self):
        return "a str among {'auto', 'cpu', 'cuda', 'cuda:N', 'mps'}"


class NonEmptyPath(Constraint):
    """A non-empty str or os.PathLike."""

    def is_satisfied_by(self, val):
        return isinstance(val, (str, os.PathLike)) and bool(os.fspath(val))

    def __str__(self):
        return "a non-empty str or os.PathLike"


class CacheFolder(Constraint):
    """A folder path for the disk cache: non-empty, and not an existing file."""

    def is_satisfied_by(self, val):
        return is_folder_path(val)

    def __str__(self):
        return "a folder path (str or os.PathLike) that is not an existing file"


#: Parameters every encoder and fine-tuner has; each class spreads this dict
#: into its own ``_parameter_constraints``.
COMMON_CONSTRAINTS = {
    "model": [NonEmptyPath()],
    "weights": [str, os.PathLike, None],
    "batch_size": [IntInterval(1, None, closed="left")],
    "device": [Device()],
    "cache": ["boolean", CacheFolder()],
    "verbose": ["verbose"],
}


#: How time-series estimators validate their rows (TimeSeriesModality's options).
SERIES_CONSTRAINTS = {
    "normalize": [StrOptions({"zscore", "minmax"}), None],
    "length": [None, IntInterval(2, None, closed="left")],
    "missing": [StrOptions({"error", "interpolate", "zero"})],
}
SERIES_DOCS = {
    "normalize": (
        '{"zscore", "minmax"} or None',
        """Per series and channel, before the network: "zscore" (mean 0,
        standard deviation 1; a constant channel becomes zeros), "minmax"
        (0 to 1) or None (as given; Fracast scales each series itself, so its
        features do not change with this).""",
    ),
    "length": (
        "int or None",
        """Each series keeps its last ``length`` points; shorter ones are
        padded at the start with unobserved points. None: series shorter than
        the longest in X are padded so.""",
    ),
    "missing": (
        '{"error", "interpolate", "zero"}',
        """NaN values: an error that names the rows (default), linear
        interpolation inside each channel, or zero after normalisation (the
        channel's mean with "zscore").""",
    ),
}


#: Text estimators' out-of-vocabulary policy, a build option of word-vector backbones.
OOV_CONSTRAINTS = {"oov": [StrOptions({"ignore", "zero", "error"})]}
OOV_DOC = (
    '{"ignore", "zero", "error"}',
    """Words that static word vectors do not know (other models have none:
    any value but "ignore" is an error for them). "ignore": a text is the
    mean of its known words; "zero": unknown words count as zero vectors,
    so the mean shrinks with their share; "error": a text with no known
    word raises (with "ignore" and "zero" it gets zeros and a
    ``NoKnownWordWarning``).""",
)


def load_backbone(estimator):
    """The shared backbone of an estimator's ``model``, ``weights`` and ``device``, with the
    build options it changed (text: ``oov``)."""
    from .backbones import get_backbone, resolve_device

    oov = getattr(estimator, "oov", "ignore")
    options = {} if oov == "ignore" else {"oov": oov}
    return get_backbone(
        estimator.model,
        weights=estimator.weights,
        device=resolve_device(estimator.device),
        **options,
    )


#: How audio estimators validate their rows (AudioModality's options).
AUDIO_CONSTRAINTS = {"sample_rate": [None, IntInterval(1, None, closed="left")]}
AUDIO_DOCS = {
    "sample_rate": (
        "int or None",
        """The sample rate (Hz) of waveform rows: a float array ``(n_clips,
        n_samples)`` or a list of 1-D arrays. Files, ``(waveform, rate)``
        pairs and ``{"array", "sampling_rate"}`` dicts carry their own rate;
        every clip is resampled to the network's (16 kHz for
        ``"resemblyzer-ge2e"``).""",
    ),
}


def check_model(estimator):
    """The estimator's model must be of the estimator's modality (a clear error otherwise)."""
    from .backbones import model_modality
    from .modalities import estimator_class

    have = model_modality(estimator.model)
    want = get_modality(estimator._modality).name
    if have != want:

        def article(word):
            return f"an {word}" if word[0] in "aeiou" else f"a {word}"

        try:
            other = f" Use {estimator_class(have, estimator._role).__name__} for it."
        except ValueError:
            other = ""
        raise ValueError(
            f"model={estimator.model!r} is {article(have)} model; {type(estimator).__name__} needs "
            f"{article(want)} model.{other}"
        )


def check_rows(estimator, X, *, reset):
    """X validated by the estimator's modality; at predict (``reset=False``), its columns too."""
    name = type(estimator).__name__
    modality = get_modality(estimator._modality)
    rows = modality.check_X(X, name, **modality.options_of(estimator))
    if reset:
        return rows
    if rows.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {rows.n_features} features, but {name} is expecting {estimator.n_features_in_} "
            "features as input."
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    if (
        fitted is not None
        and rows.feature_names is not None
        and list(rows.feature_names) != list(fitted)
    ):
        raise ValueError(
            f"{name} was fitted on column(s) {list(fitted)} but got column(s) "
            f"{list(rows.feature_names)}; the feature names should match those that were passed "
            "during fit."
        )
    return rows


def input_attributes(rows):
    """``n_features_in_`` and ``feature_names_in_`` (None: no names) that fit records from X."""
    return {"n_features_in_": rows.n_features, "feature_names_in_": rows.feature_names}


def set_attributes(estimator, attributes):
    """Set fitted attributes together; ``feature_names_in_=None`` removes an earlier fit's."""
    for key, value in attributes.items():
        if value is None and key == "feature_names_in_":
            estimator.__dict__.pop(key, None)
        else:
            setattr(estimator, key, value)


def check_length(caller, n_rows, values, what="y", unit="entries", x="X"):
    """The one message, everywhere, for a per-row array whose length is not X's.

    ``caller`` is the estimator, a function's name, or None; ``x`` names X.

    Examples
    --------
    >>> check_length("rank_encoders", 3, [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: rank_encoders: X has 3 rows but y has 2 entries; they must have the same length.
    """
    from sklearn.utils.validation import _num_samples

    name = caller if isinstance(caller, str) or caller is None else type(caller).__name__
    prefix = f"{name}: " if name else ""
    try:
        n = _num_samples(values)
    except TypeError:
        raise ValueError(
            f"{prefix}{what} must be an array-like with one entry per row of {x}."
        ) from None
    if n != n_rows:
        raise ValueError(
            f"{prefix}{x} has {n_rows} rows but {what} has {n} {unit}; they must have the same "
            "length."
        )


def apply_input_tags(tags, modality):
    """Set scikit-learn's input tags to what ``modality`` declares."""
    for key, value in get_modality(modality).input_tags.items():
        setattr(tags.input_tags, key, value)
    return tags


def feature_names_out(estimator, input_features, n_out):
    """``"<column>_<i>"`` output names (``"<class name lowercased>_<i>"`` for unnamed input)."""
    import numpy as np

    fitted = getattr(estimator, "feature_names_in_", None)
    if input_features is not None:
        input_features = [str(f) for f in input_features]
        expected = list(fitted) if fitted is not None else None
        if len(input_features) != estimator.n_features_in_ or (
            expected is not None and input_features != expected
        ):
            which = (
                "the one fitted column" if estimator.n_features_in_ == 1 else "the fitted columns"
            )
            raise ValueError(
                f"input_features should be {which} {expected or ''}, got {input_features}."
            )
        prefix = (
            input_features[0] if estimator.n_features_in_ == 1 else type(estimator).__name__.lower()
        )
    elif fitted is not None and len(fitted) == 1:
        prefix = str(fitted[0])
    else:
        prefix = type(estimator).__name__.lower()
    return np.asarray([f"{prefix}_{i}" for i in range(n_out)], dtype=object)


class EmbeddingNamesMixin:
    """``get_feature_names_out`` for a ``transform`` that gives ``embedding_dim_`` columns."""

    def get_feature_names_out(self, input_features=None):
        """Output names ``"<column>_<i>"`` (``"<class name>_<i>"`` for unnamed input).

        Parameters
        ----------
        input_features : array-like of str, optional
            The input column names; they must be those seen at fit.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self, "embedding_dim_")
        return feature_names_out(self, input_features, self.embedding_dim_)


class StateMixin:
    """Pickle and skops state: tagged with sktransfer's version, checked when loaded.

    Subclasses turn what is not plain data (a trained torch network, a
    DataFrame) into numpy arrays and Python values in ``_plain_state`` and back
    in ``_restore_state``, so that ``skops.io`` can store every fitted
    estimator without pickled tensors (:mod:`sktransfer.persist`).
    """

    def __getstate__(self):
        from . import __version__

        state = super().__getstate__()
        state = self._plain_state(dict(state))
        state["_sktransfer_version"] = __version__
        return state

    def __setstate__(self, state):
        from . import __version__

        state = dict(state)
        saved = state.pop("_sktransfer_version", None)
        if saved != __version__:
            raise ValueError(
                f"This {type(self).__name__} was saved by sktransfer {saved or '(unknown)'}; this "
                f"is sktransfer {__version__}, which cannot read it. Load it with sktransfer "
                f"{saved} (pip install sktransfer=={saved}), or fit it again."
            )
        super().__setstate__(self._restore_state(state))

    def _plain_state(self, state):
        return state

    def _restore_state(self, state):
        return state


def frame_state(frame):
    """A DataFrame as plain data (skops stores no pandas objects): columns, values, attrs."""
    from pandas.api.types import is_numeric_dtype

    return {
        "columns": [str(c) for c in frame.columns],
        "values": [
            frame[c].to_numpy() if is_numeric_dtype(frame[c]) else frame[c].tolist()
            for c in frame.columns
        ],
        "index": frame.index.tolist(),
        "attrs": dict(frame.attrs),
    }


def frame_from_state(state):
    import pandas as pd

    frame = pd.DataFrame(dict(zip(state["columns"], state["values"])), index=state["index"])
    frame.attrs.update(state["attrs"])
    return frame
