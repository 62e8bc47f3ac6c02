"""Domain adaptation with skada: pretrained encoders inside skada's pipelines.

A labelled *source* domain and an unlabelled *target* domain (for example
printed digits and handwritten ones, or film reviews and tweets): the
adaptation itself is skada's (``pip install "sktransfer[adapt]"``): its
adapters (CORAL, subspace alignment, optimal-transport mappings,
reweighting...), its domain-aware splitters and its scorers that need no
target labels. sktransfer's encoders are ordinary steps of
``skada.make_da_pipeline``: they are fitted on both domains, learn nothing,
and their cached features are what the adapter aligns.

skada's conventions: ``X`` holds the source and target rows together; ``y``
is -1 (classification) or NaN (regression) on the unlabelled target rows;
``sample_domain`` is positive on source rows and negative on target rows, and
is passed to ``fit`` (and to ``GridSearchCV.fit``), which routes it through
the pipeline. :func:`domain_arrays` builds the three arrays.

The fine-tuners (``ImageClassifier``, ``TextClassifier``...) adapt while
they train: ``domain_loss="dann" | "deepcoral" | "dan"`` adds skada.deep's
loss between the two domains' features at the backbone's feature layer
(``"mcc"``: minimum class confusion on the target rows' predictions;
several joined by ``"+"``, e.g. ``"dann+mcc"``, add up), and
their ``fit`` takes ``sample_domain`` (also inside ``make_da_pipeline`` and
``GridSearchCV``, which route it there). The torch side lives in
``sktransfer.finetune._domain_torch``.

Two things in skada expect numeric feature arrays as ``X``: its splitters and
its scorers call ``check_array`` on it, which rejects texts and image paths.
:class:`RowSplitter` and :class:`FeatureScorer` wrap them so they take the
raw rows that the encoders take.

Like ``import skada``, the functions here turn on scikit-learn's metadata
routing (``sklearn.set_config(enable_metadata_routing=True)``), which skada
needs to pass ``sample_domain`` to each step.

Notes
-----
- Reweighting adapters (``KMMReweightAdapter``, ``DensityReweightAdapter``...)
  pass ``sample_weight`` on: the final estimator must ask for it, e.g.
  ``LogisticRegression().set_fit_request(sample_weight=True)``.
- ``CORALAdapter()``'s default ``reg="auto"`` gives NaN features on
  all-MiniLM-L6-v2 embeddings (3 of their 384 dimensions are numerically
  constant, so the covariance is singular); give a number, e.g.
  ``CORALAdapter(reg=0.1)``.
- skada's pipelines overwrite the target rows of the ``y`` they are fitted on
  with -1 / NaN, in place.

Examples
--------
>>> from sklearn.linear_model import LogisticRegression
>>> from skada import CORALAdapter, make_da_pipeline
>>> from sktransfer import TextEncoder
>>> from sktransfer.adapt import domain_arrays
>>> films = ["a great film", "a dreadful film", "great acting", "dreadful plot",
...          "a fine story", "an awful script", "fine music", "awful pacing"]
>>> phones = ["great phone, love it", "battery is dreadful", "fine screen",
...           "awful camera", "great value", "dreadful support"]
>>> X, y, sample_domain = domain_arrays(films, [1, 0, 1, 0, 1, 0, 1, 0], phones)
>>> y
array([ 1,  0,  1,  0,  1,  0,  1,  0, -1, -1, -1, -1, -1, -1])
>>> sample_domain
array([ 1,  1,  1,  1,  1,  1,  1,  1, -2, -2, -2, -2, -2, -2])
>>> pipe = make_da_pipeline(
...     TextEncoder(model="sktransfer/tiny-text"),  # a tiny test network
...     CORALAdapter(reg=0.1),
...     LogisticRegression(),
... ).fit(X, y, sample_domain=sample_domain)
>>> pipe.predict(["a great camera"]).shape
(1,)

Choosing hyperparameters without target labels: skada's splitter and one of
its unsupervised scorers in ``GridSearchCV``, wrapped so that they take texts.
``sample_domain`` goes to ``fit`` and is routed to both.

>>> from sklearn.model_selection import GridSearchCV
>>> from skada.metrics import PredictionEntropyScorer
>>> from skada.model_selection import SourceTargetShuffleSplit
>>> from sktransfer.adapt import FeatureScorer, RowSplitter
>>> search = GridSearchCV(
...     pipe,
...     {"coraladapter__reg": [0.1, 1.0]},
...     cv=RowSplitter(SourceTargetShuffleSplit(n_splits=2, test_size=0.25, random_state=0)),
...     scoring=FeatureScorer(PredictionEntropyScorer()),
...     error_score="raise",
... ).fit(X, y, sample_domain=sample_domain)
>>> sorted(search.best_params_)
['coraladapter__reg']
"""

import numbers

import numpy as np

from ._contract import check_length
from ._deps import require

__all__ = ["domain_arrays", "check_domain_arrays", "RowSplitter", "FeatureScorer"]

# skada's defaults (skada._utils): one source domain labelled 1, one target
# domain labelled -2, unlabelled rows marked -1 (classes) or NaN (regression).
_SOURCE, _TARGET = 1, -2

_MAX_LISTED = 5


def _skada(purpose):
    """Import skada (with the install hint) and make sure routing is on."""
    skada = require("skada", purpose=purpose)
    import sklearn

    # skada turns metadata routing on when it is first imported; a later
    # set_config (or a test that restored it) would leave sample_domain
    # unroutable, so say it again here.
    if not sklearn.get_config().get("enable_metadata_routing", False):
        sklearn.set_config(enable_metadata_routing=True)
    return skada


# --------------------------------------------------------------------------- rows


def _n_rows(X, name):
    if X is None:
        raise TypeError(
            f"{name} is None; expected a sequence of rows (texts, images, paths or a feature "
            "array)."
        )
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} is a single {type(X).__name__} ({str(X)[:40]!r}); expected a sequence of "
            "rows. Wrap it in a list: [X]."
        )
    if hasattr(X, "shape") and len(getattr(X, "shape", ())) == 0:
        raise TypeError(f"{name} is a scalar; expected a sequence of rows.")
    try:
        return len(X)
    except TypeError:
        raise TypeError(
            f"{name} has no length ({type(X).__name__}); expected a sequence of rows such as a "
            "list, an array, a pandas Series or DataFrame."
        ) from None


def _as_list(X, name):
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} is a DataFrame with {X.shape[1]} columns; it can only be joined with a "
                "DataFrame of the same columns."
            )
        return list(X.iloc[:, 0])
    return list(X)


def _concat_rows(X_source, X_target):
    """Source rows then target rows, keeping the input type where both agree."""
    import pandas as pd

    if isinstance(X_source, pd.DataFrame) and isinstance(X_target, pd.DataFrame):
        if list(X_source.columns) != list(X_target.columns):
            raise ValueError(
                f"X_source and X_target have different columns: {list(X_source.columns)[:10]} "
                f"and {list(X_target.columns)[:10]}."
            )
        return pd.concat([X_source, X_target], ignore_index=True)
    if isinstance(X_source, pd.Series) and isinstance(X_target, pd.Series):
        out = pd.concat([X_source, X_target], ignore_index=True)
        out.name = X_source.name if X_source.name == X_target.name else None
        return out
    if isinstance(X_source, np.ndarray) and isinstance(X_target, np.ndarray):
        text_like = X_source.dtype.kind in "OUS" and X_target.dtype.kind in "OUS"
        if X_source.shape[1:] == X_target.shape[1:] and (
            X_source.dtype == X_target.dtype or text_like
        ):
            return np.concatenate([X_source, X_target])
    # Lists, tuples, mixed types, and images of different sizes (which the
    # image encoder takes as a list of arrays).
    return _as_list(X_source, "X_source") + _as_list(X_target, "X_target")


# --------------------------------------------------------------------------- labels


def _rows(positions):
    shown = ", ".join(f"row {int(p)}" for p in positions[:_MAX_LISTED])
    more = len(positions) - min(len(positions), _MAX_LISTED)
    return shown + (f" and {more} more" if more > 0 else "")


_STRING_LABELS_HINT = (
    "skada needs numeric labels, because it marks unlabelled target rows with -1 (classes) or NaN "
    "(regression). Encode class names first and decode the predictions after:\n"
    "    from sklearn.preprocessing import LabelEncoder\n"
    "    encoder = LabelEncoder().fit(y_source)\n"
    "    X, y, sample_domain = domain_arrays(X_source, encoder.transform(y_source), X_target)\n"
    "    labels = encoder.inverse_transform(pipe.predict(X_new))"
)


def _numeric_labels(y, name):
    """y as a 1-D numeric ndarray, or a clear error."""
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row); got shape {y.shape}.")
    kind = y.dtype.kind
    if kind == "b":
        return y.astype(np.int64)
    if kind == "u":
        # -1 must fit: uint8 labels would wrap around to 255.
        return y.astype(np.int64)
    if kind in "if":
        return y
    if kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in y):
        return np.asarray(y.tolist())
    if kind in "OUS":
        example = next(
            (v for v in y if not isinstance(v, numbers.Number)), y[0] if len(y) else None
        )
        example = example.item() if isinstance(example, np.generic) else example
        raise ValueError(
            f"{name} holds non-numeric labels (e.g. {example!r}). {_STRING_LABELS_HINT}"
        )
    raise ValueError(f"{name} has dtype {y.dtype}; expected numeric labels. {_STRING_LABELS_HINT}")


def _is_regression(y):
    from sklearn.utils.multiclass import type_of_target

    finite = y[~np.isnan(y)] if y.dtype.kind == "f" else y
    if len(finite) == 0:
        return y.dtype.kind == "f"
    return type_of_target(finite) in ("continuous", "continuous-multioutput")


def _check_no_sentinel(y, name):
    """The unlabelled markers may not appear among real labels."""
    if y.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(y))
        if len(nan):
            raise ValueError(
                f"{name} has NaN in {len(nan)} row(s): {_rows(nan)}. skada reads NaN as "
                "'unlabelled', so those rows would be dropped from training without a word; drop "
                "them or fill them."
            )
    if not _is_regression(y):
        marked = np.flatnonzero(y == -1)
        if len(marked):
            raise ValueError(
                f"{name} has the label -1 in {len(marked)} row(s): {_rows(marked)}. skada reserves "
                "-1 for 'unlabelled' rows, so they would be dropped from training without a word; "
                "re-encode the classes (e.g. with sklearn.preprocessing.LabelEncoder) to "
                "0..n_classes-1."
            )


# --------------------------------------------------------------------------- public


def domain_arrays(X_source, y_source, X_target, *, y_target=None):
    """Build skada's ``(X, y, sample_domain)`` from source and target data.

    Parameters
    ----------
    X_source : sequence of rows
        Labelled source rows: a list or array of texts, image paths, PIL
        images, uint8 images, a pandas Series or DataFrame, or a feature
        array.
    y_source : array-like of shape (n_source,)
        Numeric source labels: class labels (int, or float with integer
        values) or regression targets (float). For class names, encode them
        first with :class:`sklearn.preprocessing.LabelEncoder` (the error says
        how): skada marks unlabelled rows with -1, which needs numbers.
    X_target : sequence of rows
        Unlabelled target rows, of the same kind as ``X_source``.
    y_target : array-like of shape (n_target,), optional
        Target labels where known, for skada's semi-supervised methods or to
        score with ``skada.metrics.SupervisedScorer``; unknown entries are -1
        or NaN. Careful: skada's pipelines overwrite the target rows of the
        ``y`` they are fitted on with -1/NaN (in place) unless built with
        ``mask_target_labels=False``; keep ``y_target`` itself for evaluation.

    Returns
    -------
    X : list, ndarray, pandas Series or DataFrame
        Source rows then target rows. Two DataFrames (same columns) or two
        Series are concatenated with a fresh index; two arrays with the same
        row shape and dtype give an array; anything else (lists, images of
        different sizes, mixed types) gives a list.
    y : ndarray of shape (n_source + n_target,)
        ``y_source`` then -1 (classification) or NaN (regression) on the target
        rows, or ``y_target``.
    sample_domain : ndarray of int
        1 on source rows and -2 on target rows, skada's defaults.

    Raises
    ------
    ValueError
        If there are no source or no target rows, no source labels, labels
        whose length differs from their rows, non-numeric labels, or source
        labels equal to skada's unlabelled markers (-1 for classes, NaN).
    ImportError
        If skada is not installed (``pip install "sktransfer[adapt]"``).

    Examples
    --------
    >>> import numpy as np
    >>> X, y, sample_domain = domain_arrays(["good", "bad"], [1, 0], ["fine", "awful", "meh"])
    >>> X
    ['good', 'bad', 'fine', 'awful', 'meh']
    >>> y, sample_domain
    (array([ 1,  0, -1, -1, -1]), array([ 1,  1, -2, -2, -2]))
    >>> domain_arrays(np.zeros((2, 8, 8), np.uint8), [0.5, 1.5], np.ones((1, 8, 8), np.uint8))[1]
    array([0.5, 1.5, nan])
    >>> domain_arrays(["good", "bad"], ["pos", "neg"], ["fine"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y_source holds non-numeric labels (e.g. 'pos'). skada needs numeric labels, ...
    """
    _skada("domain_arrays")
    from skada.utils import source_target_merge

    n_source = _n_rows(X_source, "X_source")
    n_target = _n_rows(X_target, "X_target")
    if n_source == 0:
        raise ValueError(
            "X_source has no rows; domain adaptation needs labelled source rows to learn from."
        )
    if n_target == 0:
        raise ValueError(
            "X_target has no rows; domain adaptation needs unlabelled target rows to adapt to. "
            "Without them, fit an ordinary pipeline on the source rows."
        )
    if y_source is None or (_n_rows(y_source, "y_source") == 0):
        raise ValueError(
            f"No source labels (y_source is {'None' if y_source is None else 'empty'}); domain "
            f"adaptation needs one label per source row ({n_source} rows in X_source)."
        )
    check_length(None, n_source, y_source, "y_source", "labels", x="X_source")
    y_s = _numeric_labels(y_source, "y_source")
    _check_no_sentinel(y_s, "y_source")
    if y_target is not None:
        check_length(None, n_target, y_target, "y_target", "labels", x="X_target")
        y_t = _numeric_labels(y_target, "y_target")
        dtype = np.result_type(y_s, y_t)
        y_s, y_t = y_s.astype(dtype), y_t.astype(dtype)
    else:
        y_t = None

    X = _concat_rows(X_source, X_target)
    sample_domain = np.concatenate([np.full(n_source, _SOURCE), np.full(n_target, _TARGET)])
    # skada's own merge picks the unlabelled marker (-1 or NaN) for the target rows.
    y, sample_domain = source_target_merge(y_s, y_t, sample_domain=sample_domain)
    return X, y, np.asarray(sample_domain).astype(np.int64)


def check_domain_arrays(X, y, sample_domain):
    """Check that ``X``, ``y`` and ``sample_domain`` fit together, with clear errors.

    skada's pipelines index ``y`` with masks built from ``sample_domain``, so
    a ``sample_domain`` of the wrong length fails deep inside with "boolean
    index did not match". Call this before ``fit`` when you build the arrays
    yourself (:func:`domain_arrays` builds consistent ones); :class:`RowSplitter`
    and :class:`FeatureScorer` call it for you in a grid search.

    Parameters
    ----------
    X : sequence of rows
    y : array-like of shape (n_samples,) or None
        Labels, -1 or NaN on unlabelled rows. None skips the label checks
        (prediction time).
    sample_domain : array-like of int, shape (n_samples,)
        Positive (or 0) on source rows, negative on target rows.

    Raises
    ------
    ValueError
        Lengths that differ (naming both), no source rows, no target rows (when
        ``y`` is given, i.e. at fit), or no labelled source row.

    Examples
    --------
    >>> check_domain_arrays(["a", "b", "c"], [1, 0, -1], [1, 1, -2])
    >>> check_domain_arrays(["a", "b", "c"], [1, 0, -1], [1, -2])  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: X has 3 rows but sample_domain has 2 entries; they must have the same length.
    """
    n = _n_rows(X, "X")
    if sample_domain is None:
        raise ValueError(
            "sample_domain is None; pass one domain label per row (positive: source, negative: "
            "target), e.g. from sktransfer.adapt.domain_arrays."
        )
    sample_domain = np.asarray(sample_domain)
    if sample_domain.ndim != 1:
        raise ValueError(f"sample_domain must be 1-D; got shape {sample_domain.shape}.")
    check_length(None, n, sample_domain, "sample_domain")
    if sample_domain.dtype.kind not in "iu" and not (
        sample_domain.dtype.kind == "f"
        and np.all(np.isfinite(sample_domain))
        and np.all(sample_domain == np.round(sample_domain))
    ):
        raise ValueError(
            "sample_domain must hold integers (positive: source, negative: target); got dtype "
            f"{sample_domain.dtype}."
        )
    source = sample_domain >= 0
    if y is None:
        return None
    check_length(None, n, y)
    if not source.any():
        raise ValueError(
            "sample_domain has no source row (>= 0); domain adaptation needs labelled source rows."
        )
    if source.all():
        raise ValueError(
            "sample_domain has no target row (< 0); domain adaptation needs unlabelled target "
            "rows to adapt to."
        )
    y = _numeric_labels(y, "y")
    y_source = y[source]
    unlabelled = np.isnan(y_source) if y.dtype.kind == "f" else np.zeros(len(y_source), bool)
    if not _is_regression(y):
        unlabelled |= y_source == -1
    if unlabelled.all():
        raise ValueError(
            f"No source labels: all {int(source.sum())} source rows of y are unlabelled (-1 or "
            "NaN)."
        )
    return None


# --------------------------------------------------------------------------- model selection


class RowSplitter:
    """Let a skada splitter split any rows: texts, image paths, images.

    skada's splitters (``SourceTargetShuffleSplit``, ``LeaveOneDomainOut``...)
    call ``check_array`` on ``X`` only to count its rows, and that rejects a
    list of texts or paths. This wrapper hands them a placeholder with the
    same number of rows, and checks the lengths of ``X``, ``y`` and
    ``sample_domain`` first (:func:`check_domain_arrays`).

    Parameters
    ----------
    cv : skada or scikit-learn splitter

    Examples
    --------
    >>> from skada.model_selection import SourceTargetShuffleSplit
    >>> X, y, sample_domain = domain_arrays(
    ...     ["a", "b", "c", "d"], [0, 1, 0, 1], ["e", "f", "g", "h"]
    ... )
    >>> cv = RowSplitter(SourceTargetShuffleSplit(n_splits=2, test_size=0.5, random_state=0))
    >>> [(len(train), len(test)) for train, test in cv.split(X, y, sample_domain=sample_domain)]
    [(4, 4), (4, 4)]
    """

    def __init__(self, cv):
        self.cv = cv

    def _placeholder(self, X, y, params):
        if "sample_domain" in params:
            check_domain_arrays(X, None, params["sample_domain"])
        n = _n_rows(X, "X")
        if y is not None:
            check_length(None, n, y)
        return np.zeros((n, 1))

    def split(self, X, y=None, **params):
        """Yield (train, test) index arrays, as the wrapped splitter does."""
        yield from self.cv.split(self._placeholder(X, y, params), y, **params)

    def get_n_splits(self, X=None, y=None, **params):
        """Number of splits of the wrapped splitter."""
        if X is not None:
            X = np.zeros((_n_rows(X, "X"), 1))
        return self.cv.get_n_splits(X, y, **params)

    def get_metadata_routing(self):
        """The wrapped splitter's routing (skada's request ``sample_domain``)."""
        from sklearn.utils.metadata_routing import get_routing_for_object

        return get_routing_for_object(self.cv)

    def __repr__(self):
        return f"{type(self).__name__}({self.cv!r})"


def _feature_prefix(estimator):
    """How many leading steps of a pipeline turn raw rows into features.

    Those are the steps that act the same on every domain: not skada adapters,
    not the final step, and either unwrapped or wrapped in skada's plain
    ``Shared`` selector (``PerDomain`` and the like transform by domain).
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        return 0
    _skada("FeatureScorer")
    from skada.base import BaseAdapter, BaseSelector, Shared

    k = 0
    for _, step in estimator.steps[:-1]:
        if step is None or step == "passthrough":
            break
        if isinstance(step, BaseSelector):
            if type(step) is not Shared:
                break
            step = step.base_estimator
        if isinstance(step, BaseAdapter) or not hasattr(step, "transform"):
            break
        k += 1
    return k


# skada scorers that look at X only through the estimator's predictions: they
# can score an estimator that takes raw rows (a fine-tuner) through row numbers.
_PREDICTION_ONLY_SCORERS = (
    "PredictionEntropyScorer",
    "SoftNeighborhoodDensity",
    "CircularValidation",
)


def _is_numeric_array(X):
    return hasattr(X, "dtype") and getattr(X, "ndim", 0) >= 2 and X.dtype.kind in "biuf"


class _ByRowNumber:
    """An estimator that takes raw rows, seen by a skada scorer through row numbers.

    The scorer gets a column of row numbers as ``X`` (numeric, so its
    ``check_array`` passes) and this proxy maps each call back to the rows.
    """

    def __init__(self, estimator, rows):
        self.estimator = estimator
        self.rows = rows

    def _take(self, X):
        from sklearn.utils import _safe_indexing

        return _safe_indexing(self.rows, np.asarray(X)[:, 0].astype(np.int64))

    def fit(self, X, y=None, **params):
        self.estimator.fit(self._take(X), y, **params)
        return self

    def predict(self, X, **params):
        return self.estimator.predict(self._take(X), **params)

    def predict_proba(self, X, **params):
        return self.estimator.predict_proba(self._take(X), **params)


class FeatureScorer:
    """Let a skada scorer score a pipeline whose input is texts or images.

    skada's scorers (``PredictionEntropyScorer``, ``ImportanceWeightedScorer``,
    ``DeepEmbeddedValidation``, ``SoftNeighborhoodDensity``,
    ``CircularValidation``...) call ``check_array`` on ``X``, which rejects
    texts and image paths. This wrapper runs the pipeline's leading feature
    steps (the encoder, and any domain-independent transformer after it) on
    ``X`` once, and gives the wrapped scorer the features and the rest of the
    pipeline. The encoders are frozen, so the score is the same as skada would
    compute on the whole pipeline; scorers that estimate densities
    (``ImportanceWeightedScorer``) then estimate them on features, not on raw
    pixels. Features come from the shared cache, so this costs no forward
    pass after fit.

    An estimator that takes the raw rows itself (a fine-tuner such as
    ``TextClassifier(domain_loss="dann")``, alone or in ``make_da_pipeline``)
    has no features to hand over: scorers that use ``X`` only through its
    predictions (``PredictionEntropyScorer``, ``SoftNeighborhoodDensity``,
    ``CircularValidation``) then score it through row numbers; the others
    raise an error that says so.

    Parameters
    ----------
    scorer : skada scorer
        Any scorer with skada's signature ``scorer(estimator, X, y, sample_domain=...)``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skada import SubspaceAlignmentAdapter, make_da_pipeline
    >>> from skada.metrics import PredictionEntropyScorer
    >>> from sktransfer import TextEncoder
    >>> films, labels = ["good", "bad", "great", "awful"], [1, 0, 1, 0]
    >>> X, y, sample_domain = domain_arrays(films, labels, ["fine", "poor"])
    >>> pipe = make_da_pipeline(
    ...     TextEncoder(model="sktransfer/tiny-text"),
    ...     SubspaceAlignmentAdapter(n_components=2, random_state=0),
    ...     LogisticRegression(),
    ... ).fit(X, y, sample_domain=sample_domain)
    >>> score = FeatureScorer(PredictionEntropyScorer())(pipe, X, y, sample_domain=sample_domain)
    >>> bool(-0.7 < score <= 0)  # minus the mean entropy of the target predictions
    True
    """

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, estimator, X, y_true=None, **params):
        if "sample_domain" in params:
            check_domain_arrays(X, None, params["sample_domain"])
        if y_true is not None:
            check_length(None, _n_rows(X, "X"), y_true)
        k = _feature_prefix(estimator)
        if k:
            X = estimator[:k].transform(X)
            estimator = estimator[k:]
        elif not _is_numeric_array(X):
            name = type(self.scorer).__name__
            if name not in _PREDICTION_ONLY_SCORERS:
                raise ValueError(
                    f"{name} reads the features of X, and {type(estimator).__name__} takes raw "
                    "rows (texts or images) with no feature step before it to compute them from. "
                    f"Use one of {list(_PREDICTION_ONLY_SCORERS)}, which need only the estimator's "
                    "predictions."
                )
            estimator = _ByRowNumber(estimator, X)
            X = np.arange(_n_rows(X, "X"))[:, None]
        return self.scorer(estimator, X, y_true, **params)

    def get_metadata_routing(self):
        """The wrapped scorer's routing (skada's scorers request ``sample_domain``)."""
        from sklearn.utils.metadata_routing import get_routing_for_object

        return get_routing_for_object(self.scorer)

    def __repr__(self):
        return f"{type(self).__name__}({self.scorer!r})"
