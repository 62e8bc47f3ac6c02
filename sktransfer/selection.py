"""Choosing a pretrained model, and checking that transfer helps at all.

- :func:`rank_encoders` embeds the data once per candidate encoder (through
  the shared cache) and ranks the candidates by transferability scores
  computed from the frozen features and the labels: no fine-tuning.
- :class:`EncoderSelector` does that inside ``fit``, on the training data
  only, and then transforms with the winner: safe in cross-validation and
  grid search.
- :func:`transfer_report` compares, under the same cross-validation splits,
  frozen pretrained features, fine-tuning, the same architecture from
  scratch and a non-neural baseline, and warns about negative transfer.

The scores (``"logme"``, ``"h_score"``, ``"gbc"``, ``"knn"``) are documented,
with their references, in ``sktransfer/_scores.py``.
"""

import logging
import os
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from . import _contract, _scores
from . import zoo as _zoo
from .backbones import model_modality
from .encoders import _Encoder
from .modalities import estimator_class, get_modality, infer_modality

log = logging.getLogger(__name__)

__all__ = [
    "EncoderSelector",
    "NegativeTransferWarning",
    "plot_ranking",
    "plot_report",
    "rank_encoders",
    "transfer_report",
    "SCORES",
]

#: The transferability scores that ``scores=`` takes.
SCORES = tuple(sorted(_scores.SCORES))


class NegativeTransferWarning(UserWarning):
    """Pretrained features or fine-tuning do not beat the non-pretrained baselines."""


# -- candidates -------------------------------------------------------------------
def _label(candidate):
    if isinstance(candidate, str):
        return candidate
    model = getattr(candidate, "model", type(candidate).__name__)
    extras = []
    if getattr(candidate, "weights", "DEFAULT") is None:
        extras.append("weights=None")
    elif getattr(candidate, "weights", "DEFAULT") != "DEFAULT":
        extras.append(f"weights={candidate.weights!r}")
    if getattr(candidate, "layer", None) is not None:
        extras.append(f"layer={candidate.layer!r}")
    return f"{model} ({', '.join(extras)})" if extras else str(model)


def _candidates(encoders, modality, X, encoder_params):
    """(label, unfitted encoder) pairs; names checked before any embedding."""
    if encoders is None:
        modality = infer_modality(X) if modality in (None, "auto") else modality
        encoders = _zoo.default_candidates(modality)
        if not encoders:
            raise ValueError(
                f"No {modality} encoder has its weights on this machine; pass encoders=[...]."
            )
    if isinstance(encoders, (str, BaseEstimator)):
        encoders = [encoders]
    out, modalities = [], set()
    for cand in encoders:
        if isinstance(cand, (str, os.PathLike)):
            name = os.fspath(cand)
            kind = model_modality(name)  # unknown names: ValueError listing close matches
            enc = estimator_class(kind, "encoder")(model=name, **encoder_params)
            modalities.add(kind)
        elif isinstance(cand, BaseEstimator) and hasattr(cand, "transform"):
            enc = clone(cand)
            if isinstance(cand, _Encoder):
                model_modality(cand.model)
                modalities.add(get_modality(cand._modality).name)
        else:
            raise TypeError(
                f"Each candidate must be a model name or an unfitted transformer such as "
                f"ImageEncoder(...); got {cand!r}."
            )
        out.append((_label(cand), enc))
    if len(modalities) > 1:
        raise ValueError(
            f"The candidates mix {' and '.join(sorted(modalities))} models: "
            + ", ".join(f"{lab}" for lab, _ in out)
            + ". Rank encoders of one modality at a time."
        )
    labels = [lab for lab, _ in out]
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ValueError(f"Candidates must differ; these appear more than once: {dupes}.")
    if not out:
        raise ValueError("encoders is empty: give at least one candidate.")
    return out


def _n_rows(X, candidates, caller):
    """Rows of X, validated as the encoders will (clear errors before any embedding)."""
    from sklearn.utils.validation import _num_samples

    for _, enc in candidates:
        if isinstance(enc, _Encoder):
            return len(get_modality(enc._modality).check_X(X, caller))
    return _num_samples(X)


def _resolve_scores(scores, regression):
    if scores == "auto":
        return ["logme", "knn"] if regression else ["logme", "h_score", "gbc", "knn"]
    if isinstance(scores, str):
        scores = [scores]
    scores = list(scores)
    unknown = [s for s in scores if s not in _scores.SCORES]
    if unknown or not scores:
        raise ValueError(f"Unknown score(s) {unknown}; choose from {list(SCORES)}.")
    if regression:
        bad = [s for s in scores if s not in _scores._SUPPORTS_REGRESSION]
        if bad:
            raise ValueError(
                f"y is a regression target; {bad} need class labels. Use 'logme' or 'knn' for "
                "regression."
            )
    return scores


def _check_target(y, scores, regression, n_rows, caller):
    y = np.asarray(y)
    _contract.check_length(caller, n_rows, y)
    if regression:
        return y
    # Every classification score needs two classes with at least two samples each.
    _scores._classes(y, f"{caller} (scores {scores})", min_per_class=2)
    return y


def _probe(features, y, regression, cv, random_state):
    if regression:
        est = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        splitter = KFold(cv, shuffle=True, random_state=random_state) if isinstance(cv, int) else cv
        scoring = "r2"
    else:
        est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        splitter = (
            StratifiedKFold(cv, shuffle=True, random_state=random_state)
            if isinstance(cv, int)
            else cv
        )
        scoring = "accuracy"
    # Small dense problems, as for the scores: BLAS threads beside torch's oversubscribe the
    # cores (a logistic regression took 6.5 s with 2 BLAS threads, 0.37 s with 1, on 2 busy cores).
    with threadpool_limits(1, user_api="blas"):
        res = cross_validate(est, features, y, cv=splitter, scoring=scoring)
    return float(np.mean(res["test_score"])), float(np.std(res["test_score"]))


def rank_encoders(
    X,
    y,
    encoders=None,
    *,
    scores="auto",
    sort_by=None,
    probe_cv=None,
    modality="auto",
    batch_size=32,
    device="auto",
    cache=True,
    random_state=0,
    plot=None,
    verbose=False,
):
    """Rank pretrained encoders for a dataset from frozen features, without fine-tuning.

    Each candidate embeds X once (through the shared cache, so a later
    fine-tune or grid search reuses the features); the features are then
    scored against y by transferability scores.

    Parameters
    ----------
    X : texts or images
        What :class:`~sktransfer.TextEncoder` / :class:`~sktransfer.ImageEncoder` take.
    y : array-like of shape (n_samples,)
        Class labels, or numbers for regression.
    encoders : list, default=None
        Model names (``"efficientnet_lite0"``, ``"resnet18"``,
        ``"all-MiniLM-L6-v2"``...) and/or unfitted encoders such as
        ``ImageEncoder("efficientnet_lite0", weights=None)`` or
        ``ImageEncoder("efficientnet_lite0", layer=-2)``. None: every model
        of X's modality whose weights are on this machine
        (:func:`sktransfer.zoo.default_candidates`).
    scores : "auto", str or list of str, default="auto"
        Any of ``"logme"`` (You et al., ICML 2021), ``"h_score"`` (Bao et
        al., ICIP 2019, with Ibrahim et al.'s shrinkage), ``"gbc"`` (Pándy
        et al., CVPR 2022), ``"knn"`` (cross-validated cosine k-NN
        accuracy). "auto": all four for classes, logme and knn for
        regression.
    sort_by : str, default=None
        The score that orders the table; None: the first of ``scores``.
    probe_cv : int, cross-validation splitter or None, default=None
        Also compute the cross-validated accuracy (R² for regression) of a
        standardised linear model on each candidate's features: a ground
        truth for the scores, at some extra cost.
    modality : {"auto", "text", "image"}, default="auto"
        Only used when ``encoders`` is None.
    batch_size, device, cache
        Passed to encoders built from names.
    random_state : int, default=0
        Seeds the k-NN score's and the probe's folds.
    plot : str or path, default=None
        Save a PNG of the ranking there (needs matplotlib).
    verbose : bool, default=False
        Progress bars while embedding. Each candidate's scores are also logged at
        INFO level to the ``sktransfer.selection`` logger.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, best first: ``rank``, ``encoder``,
        ``n_features``, one column per score, ``probe_score`` and
        ``probe_std`` (with ``probe_cv``), ``embed_time_s``, ``score_time_s``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer import ImageEncoder
    >>> from sktransfer.selection import rank_encoders
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (40, 16, 16), dtype=np.uint8)
    >>> y = np.repeat([0, 1], 20)
    >>> X[y == 1, :8] = 255  # class 1: a bright top half
    >>> candidates = ["sktransfer/tiny-cnn", ImageEncoder("sktransfer/tiny-cnn", layer=0)]
    >>> table = rank_encoders(X, y, candidates,
    ...                       scores=["logme", "knn"])
    >>> list(table.columns[:4])
    ['rank', 'encoder', 'n_features', 'logme']
    >>> len(table), table["rank"].tolist()
    (2, [1, 2])
    """
    regression = _scores.is_regression_target(y)
    score_names = _resolve_scores(scores, regression)
    sort_by = score_names[0] if sort_by is None else sort_by
    if sort_by not in score_names:
        raise ValueError(f"sort_by={sort_by!r} is not one of the computed scores {score_names}.")
    candidates = _candidates(
        encoders,
        modality,
        X,
        dict(batch_size=batch_size, device=device, cache=cache, verbose=verbose),
    )
    table = _rank(
        X, y, candidates, score_names, regression, sort_by, probe_cv, random_state, "rank_encoders"
    )
    if plot is not None:
        plot_ranking(table, plot)
    return table


def _rank(X, y, candidates, score_names, regression, sort_by, probe_cv, random_state, caller):
    """The ranking table of (label, encoder) candidates; ``caller`` names the function in errors."""
    n_rows = _n_rows(X, candidates, caller)
    y = _check_target(y, score_names, regression, n_rows, caller)
    rows = []
    for label, enc in candidates:
        t0 = time.perf_counter()
        features = np.asarray(enc.fit_transform(X), dtype=np.float64)
        embed_s = time.perf_counter() - t0
        row = {"encoder": label, "n_features": features.shape[1]}
        t0 = time.perf_counter()
        # Small dense algebra: BLAS threads add overhead here, and next to
        # torch's own threads they oversubscribe the cores (measured 10 s
        # against 0.3 s for the four scores of 500 x 384 features on 2 busy cores).
        with threadpool_limits(1, user_api="blas"):
            for name in score_names:
                params = {"random_state": random_state} if name == "knn" else {}
                row[name] = _scores.score_features(
                    features, y, name, regression=regression, **params
                )
        row["score_time_s"] = time.perf_counter() - t0
        row["embed_time_s"] = embed_s
        if probe_cv is not None:
            row["probe_score"], row["probe_std"] = _probe(
                features, y, regression, probe_cv, random_state
            )
        log.info(
            "%s: %s, %d features, embedded in %.1f s, %s",
            caller,
            label,
            features.shape[1],
            embed_s,
            ", ".join(f"{k}={row[k]:.3f}" for k in (*score_names, "probe_score") if k in row),
        )
        rows.append(row)
    table = (
        pd.DataFrame(rows)
        .sort_values(sort_by, ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    order = ["rank", "encoder", "n_features", *score_names]
    if probe_cv is not None:
        order += ["probe_score", "probe_std"]
    table = table[order + ["embed_time_s", "score_time_s"]]
    table.attrs["sort_by"] = sort_by
    table.attrs["task"] = "regression" if regression else "classification"
    return table


def _figure(figsize):
    """A matplotlib Figure and its one Axes, outside pyplot.

    The user's backend and open figures stay as they are: pyplot would need a
    backend, and switching it to Agg would stop later ``plt.show()`` calls.
    """
    from ._deps import require

    require("matplotlib", "plots")
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def plot_ranking(table, path):
    """Save a PNG of a :func:`rank_encoders` table: each score (min-max scaled) per encoder."""
    score_cols = [c for c in SCORES if c in table.columns]
    extra = ["probe_score"] if "probe_score" in table.columns else []
    fig, ax = _figure((max(5, 1.2 * len(table) + 2), 3.6))
    x = np.arange(len(table))
    width = 0.8 / (len(score_cols) + len(extra))
    for i, col in enumerate(score_cols + extra):
        v = table[col].to_numpy(dtype=float)
        span = v.max() - v.min()
        scaled = (v - v.min()) / span if span > 0 else np.ones_like(v)
        ax.bar(
            x + i * width,
            scaled,
            width,
            label=col + (" (accuracy)" if col == "probe_score" else ""),
        )
    ax.set_xticks(
        x + width * (len(score_cols) + len(extra) - 1) / 2,
        table["encoder"],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("score, min-max scaled")
    ax.set_title(f"rank_encoders (sorted by {table.attrs.get('sort_by', score_cols[0])})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_report(report, path):
    """Save a PNG of a :func:`transfer_report`: each approach's fold scores and their mean.

    Parameters
    ----------
    report : pandas.DataFrame
        What :func:`transfer_report` returns.
    path : str or path

    Returns
    -------
    path
    """
    names = [str(i) for i in report.index]
    fig, ax = _figure((7, 0.55 * len(names) + 1.6))
    y = np.arange(len(names))[::-1]
    colours = ["tab:blue" if p else "tab:gray" for p in report["pretrained"]]
    ax.barh(y, report["mean"], xerr=report["std"], color=colours, alpha=0.7, capsize=3)
    for yi, scores in zip(y, report["fold_scores"]):
        ax.plot(scores, np.full(len(scores), yi), "k.", ms=5)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel(report.attrs.get("scoring", "score") + " (bars: mean ± std; dots: folds)")
    # The verdict's first sentence; the table has the rest.
    ax.set_title(report.attrs.get("verdict", "transfer_report").split(". ")[0], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


class EncoderSelector(TransformerMixin, _contract.StateMixin, BaseEstimator):
    """Pick the best pretrained encoder for the training data, then transform with it.

    ``fit`` ranks the candidates with :func:`rank_encoders` on the training
    data only and keeps the best; ``transform`` uses it. In
    cross-validation each fold chooses on its own training part, so the
    choice never sees the validation rows. Features come from the shared
    cache, so folds and grid candidates embed each sample once per encoder.

    Parameters
    ----------
    candidates : list, default=None
        As ``encoders`` in :func:`rank_encoders` (names and/or unfitted
        encoders). None: every model of X's modality available offline.
    scoring : str, default="logme"
        The transferability score that chooses: ``"logme"``, ``"h_score"``,
        ``"gbc"`` or ``"knn"``. (Not ``score``: that name is every
        scikit-learn estimator's scoring method.)
    batch_size, device, cache, verbose
        Passed to encoders built from names.

    Attributes
    ----------
    ranking_ : pandas.DataFrame
        The ranking on the training data (see :func:`rank_encoders`).
    best_ : str
        The chosen candidate's label.
    encoder_ : TextEncoder or ImageEncoder
        The chosen encoder, fitted.
    n_features_in_ : int
        Columns of X seen at ``fit`` (1 for a single column of texts or images).
    feature_names_in_ : ndarray of str
        The column name, when X was a DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sktransfer import ImageEncoder
    >>> from sktransfer.selection import EncoderSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (40, 16, 16), dtype=np.uint8)
    >>> y = np.repeat([0, 1], 20)
    >>> X[y == 1, :8] = 255
    >>> scratch = ImageEncoder("sktransfer/tiny-cnn", weights=None)
    >>> sel = EncoderSelector(["sktransfer/tiny-cnn", scratch])
    >>> pipe = make_pipeline(sel, LogisticRegression()).fit(X, y)
    >>> pipe[0].best_ in ("sktransfer/tiny-cnn", "sktransfer/tiny-cnn (weights=None)")
    True
    """

    _parameter_constraints = {
        "candidates": [None, list, tuple, str, os.PathLike, BaseEstimator],
        "scoring": [StrOptions(set(SCORES))],
        **{
            k: _contract.COMMON_CONSTRAINTS[k] for k in ("batch_size", "device", "cache", "verbose")
        },
    }

    def __init__(
        self,
        candidates=None,
        *,
        scoring="logme",
        batch_size=32,
        device="auto",
        cache=True,
        verbose=False,
    ):
        self.candidates = candidates
        self.scoring = scoring
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Rank the candidates on (X, y) and fit the best one.

        Parameters
        ----------
        X : texts or images
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError("EncoderSelector requires y to be passed, but the target y is None.")
        pairs = _candidates(
            self.candidates,
            "auto",
            X,
            dict(
                batch_size=self.batch_size,
                device=self.device,
                cache=self.cache,
                verbose=self.verbose,
            ),
        )
        regression = _scores.is_regression_target(y)
        score_names = _resolve_scores([self.scoring], regression)
        ranking = _rank(
            X, y, pairs, score_names, regression, self.scoring, None, 0, "EncoderSelector"
        )
        best = ranking["encoder"].iloc[0]
        encoder = clone(dict(pairs)[best]).fit(X)
        _contract.set_attributes(
            self,
            {
                "ranking_": ranking,
                "best_": best,
                "encoder_": encoder,
                "n_features_in_": encoder.n_features_in_,
                "feature_names_in_": getattr(encoder, "feature_names_in_", None),
            },
        )
        return self

    def _plain_state(self, state):
        if "ranking_" in state:
            state["ranking_"] = _contract.frame_state(state["ranking_"])
        return state

    def _restore_state(self, state):
        if "ranking_" in state:
            state["ranking_"] = _contract.frame_from_state(state["ranking_"])
        return state

    def transform(self, X):
        """Features of X from the chosen encoder (shared cache)."""
        check_is_fitted(self, "encoder_")
        return self.encoder_.transform(X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "encoder_")
        return self.encoder_.get_feature_names_out(input_features)

    def _candidate_modality(self):
        """The candidates' modality, when they name one; None otherwise (X decides at fit)."""
        candidates = (
            [self.candidates]
            if isinstance(self.candidates, (str, BaseEstimator))
            else self.candidates
        )
        kinds = set()
        for cand in candidates or ():
            if isinstance(cand, _Encoder):
                kinds.add(get_modality(cand._modality).name)
            elif isinstance(cand, (str, os.PathLike)):
                try:
                    kinds.add(model_modality(cand))
                except (TypeError, ValueError, ImportError):
                    return None
        return kinds.pop() if len(kinds) == 1 else None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        tags.target_tags.required = True
        modality = self._candidate_modality()
        return tags if modality is None else _contract.apply_input_tags(tags, modality)


# -- negative transfer --------------------------------------------------------------
def _linear(regression):
    return (
        RidgeCV(alphas=np.logspace(-3, 3, 13)) if regression else LogisticRegression(max_iter=2000)
    )


def _baseline(modality, regression, options=None):
    """The modality's non-neural features, then a linear model."""
    name, steps = get_modality(modality).baseline(**(options or {}))
    return f"baseline: {name} + linear model", make_pipeline(*steps, _linear(regression))


def _scarcity(y, regression):
    n = len(y)
    if regression:
        return {"n_samples": n, "text": f"{n} samples (regression)."}
    _, counts = np.unique(np.asarray(y), return_counts=True)
    lo, med = int(counts.min()), float(np.median(counts))
    regime = (
        "few-shot"
        if med <= 20
        else "small data"
        if med <= 200
        else "moderate data"
        if med <= 2000
        else "large data"
    )
    return {
        "n_samples": n,
        "n_classes": len(counts),
        "min_per_class": lo,
        "median_per_class": med,
        "regime": regime,
        "text": f"{n} samples, {len(counts)} classes, {lo} to {int(counts.max())} per class "
        f"(median {med:g}): {regime}. Pretraining usually matters most with few labels per class.",
    }


#: The epoch budget of the report's from-scratch network, unless ``fine_tune_params`` sets one.
SCRATCH_MAX_EPOCHS = 5


def _validation_fraction(n_train):
    """The share held out for early stopping: the 50 rows that "auto" needs, within 10-20 %."""
    from .finetune._plan import AUTO_EARLY_STOPPING_MIN_VALID

    return float(np.clip(AUTO_EARLY_STOPPING_MIN_VALID / max(n_train, 1), 0.1, 0.2))


def _fold(est, X, y, split, scoring):
    """Fit a clone of ``est`` on one fold; its test score and fit time."""
    res = cross_validate(est, X, y, cv=[split], scoring=scoring, error_score="raise")
    return float(res["test_score"][0]), float(res["fit_time"][0])


def _cross_validate_all(approaches, X, y, splits, scoring, n_jobs, verbose):
    """Every approach on every fold, ``n_jobs`` at a time, with progress per fold.

    Returns ``{(approach, fold): (score, fit_time)}``. Approaches run in the
    order given: the frozen encoder first fills the cache that the fine-tuner's
    probe then reads.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tasks = [(name, k) for name, _, _ in approaches for k in range(len(splits))]
    estimators = {name: est for name, est, _ in approaches}
    jobs = (delayed(_fold)(estimators[name], X, y, splits[k], scoring) for name, k in tasks)
    bar = tqdm(total=len(tasks), disable=not verbose, desc="transfer_report", unit="fit")
    results = {}
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for (name, k), (score, fit_time) in zip(tasks, outputs):
        results[name, k] = (score, fit_time)
        bar.set_postfix_str(f"{name}, fold {k + 1}: {score:.3f}", refresh=False)
        bar.update(1)
        log.info(
            "transfer_report: %s, fold %d of %d: %.3f in %.1f s",
            name,
            k + 1,
            len(splits),
            score,
            fit_time,
        )
    bar.close()
    return results


def transfer_report(
    X,
    y,
    model,
    *,
    cv=5,
    fine_tune=True,
    scratch=True,
    baseline=True,
    fine_tune_params=None,
    scoring=None,
    random_state=0,
    n_jobs=None,
    device="auto",
    verbose=False,
):
    """Is transfer helping here? Pretrained vs fine-tuned vs scratch vs a non-neural baseline.

    All approaches are scored under the same cross-validation splits:

    (a) ``"pretrained features + linear"``: the frozen encoder, then a
        standardised logistic regression (ridge for regression);
    (b) ``"fine-tuned"``: the fine-tuning estimator from the pretrained
        weights (``fine_tune_params``; default ``n_trainable_blocks=2``),
        never worse than its own probe on its held-out rows;
    (c) ``"scratch"``: the same estimator, architecture and trainable
        blocks with ``weights=None``, on a small fixed budget
        (``SCRATCH_MAX_EPOCHS`` = 5 epochs unless ``fine_tune_params`` sets
        ``max_epochs``): what the same training gives without the pretrained
        weights, at about (b)'s cost (``{"n_trainable_blocks": "all"}``
        trains every block of both, at a far higher cost);
    (d) the non-neural baseline: TF-IDF (word 1-2 grams) + linear model
        for text, raw 32x32 pixels + linear model for images.

    Parameters
    ----------
    X : texts or images
    y : array-like of shape (n_samples,)
        Class labels, or numbers for regression.
    model : str
        The pretrained model (as for the encoders).
    cv : int or cross-validation splitter, default=5
        int: stratified (classes) or plain K folds, shuffled with ``random_state``.
    fine_tune, scratch, baseline : bool, default=True
        Include (b), (c), (d). (b) and (c) train networks and cost the most.
    fine_tune_params : dict, default=None
        Parameters of the fine-tuning estimator for (b) and (c), e.g.
        ``{"n_trainable_blocks": 1, "max_epochs": 10}``. Unless it says
        otherwise, ``validation_fraction`` holds out 50 of each fold's
        training rows (10-20 % of them), so that early stopping and the
        probe floor are on from about 250 training rows per fold. The
        input options of the modality among them (a time series'
        ``normalize``, ``length``, ``missing``; audio's ``sample_rate``)
        also set how the encoder (a) and the baseline read X.
    scoring : str, default=None
        Any scikit-learn scorer name; None: accuracy (classes) or R².
    random_state : int, default=0
        Seeds the folds (``cv`` as an int) and every network's initialisation and batches.
    n_jobs : int, default=None
        Fits (every approach on every fold) in parallel processes. Each
        process has its own in-memory cache; give the fine-tuners a disk
        ``cache`` folder through ``fine_tune_params`` to share one.
    device : str, default="auto"
        Where the networks run: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "mps".
    verbose : bool, default=False
        A progress bar over the approaches' folds (each fold's score as it
        ends), and the encoders' and fine-tuners' own progress. Each fold's
        and each approach's result is also logged at INFO level to the
        ``sktransfer.selection`` logger.

    Returns
    -------
    pandas.DataFrame
        One row per approach: ``mean``, ``std``, ``min``, ``max`` of the fold
        scores, ``gain_vs_best_non_pretrained``, ``fit_time_s`` (mean per
        fold) and ``fold_scores``. ``attrs["verdict"]`` says whether
        transfer helps, ``attrs["context"]`` describes the data scarcity
        (samples per class).

    Warns
    -----
    NegativeTransferWarning
        When the best pretrained approach (a or b) does not beat the best
        non-pretrained one (c or d) on average over the folds.

    Examples
    --------
    >>> import warnings
    >>> from sktransfer.selection import transfer_report
    >>> X = ["a fine good film", "a dull bad film", "good fun", "bad and dull"] * 6
    >>> y = [1, 0, 1, 0] * 6
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     report = transfer_report(
    ...         X, y, "sktransfer/tiny-text", cv=3, fine_tune=False, scratch=False
    ...     )
    >>> list(report.index)
    ['pretrained features + linear', 'baseline: TF-IDF + linear model']
    >>> report["mean"].tolist()  # both perfect: the pretrained model adds nothing here
    [1.0, 1.0]
    >>> [type(w.message).__name__ for w in caught]
    ['NegativeTransferWarning']
    >>> report.attrs["context"]["regime"]
    'few-shot'
    """
    from . import finetune  # noqa: F401 - registers the fine-tuners

    modality = model_modality(model)
    # The modality's input options (a time series' normalize, audio's sample_rate) given in
    # fine_tune_params hold for every approach: the encoder and the baseline read X the same way.
    options = {
        k: v for k, v in (fine_tune_params or {}).items() if k in get_modality(modality).options
    }
    y = np.asarray(y)
    _contract.check_length(
        "transfer_report", len(get_modality(modality).check_X(X, "transfer_report", **options)), y
    )
    regression = _scores.is_regression_target(y)
    if not regression:
        _scores._classes(y, "transfer_report", min_per_class=2)
    scoring = scoring or ("r2" if regression else "accuracy")
    if isinstance(cv, int):
        splitter = (KFold if regression else StratifiedKFold)(
            cv, shuffle=True, random_state=random_state
        )
    else:
        splitter = check_cv(cv, y, classifier=not regression)
    splits = list(splitter.split(np.zeros((len(y), 1)), y))

    enc_cls = estimator_class(modality, "encoder")
    approaches = [
        (
            "pretrained features + linear",
            make_pipeline(
                enc_cls(model=model, device=device, verbose=verbose, **options),
                StandardScaler(),
                _linear(regression),
            ),
            True,
        )
    ]
    tuner_cls = estimator_class(modality, "regressor" if regression else "classifier")
    params = {
        "n_trainable_blocks": 2,
        # Early stopping ("auto") needs 50 held-out rows: hold out up to 20 % to get them.
        "validation_fraction": _validation_fraction(min(len(train) for train, _ in splits)),
        **(fine_tune_params or {}),
    }
    common = dict(model=model, random_state=random_state, device=device, verbose=verbose)
    if fine_tune:
        tuned = tuner_cls(**common).set_params(**params)
        approaches.append(
            (f"fine-tuned (n_trainable_blocks={tuned.n_trainable_blocks})", tuned, True)
        )
    if scratch:
        # The same blocks trained as (b), from random weights: the frozen
        # prefix runs once (cached), so (c) costs about what (b) costs.
        scratch_params = {"max_epochs": SCRATCH_MAX_EPOCHS, **params, "weights": None}
        untrained = tuner_cls(**common).set_params(**scratch_params)
        approaches.append(
            (
                f"scratch (weights=None, n_trainable_blocks={untrained.n_trainable_blocks})",
                untrained,
                False,
            )
        )
    if baseline:
        name, est = _baseline(modality, regression, options)
        approaches.append((name, est, False))

    results = _cross_validate_all(approaches, X, y, splits, scoring, n_jobs, verbose)
    rows, per_fold = [], {}
    for name, _, pretrained in approaches:
        scores = np.asarray([results[name, k][0] for k in range(len(splits))], dtype=float)
        fit_time = float(np.mean([results[name, k][1] for k in range(len(splits))]))
        log.info(
            "transfer_report: %s: %s %.3f ± %.3f, %.1f s per fold",
            name,
            scoring,
            scores.mean(),
            scores.std(),
            fit_time,
        )
        per_fold[name] = (scores, pretrained)
        rows.append(
            {
                "approach": name,
                "pretrained": pretrained,
                "mean": scores.mean(),
                "std": scores.std(ddof=1) if len(scores) > 1 else 0.0,
                "min": scores.min(),
                "max": scores.max(),
                "fit_time_s": fit_time,
                "fold_scores": scores.round(4).tolist(),
            }
        )
    table = pd.DataFrame(rows).set_index("approach")
    context = _scarcity(y, regression)
    table.attrs["context"] = context
    table.attrs["scoring"] = scoring

    pre = {k: s for k, (s, p) in per_fold.items() if p}
    non = {k: s for k, (s, p) in per_fold.items() if not p}
    if not non:
        table["gain_vs_best_non_pretrained"] = np.nan
        table.attrs["verdict"] = (
            "No non-pretrained approach to compare with (scratch=False, baseline=False)."
        )
        return table
    best_non = max(non, key=lambda k: non[k].mean())
    table["gain_vs_best_non_pretrained"] = [
        per_fold[k][0].mean() - non[best_non].mean() for k in table.index
    ]
    best_pre = max(pre, key=lambda k: pre[k].mean())
    diff = pre[best_pre] - non[best_non]
    gain = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
    versus = (
        f"{best_pre!r} ({pre[best_pre].mean():.3f}) vs {best_non!r} ({non[best_non].mean():.3f})"
    )
    if gain <= 0:
        verdict = (
            f"Negative transfer: {versus}, a difference of {gain:+.3f} {scoring} over {len(diff)} "
            "folds. The pretrained model does not help on this data; prefer the baseline, or try "
            "another model (rank_encoders)."
        )
        warnings.warn(
            f"{verdict} Context: {context['text']}", NegativeTransferWarning, stacklevel=2
        )
    elif gain <= 2 * se:
        verdict = (
            f"No clear gain from transfer: {versus}, {gain:+.3f} {scoring}, within twice its "
            f"fold-to-fold standard error ({se:.3f})."
        )
    else:
        verdict = (
            f"Transfer helps: {versus}, {gain:+.3f} {scoring} (standard error {se:.3f} over "
            f"{len(diff)} folds)."
        )
    table.attrs["verdict"] = f"{verdict} {context['text']}"
    return table
