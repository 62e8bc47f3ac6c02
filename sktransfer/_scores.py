"""Transferability scores: rank frozen feature extractors without fine-tuning.

Each score takes the features a frozen backbone produced for the target
samples, ``features`` of shape (n_samples, n_features), and the target ``y``,
and returns one float; a higher score predicts better transfer. Scores are
comparable between feature sets scored against the *same* target, not across
targets or between different scores.

All inputs are validated here, so errors name the offending row or class.
"""

import numpy as np
from scipy import linalg, sparse
from sklearn.covariance import ledoit_wolf_shrinkage, shrunk_covariance
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import normalize
from sklearn.utils.multiclass import type_of_target

from ._contract import check_length

__all__ = [
    "SCORES",
    "gbc",
    "h_score",
    "is_regression_target",
    "knn_score",
    "logme",
    "score_features",
]

_MAX_LISTED = 5


# --------------------------------------------------------------------------
# Input validation


def is_regression_target(y):
    """Whether ``y`` looks like a continuous (regression) target.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Target values or class labels.

    Returns
    -------
    bool
        True when scikit-learn's :func:`~sklearn.utils.multiclass.type_of_target`
        calls ``y`` ``"continuous"`` or ``"continuous-multioutput"``: float
        values that are not all integers. Integer-valued floats, ints, strings
        and booleans are class labels.

    Examples
    --------
    >>> is_regression_target([0.5, 1.25, 3.0])
    True
    >>> is_regression_target(["cat", "dog", "cat"])
    False
    >>> is_regression_target([0.0, 1.0, 2.0])  # integer-valued: class labels
    False
    """
    return type_of_target(np.asarray(y)) in ("continuous", "continuous-multioutput")


def _as_features(features, score):
    F = np.asarray(features)
    if F.ndim != 2:
        raise ValueError(
            f"{score}: features must be a 2-D array of shape (n_samples, n_features); "
            f"got an array of shape {F.shape}."
        )
    if F.dtype.kind not in "biuf":
        raise TypeError(f"{score}: features must be numeric; got dtype {F.dtype}.")
    if F.shape[1] == 0:
        raise ValueError(f"{score}: features have 0 columns; need at least one feature.")
    return F.astype(np.float64, copy=False)


def _check_finite_rows(values, what, score):
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{score}: {what} contain NaN or infinity, first in row {bad[0]} "
            f"({len(bad)} bad row(s) in all)."
        )


def _validate(features, y, score):
    """Features as float64 and y as an array, with matching lengths and finite features."""
    F = _as_features(features, score)
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError(f"{score}: y must be an array with one entry per sample; got a scalar.")
    check_length(score, len(F), y, x="features")
    if len(F) == 0:
        raise ValueError(f"{score}: got 0 samples.")
    _check_finite_rows(F, "features", score)
    return F, y


def _classes(y, score, min_per_class):
    """Integer class codes (0 .. n_classes - 1) and per-class counts."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{score} needs a 1-D array of class labels; got y of shape {y.shape}. "
            "For multi-output or multi-label targets use logme(..., regression=True)."
        )
    if y.dtype.kind == "f":
        _check_finite_rows(y, "y", score)
    if is_regression_target(y):
        raise ValueError(
            f"{score} needs class labels, but y looks like a continuous (regression) "
            "target (non-integer floats). Use a score that supports regression "
            "(logme or knn_score with regression=True), or pass class labels."
        )
    labels, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    codes = codes.ravel()
    if len(labels) < 2:
        raise ValueError(
            f"{score} needs at least 2 classes; y has only 1 ({_label(labels[0])!r}, "
            f"{counts[0]} samples)."
        )
    small = np.flatnonzero(counts < min_per_class)
    if len(small):
        listed = ", ".join(
            f"class {_label(labels[i])!r} has {counts[i]}" for i in small[:_MAX_LISTED]
        )
        more = len(small) - _MAX_LISTED
        if more > 0:
            listed += f", and {more} more class(es)"
        raise ValueError(
            f"{score}: too few samples per class: {listed}; it needs at least "
            f"{min_per_class} samples in every class."
        )
    return codes, counts


def _regression_targets(y, score):
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"{score} with regression=True needs numeric targets; got y of dtype "
            f"{y.dtype}. For class labels use regression=False."
        )
    if y.ndim not in (1, 2):
        raise ValueError(f"{score}: y must be 1-D or 2-D; got shape {y.shape}.")
    Y = y.astype(np.float64, copy=False).reshape(len(y), -1)
    _check_finite_rows(Y, "y", score)
    return Y


def _label(value):
    """A label as the user wrote it: 'dog', not np.str_('dog')."""
    return value.item() if isinstance(value, np.generic) else value


def _indicator(codes, n_classes):
    """Sparse (n_classes, n_samples) 0/1 membership matrix."""
    n = len(codes)
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_classes, n))


# --------------------------------------------------------------------------
# LogME


def _logme_evidences(F, Y):
    """Maximum log evidence per sample for each column of Y, shape (n_targets,)."""
    n, d = F.shape
    # Singular values and U.T @ Y from the eigendecomposition of the smaller
    # Gram matrix: the reference does this for n > d; its SVD of F for
    # n <= d gives the same values several times slower.
    gram = F.T @ F if n > d else F @ F.T
    eigvals, vectors = linalg.eigh(gram)
    s = np.sqrt(np.clip(eigvals, 0.0, None))
    keep = s > 1e-10
    s, vectors = s[keep], vectors[:, keep]
    if n > d:
        x = (vectors.T @ (F.T @ Y)) / s[:, None]  # = U.T @ Y without forming U (n x k)
    else:
        x = vectors.T @ Y
    k = len(s)
    sigma = (s**2)[:, None]
    x2 = x**2
    # Energy of y outside the column space of F (singular value 0).
    res_x2 = (Y**2).sum(axis=0) - x2.sum(axis=0)

    t_count = Y.shape[1]
    alpha, beta = np.ones(t_count), np.ones(t_count)
    m2, res2 = np.zeros(t_count), np.zeros(t_count)
    active = np.ones(t_count, dtype=bool)
    # Each target iterates on its own and stops at its own convergence, exactly
    # as the reference's per-class loop does (at most 11 updates).
    for _ in range(11):
        t = alpha / beta
        gamma = (sigma / (sigma + t)).sum(axis=0)
        new_m2 = (sigma * x2 / (t + sigma) ** 2).sum(axis=0)
        new_res2 = (x2 / (1 + sigma / t) ** 2).sum(axis=0) + res_x2
        new_alpha = gamma / (new_m2 + 1e-5)
        new_beta = (n - gamma) / (new_res2 + 1e-5)
        m2 = np.where(active, new_m2, m2)
        res2 = np.where(active, new_res2, res2)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= np.abs(alpha / beta - t) / t > 1e-3
        if not active.any():
            break
    # log|A| runs over all d eigenvalues of alpha*I + beta*F.T F; the d - k
    # zero singular values each add log(alpha) (see thuml/LogME#23).
    logdet = np.log(alpha + beta * sigma).sum(axis=0) + (d - k) * np.log(alpha)
    evidence = (
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * logdet
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * np.log(2 * np.pi)
    )
    return evidence / n


def logme(features, y, *, regression=False):
    """LogME: the maximum log evidence of a Bayesian linear model on the features.

    For every class (one-hot target) or every regression target, fits
    ``y ~ N(F w, 1/beta)`` with prior ``w ~ N(0, I/alpha)``, maximises the
    marginal likelihood (evidence) over ``alpha`` and ``beta`` by the
    fixed-point iteration, and averages the per-sample log evidence over
    classes/targets.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Frozen features of the target samples.
    y : array-like
        Class labels of shape (n_samples,), of any type, when
        ``regression=False``; numeric targets of shape (n_samples,) or
        (n_samples, n_targets) when ``regression=True`` (also a 0/1 label
        matrix for multi-label tasks).
    regression : bool, default=False
        Treat ``y`` as continuous targets instead of class labels.

    Returns
    -------
    float
        Average log evidence per sample; higher is better. Typically a small
        number around -2 to 2.

    Raises
    ------
    ValueError
        If lengths differ, features hold NaN/inf, there are fewer than two
        classes, or the kind of ``y`` does not match ``regression``.

    Notes
    -----
    Follows the authors' reference implementation (``LogME._fit_fixed_point``
    in github.com/thuml/LogME): singular values of ``F`` (those below
    ``1e-10`` dropped), start ``alpha = beta = 1``, at most 11 updates with
    the ``1e-5`` guards, stop when ``alpha/beta`` changes by at most 0.1 %.
    The reference takes an SVD of ``F`` when n <= d; the eigendecomposition
    of ``F F.T`` is used here instead (same values, several times faster). As in
    the reference, neither features nor targets are centred or standardised:
    the model has no intercept and the score depends on the scale of
    regression targets (compare feature sets on the same targets).

    One deviation: when ``F`` has rank k < n_features (always when
    n_samples < n_features) the reference leaves the ``d - k`` zero
    eigenvalues out of ``log|A|``; they are included here, as acknowledged
    by the authors in thuml/LogME issue #23. Full-rank inputs give the
    reference's value.

    References
    ----------
    K. You, Y. Liu, J. Wang, M. Long. "LogME: Practical Assessment of
    Pre-trained Models for Transfer Learning", ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> noise = np.random.default_rng(0).normal(size=X.shape)
    >>> bool(logme(X, y) > logme(noise, y))
    True
    >>> t = X[:, 20] + 0.1 * noise[:, 0]
    >>> bool(logme(X, t, regression=True) > logme(noise, t, regression=True))
    True
    """
    F, y = _validate(features, y, "logme")
    if regression:
        Y = _regression_targets(y, "logme")
    else:
        codes, counts = _classes(y, "logme", min_per_class=1)
        Y = np.zeros((len(codes), len(counts)))
        Y[np.arange(len(codes)), codes] = 1.0
    return float(_logme_evidences(F, Y).mean())


# --------------------------------------------------------------------------
# H-score


def h_score(features, y):
    """Shrinkage H-score: how much of the feature variance separates the classes.

    ``H = tr(cov(f)^-1 cov(E[f | y]))``, with ``cov(f)`` replaced by its
    Ledoit-Wolf shrinkage estimate so the inverse stays well-conditioned
    when n_features is large relative to n_samples.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Frozen features of the target samples.
    y : array-like of shape (n_samples,)
        Class labels of any type; at least 2 classes, 2 samples each.

    Returns
    -------
    float
        Non-negative; higher is better. At most ``n_classes - 1``
        (reached when all variance lies between classes).

    Raises
    ------
    ValueError
        On a regression target, a class with fewer than 2 samples, fewer than
        2 classes, mismatched lengths, or NaN/inf in the features.

    Notes
    -----
    The regularised H-score of Ibrahim et al.:
    ``H_alpha = tr(cov_alpha(f)^-1 (1 - alpha) cov(E[f | y]))``, where
    ``cov_alpha`` is scikit-learn's Ledoit-Wolf estimate of the covariance
    of the centred features and ``alpha`` its shrinkage; the between-class
    covariance uses the ``n - 1`` normalisation of ``np.cov``, as in their
    code. With ``alpha = 0`` it is the original H-score of Bao et al.

    References
    ----------
    Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas.
    "An Information-Theoretic Approach to Transferability in Task Transfer
    Learning", ICIP 2019.

    S. Ibrahim, N. Ponomareva, R. Mazumder. "Newer is not always better:
    Rethinking transferability metrics, their peculiarities, stability and
    performance", ECML PKDD 2022 (arXiv:2110.06893).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> noise = np.random.default_rng(0).normal(size=X.shape)
    >>> bool(h_score(X, y) > h_score(noise, y))
    True
    >>> bool(0 < h_score(X, y) < 9)  # at most n_classes - 1
    True
    """
    F, y = _validate(features, y, "h_score")
    codes, counts = _classes(y, "h_score", min_per_class=2)
    n = len(F)
    Fc = F - F.mean(axis=0)
    shrinkage = ledoit_wolf_shrinkage(Fc, assume_centered=True)
    cov = shrunk_covariance(Fc.T @ Fc / n, shrinkage)
    means = (_indicator(codes, len(counts)) @ Fc) / counts[:, None]
    # cov(E[f|y]) = M.T @ M, so tr(cov^-1 M.T M) = sum(M * (cov^-1 M.T).T).
    M = np.sqrt(counts / (n - 1))[:, None] * means
    try:
        solved = linalg.solve(cov, M.T, assume_a="pos")
    except linalg.LinAlgError:
        # Only reachable with zero shrinkage and a singular covariance
        # (e.g. a constant feature); the reference uses the pseudo-inverse.
        solved = np.linalg.pinv(cov, hermitian=True) @ M.T
    return float((1.0 - shrinkage) * np.sum(M * solved.T))


# --------------------------------------------------------------------------
# GBC


def _pca_scores(F, n_components):
    """Exact PCA projection onto the top principal axes, via the smaller Gram matrix."""
    Fc = F - F.mean(axis=0)
    n, d = Fc.shape
    if n >= d:
        _, V = linalg.eigh(Fc.T @ Fc, subset_by_index=[d - n_components, d - 1])
        return Fc @ V
    eigvals, U = linalg.eigh(Fc @ Fc.T, subset_by_index=[n - n_components, n - 1])
    return U * np.sqrt(np.clip(eigvals, 0.0, None))


def gbc(features, y, *, n_components=64):
    """Gaussian Bhattacharyya Coefficient: how little the classes overlap.

    Projects the features with PCA, fits one Gaussian with diagonal
    covariance per class, and returns minus the sum of the Bhattacharyya
    coefficients (overlaps) between every ordered pair of distinct classes.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Frozen features of the target samples.
    y : array-like of shape (n_samples,)
        Class labels of any type; at least 2 classes, 2 samples each.
    n_components : int, default=64
        PCA dimension; reduced to ``min(n_components, n_features,
        n_samples - 1)`` when the data cannot support more.

    Returns
    -------
    float
        In ``[-C (C - 1), 0]`` for C classes; higher (closer to 0) is better.

    Raises
    ------
    ValueError
        On a regression target, a class with fewer than 2 samples, fewer than
        2 classes, mismatched lengths, or NaN/inf in the features.

    Notes
    -----
    The "diagonal" variant of Pándy et al., matching their reference code
    (google-research ``stable_transfer/transferability/gbc.py``): per-class
    mean and variance (``ddof=0``), variances floored at ``1e-4``, the sum
    running over ordered pairs (each unordered pair counted twice). The
    exact PCA (eigendecomposition of the smaller Gram matrix) is computed
    here; the dimension 64 is this library's default.

    References
    ----------
    M. Pándy, A. Agostinelli, J. Uijlings, V. Ferrari, T. Mensink.
    "Transferability Estimation using Bhattacharyya Class Separability",
    CVPR 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> noise = np.random.default_rng(0).normal(size=X.shape)
    >>> bool(gbc(X, y) > gbc(noise, y))
    True
    >>> bool(-90 <= gbc(noise, y) <= 0)  # 10 classes: at least -10 * 9
    True
    """
    F, y = _validate(features, y, "gbc")
    codes, counts = _classes(y, "gbc", min_per_class=2)
    if n_components < 1:
        raise ValueError(f"gbc: n_components must be at least 1; got {n_components}.")
    k = min(int(n_components), F.shape[1], len(F) - 1)
    Z = _pca_scores(F, k)

    members = _indicator(codes, len(counts))
    mean = (members @ Z) / counts[:, None]
    var = (members @ (Z - mean[codes]) ** 2) / counts[:, None]
    var = np.maximum(var, 1e-4)
    log_var = np.log(var)

    n_classes = len(counts)
    # Blocks of rows keep the (block, C, k) pairwise arrays to ~32 MB with
    # thousands of classes.
    block = max(1, 4_000_000 // (n_classes * k))
    total = 0.0
    for start in range(0, n_classes, block):
        mu_i, var_i = mean[start : start + block, None], var[start : start + block, None]
        avg = (var_i + var[None]) / 2
        distance = (
            ((mu_i - mean[None]) ** 2 / avg).sum(axis=-1) / 8
            + 0.5 * np.log(avg).sum(axis=-1)
            - 0.25 * log_var[start : start + block, None].sum(axis=-1)
            - 0.25 * log_var[None].sum(axis=-1)
        )
        coefficient = np.exp(-distance)
        rows = np.arange(start, min(start + block, n_classes))
        coefficient[rows - start, rows] = 0.0
        total += coefficient.sum()
    return float(-total)


# --------------------------------------------------------------------------
# k-NN


def _nearest(train, test, n_neighbors):
    """Indices of the most similar rows of ``train`` for each row of ``test``, closest first.

    Rows are unit vectors, so the dot product is the cosine similarity. With
    ``test=None`` each training row is left out of its own neighbourhood:
    leave-one-out in one pass.
    """
    leave_one_out = test is None
    queries = train if leave_one_out else test
    out = np.empty((len(queries), n_neighbors), dtype=np.intp)
    # Blocks of query rows keep the similarity matrix to ~32 MB.
    step = max(1, 4_000_000 // len(train))
    for start in range(0, len(queries), step):
        sim = queries[start : start + step] @ train.T
        rows = np.arange(len(sim))
        if leave_one_out:
            sim[rows, start + rows] = -np.inf
        top = np.argpartition(-sim, n_neighbors - 1, axis=1)[:, :n_neighbors]
        order = np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1, kind="stable")
        out[start : start + step] = np.take_along_axis(top, order, axis=1)
    return out


def _knn_predict(train, y_train, test, n_neighbors, regression, n_classes):
    neighbours = _nearest(train, test, n_neighbors)
    votes = y_train[neighbours]
    if regression:
        return votes.mean(axis=1)
    counts = np.zeros((len(votes), n_classes))
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1.0)
    tied = counts == counts.max(axis=1, keepdims=True)
    # Ties go to the closest neighbour among the tied classes, not to the
    # smallest label, so the score does not depend on how classes are named.
    first = np.argmax(tied[np.arange(len(votes))[:, None], votes], axis=1)
    return votes[np.arange(len(votes)), first]


def knn_score(features, y, *, n_neighbors=5, cv=5, regression=False, random_state=None):
    """Cross-validated k-nearest-neighbour performance with cosine similarity.

    A cheap empirical check: how well a k-NN on the L2-normalised features
    (equivalent to cosine similarity) predicts held-out targets.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Frozen features of the target samples.
    y : array-like
        Class labels (any type, at least 2 classes with 2 samples each), or
        numeric targets of shape (n_samples,) or (n_samples, n_targets) when
        ``regression=True``.
    n_neighbors : int, default=5
        Neighbours that vote (classification) or are averaged (regression);
        capped at the size of the smallest training split.
    cv : int or None, default=5
        Number of (stratified, for classes) shuffled folds, lowered to the
        size of the rarest class (at least 2) when that is smaller; ``None``
        for leave-one-out, computed in one pass over the data.
    regression : bool, default=False
        Score with the R² of a k-NN regressor instead of accuracy.
    random_state : int, numpy Generator/RandomState or None, default=None
        Shuffling of the folds; fix it to compare feature sets on the same
        splits. Unused with ``cv=None``.

    Returns
    -------
    float
        Accuracy in [0, 1] for classes (majority vote; ties go to the
        closest tied neighbour), or R² (at most 1, uniform average over
        targets) for regression, averaged over folds.

    Raises
    ------
    ValueError
        On a regression target with ``regression=False`` (or labels with
        ``regression=True``), a class with fewer than 2 samples, fewer than
        2 classes, mismatched lengths, or NaN/inf in the features.

    Notes
    -----
    Not from a single paper: k-NN accuracy on frozen features is the usual
    non-parametric probe (e.g. Wu et al., "Unsupervised Feature Learning
    via Non-Parametric Instance Discrimination", CVPR 2018; Caron et al.,
    "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021).
    Rows of all zeros stay zero after normalisation.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> acc = knn_score(X, y, random_state=0)
    >>> bool(acc > 0.9)
    True
    >>> noise = np.random.default_rng(0).normal(size=X.shape)
    >>> bool(knn_score(noise, y, cv=None) < 0.3)  # leave-one-out, near chance
    True
    """
    F, y = _validate(features, y, "knn_score")
    if n_neighbors < 1:
        raise ValueError(f"knn_score: n_neighbors must be at least 1; got {n_neighbors}.")
    if regression:
        target = _regression_targets(y, "knn_score")
        n_classes = None
    else:
        target, counts = _classes(y, "knn_score", min_per_class=2)
        n_classes = len(counts)
    X = normalize(F)
    n = len(X)

    if cv is None:
        k = min(n_neighbors, n - 1)
        if k < 1:
            raise ValueError("knn_score: leave-one-out needs at least 2 samples.")
        pred = _knn_predict(X, target, None, k, regression, n_classes)
        return float(r2_score(target, pred) if regression else np.mean(pred == target))

    # Fewer folds when the data has fewer rows (or rarer classes) than folds:
    # every class needs a sample in each training part.
    if regression:
        splitter = KFold(n_splits=max(2, min(cv, n)), shuffle=True, random_state=random_state)
    else:
        splitter = StratifiedKFold(
            n_splits=max(2, min(cv, int(counts.min()))), shuffle=True, random_state=random_state
        )
    splits = list(splitter.split(X, target))
    k = min(n_neighbors, min(len(train) for train, _ in splits))
    fold_scores = []
    for train, test in splits:
        pred = _knn_predict(X[train], target[train], X[test], k, regression, n_classes)
        truth = target[test]
        fold_scores.append(r2_score(truth, pred) if regression else np.mean(pred == truth))
    return float(np.mean(fold_scores))


# --------------------------------------------------------------------------
# Registry

SCORES = {
    "logme": logme,
    "h_score": h_score,
    "gbc": gbc,
    "knn": knn_score,
}
"""Transferability scores by name: ``name -> function(features, y, **params)``."""

_SUPPORTS_REGRESSION = {"logme", "knn"}


def score_features(features, y, score="logme", *, regression=None, **params):
    """Compute one transferability score by name.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Frozen features of the target samples.
    y : array-like
        Class labels, or numeric targets for regression.
    score : str, default="logme"
        A key of :data:`SCORES`: ``"logme"``, ``"h_score"``, ``"gbc"`` or
        ``"knn"``.
    regression : bool or None, default=None
        Whether ``y`` is a regression target; ``None`` decides with
        :func:`is_regression_target`.
    **params
        Passed on to the score function (e.g. ``n_neighbors`` for ``"knn"``).

    Returns
    -------
    float
        The score; higher predicts better transfer.

    Raises
    ------
    ValueError
        For an unknown score name, or a classification-only score asked to
        score a regression target.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> sorted(SCORES)
    ['gbc', 'h_score', 'knn', 'logme']
    >>> float(round(score_features(X, y, "h_score"), 3)) == float(round(h_score(X, y), 3))
    True
    """
    if score not in SCORES:
        raise ValueError(f"Unknown score {score!r}; choose one of {sorted(SCORES)}.")
    if regression is None:
        regression = is_regression_target(y)
    if regression:
        if score not in _SUPPORTS_REGRESSION:
            raise ValueError(
                f"{score!r} needs class labels and does not support regression targets; "
                f"for regression use one of {sorted(_SUPPORTS_REGRESSION)}."
            )
        return SCORES[score](features, y, regression=True, **params)
    if score in _SUPPORTS_REGRESSION:
        return SCORES[score](features, y, regression=False, **params)
    return SCORES[score](features, y, **params)
