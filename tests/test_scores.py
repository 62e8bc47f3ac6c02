"""Transferability scores: values against direct implementations, ranking
behaviour on real data, invariances and input errors."""

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import normalize

from sktransfer._scores import (
    SCORES,
    gbc,
    h_score,
    is_regression_target,
    knn_score,
    logme,
    score_features,
)

# --------------------------------------------------------------------------
# Direct, slow implementations written from the papers / reference code.


def naive_logme(F, Y):
    """LogME as in the authors' per-class loop, with explicit d x d matrices.

    Evidence maximisation for y ~ N(F w, 1/beta), w ~ N(0, I/alpha): the
    same fixed-point updates and stopping rule as thuml/LogME, but computed
    from A = alpha I + beta F^T F directly (no SVD), so log|A| covers all d
    eigenvalues.
    """
    n, d = F.shape
    FtF = F.T @ F
    evidences = []
    for j in range(Y.shape[1]):
        y = Y[:, j]
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            A = alpha * np.eye(d) + beta * FtF
            m = beta * np.linalg.solve(A, F.T @ y)
            gamma = d - alpha * np.trace(np.linalg.inv(A))
            m2 = m @ m
            res2 = np.sum((y - F @ m) ** 2)
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        _, logdet = np.linalg.slogdet(alpha * np.eye(d) + beta * FtF)
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * logdet
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return np.mean(evidences)


def naive_h_score(F, y):
    """The regularised H-score as in Ibrahim et al.'s code (loops, np.cov, pinv)."""
    f = F - F.mean(axis=0)
    lw = LedoitWolf(assume_centered=False).fit(f)
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    covg = np.cov(g, rowvar=False)
    return np.trace(np.linalg.pinv(lw.covariance_, rcond=1e-15) @ ((1 - lw.shrinkage_) * covg))


def naive_gbc(F, y, n_components):
    """GBC (diagonal) as in the google-research code: per-pair loop over classes."""
    Z = PCA(n_components=n_components, svd_solver="full").fit_transform(F)
    stats = {}
    for c in np.unique(y):
        stats[c] = (Z[y == c].mean(axis=0), np.maximum(Z[y == c].var(axis=0), 1e-4))
    total = 0.0
    for c1 in stats:
        for c2 in stats:
            if c1 == c2:
                continue
            (mu1, s1), (mu2, s2) = stats[c1], stats[c2]
            avg = (s1 + s2) / 2
            db = np.sum((mu1 - mu2) ** 2 / avg) / 8 + 0.5 * (
                np.sum(np.log(avg)) - 0.5 * np.sum(np.log(s1)) - 0.5 * np.sum(np.log(s2))
            )
            total += np.exp(-db)
    return -total


def blobs(n, d, n_classes, seed, spread=1.0):
    """Features with class-dependent means, and integer labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(scale=spread, size=(n_classes, d))
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


# --------------------------------------------------------------------------
# LogME values


@pytest.mark.parametrize("n, d", [(200, 30), (40, 120), (60, 60)])
def test_logme_classification_matches_direct_computation(n, d):
    F, y = blobs(n, d, n_classes=4, seed=n + d, spread=0.5)
    Y = (y[:, None] == np.arange(4)).astype(float)
    assert logme(F, y) == pytest.approx(naive_logme(F, Y), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("n, d", [(150, 20), (30, 80)])
def test_logme_regression_matches_direct_computation(n, d):
    rng = np.random.default_rng(d)
    F = rng.normal(size=(n, d))
    Y = np.column_stack([F[:, :3] @ [1.0, -2.0, 0.5], np.sin(F[:, 0])]) + 0.3 * rng.normal(
        size=(n, 2)
    )
    assert logme(F, Y, regression=True) == pytest.approx(naive_logme(F, Y), rel=1e-6, abs=1e-8)
    # A 1-D target is the one-column case.
    single = logme(F, Y[:, 0], regression=True)
    assert single == pytest.approx(naive_logme(F, Y[:, :1]), rel=1e-6, abs=1e-8)


def test_logme_rank_deficient_features_match_direct_computation():
    # Dead (all-zero) and duplicated units are common in real features; with
    # n > d the Gram route must not amplify rounding noise in null directions.
    F, y = blobs(300, 20, n_classes=3, seed=1)
    F = np.hstack([F, np.zeros((300, 5)), F[:, :4], 2 * F[:, 4:6]])
    Y = (y[:, None] == np.arange(3)).astype(float)
    assert logme(F, y) == pytest.approx(naive_logme(F, Y), rel=1e-6, abs=1e-8)


def test_logme_real_digits_match_direct_computation(digits):
    X, y = digits  # several pixels are always 0: rank < n_features
    Y = (y[:, None] == np.arange(10)).astype(float)
    assert logme(X, y) == pytest.approx(naive_logme(X, Y), rel=1e-6, abs=1e-8)


def test_logme_integer_labels_equal_one_hot_regression():
    F, y = blobs(120, 10, n_classes=3, seed=3)
    one_hot = (y[:, None] == np.arange(3)).astype(float)
    assert logme(F, y) == pytest.approx(logme(F, one_hot, regression=True), rel=1e-12)


# --------------------------------------------------------------------------
# H-score, GBC and kNN values


@pytest.mark.parametrize("n, d", [(300, 20), (60, 150)])
def test_h_score_matches_reference_code(n, d):
    F, y = blobs(n, d, n_classes=5, seed=d, spread=0.4)
    assert h_score(F, y) == pytest.approx(naive_h_score(F, y), rel=1e-6)


def test_h_score_is_between_zero_and_number_of_classes_minus_one():
    F, y = blobs(400, 6, n_classes=3, seed=0, spread=20.0)
    separated = h_score(F, y)
    # Nearly all variance is between the 3 classes: close to the bound 2.
    assert 1.9 < separated < 2.0 + 1e-9
    rng = np.random.default_rng(0)
    assert 0 <= h_score(rng.normal(size=(400, 6)), y) < 0.1


@pytest.mark.parametrize("n, d, k", [(300, 20, 8), (60, 150, 64), (200, 30, 64)])
def test_gbc_matches_reference_code(n, d, k):
    F, y = blobs(n, d, n_classes=4, seed=d, spread=0.3)
    expected = naive_gbc(F, y, min(k, d, n - 1))
    assert gbc(F, y, n_components=k) == pytest.approx(expected, rel=1e-6)


def test_gbc_range_between_overlapping_and_separated_classes():
    rng = np.random.default_rng(0)
    y = np.arange(4000) % 2
    same = rng.normal(size=(4000, 5))
    # Two classes from one distribution overlap fully: BC ~ 1 for both
    # ordered pairs.
    assert gbc(same, y) == pytest.approx(-2.0, abs=0.02)
    apart = same + 50.0 * y[:, None]
    assert gbc(apart, y) == pytest.approx(0.0, abs=1e-6)


def test_gbc_uses_many_classes_in_blocks():
    # 300 classes x 64 dimensions do not fit in one block of the pairwise
    # computation (4e6 / (300 * 64) = 208 rows per block).
    F, y = blobs(900, 70, n_classes=300, seed=0, spread=0.2)
    expected = naive_gbc(F, y, 64)
    assert gbc(F, y) == pytest.approx(expected, rel=1e-6)


def test_knn_matches_scikit_learn_one_neighbour(digits):
    X, y = digits
    expected = cross_val_score(
        KNeighborsClassifier(n_neighbors=1),
        normalize(X),
        y,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).mean()
    assert knn_score(X, y, n_neighbors=1, random_state=0) == pytest.approx(expected)


def test_knn_regression_matches_scikit_learn():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(300, 8))
    t = F[:, 0] * 3 + rng.normal(scale=0.1, size=300)
    expected = cross_val_score(
        KNeighborsRegressor(n_neighbors=5),
        normalize(F),
        t,
        cv=KFold(5, shuffle=True, random_state=0),
        scoring="r2",
    ).mean()
    got = knn_score(F, t, regression=True, random_state=0)
    assert got == pytest.approx(expected)
    assert got > 0.3
    assert knn_score(rng.normal(size=(300, 8)), t, regression=True, random_state=0) < 0.1


def test_knn_leave_one_out_by_hand():
    # Points on the unit circle (cosine similarity = angle): each point's
    # nearest other point decides.
    angles = np.array([0.0, 0.1, 0.2, 3.0, 3.1, 1.5])
    F = np.column_stack([np.cos(angles), np.sin(angles)])
    y = np.array(["a", "a", "a", "b", "b", "a"])
    # 1-NN: the point at 1.5 has nearest 0.2 ("a", right); all others right too.
    assert knn_score(F, y, n_neighbors=1, cv=None) == pytest.approx(1.0)
    # 2-NN: the point at 3.0 sees 3.1 ("b") and 1.5 ("a"): a tie, which goes to
    # the closer neighbour, 3.1 -> "b", right; 3.1 sees 3.0 and 1.5, also right.
    assert knn_score(F, y, n_neighbors=2, cv=None) == pytest.approx(1.0)
    # 3-NN: the "b" points are outvoted by the "a" points.
    assert knn_score(F, y, n_neighbors=3, cv=None) == pytest.approx(4 / 6)


def test_knn_neighbours_capped_at_training_size():
    F, y = blobs(6, 3, n_classes=2, seed=0, spread=5.0)
    assert knn_score(F, y, n_neighbors=50, cv=None) == knn_score(F, y, n_neighbors=5, cv=None)


# --------------------------------------------------------------------------
# Behaviour on real data


@pytest.mark.parametrize("name", sorted(SCORES))
def test_informative_features_beat_permuted_rows_and_noise(digits, name):
    X, y = digits
    rng = np.random.default_rng(0)
    kwargs = {"random_state": 0} if name == "knn" else {}
    real = score_features(X, y, name, **kwargs)
    permuted = score_features(X[rng.permutation(len(X))], y, name, **kwargs)
    noise = score_features(rng.normal(size=X.shape), y, name, **kwargs)
    assert real > permuted
    assert real > noise
    # And the PCA of the pixels, a different informative representation.
    pca = PCA(n_components=20, random_state=0).fit_transform(X)
    assert score_features(pca, y, name, **kwargs) > max(permuted, noise)


@pytest.fixture(scope="module")
def corrupted_digits(digits):
    """Digits pixels corrupted two ways, and each set's linear-probe accuracy.

    Gaussian noise of increasing size, and random subsets of the pixels, so
    the scores must order feature sets of different kinds and dimensions.
    """
    X, y = digits
    rng = np.random.default_rng(0)
    sets = [X + s * rng.normal(size=X.shape) for s in (0.0, 0.3, 0.6, 1.2, 2.5)]
    sets += [X[:, rng.choice(64, size=k, replace=False)] for k in (24, 8, 3)]
    probe = LogisticRegression(max_iter=2000)
    accuracy = [cross_val_score(probe, F, y, cv=5).mean() for F in sets]
    return sets, y, accuracy


@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_order_agrees_with_linear_probe_accuracy(corrupted_digits, name):
    sets, y, accuracy = corrupted_digits
    assert len(set(np.round(accuracy, 2))) == len(accuracy)  # a real ordering to recover
    kwargs = {"random_state": 0} if name == "knn" else {}
    scores = [score_features(F, y, name, **kwargs) for F in sets]
    tau = kendalltau(scores, accuracy).statistic
    assert tau >= 0.6, (name, scores, accuracy)


# --------------------------------------------------------------------------
# Invariances


@pytest.mark.parametrize("func", [logme, gbc])
def test_sample_order_does_not_matter(func):
    for n, d in [(300, 40), (50, 90)]:
        F, y = blobs(n, d, n_classes=3, seed=n, spread=0.5)
        perm = np.random.default_rng(1).permutation(n)
        assert func(F[perm], y[perm]) == pytest.approx(func(F, y), rel=1e-8)


def test_logme_regression_sample_order_does_not_matter():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(80, 100))
    t = F[:, 0] + rng.normal(size=80)
    perm = rng.permutation(80)
    assert logme(F[perm], t[perm], regression=True) == pytest.approx(
        logme(F, t, regression=True), rel=1e-8
    )


@pytest.mark.parametrize("name", sorted(SCORES))
def test_class_names_do_not_matter(name):
    F, y = blobs(240, 12, n_classes=12, seed=0, spread=0.4)
    # Strings sort differently from the ints ("c10" < "c2"), and a shuffled
    # bijection changes which class is "smallest": neither may change a score.
    as_strings = np.array([f"c{v}" for v in y])
    shuffled = np.random.default_rng(0).permutation(12)[y] * 7 - 3
    kwargs = {"random_state": 0} if name == "knn" else {}
    base = score_features(F, y, name, **kwargs)
    assert score_features(F, as_strings, name, **kwargs) == pytest.approx(base, rel=1e-10)
    assert score_features(F, shuffled, name, **kwargs) == pytest.approx(base, rel=1e-10)


def test_knn_tie_breaking_ignores_label_values():
    # Two neighbours of different classes tie for every point; the closer one
    # wins whatever the labels are called.
    angles = np.array([0.0, 0.3, 0.5, 2.0, 2.2, 2.6])
    F = np.column_stack([np.cos(angles), np.sin(angles)])
    for labels in (["x", "x", "y", "y", "z", "z"], ["z", "z", "y", "y", "x", "x"]):
        assert knn_score(F, np.array(labels), n_neighbors=2, cv=None) == pytest.approx(2 / 6)


# --------------------------------------------------------------------------
# Dispatcher and target kinds


def test_is_regression_target():
    assert is_regression_target(np.array([0.1, 2.5, 3.0]))
    assert is_regression_target(np.array([[0.1, 1.0], [2.5, 3.0]]))
    assert not is_regression_target(np.array([1.0, 2.0, 1.0]))
    assert not is_regression_target(["a", "b"])
    assert not is_regression_target([True, False])


def test_score_features_detects_regression_targets():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(100, 5))
    t = F[:, 0] + 0.1 * rng.normal(size=100)
    assert score_features(F, t) == logme(F, t, regression=True)
    assert score_features(F, t, "knn", random_state=0) == knn_score(
        F, t, regression=True, random_state=0
    )
    labels = (t > 0).astype(int)
    assert score_features(F, labels, "logme") == logme(F, labels)
    assert score_features(F, labels, "gbc", n_components=3) == gbc(F, labels, n_components=3)


def test_score_features_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown score 'leep'.*'gbc', 'h_score', 'knn', 'logme'"):
        score_features(np.ones((4, 2)), [0, 0, 1, 1], "leep")


@pytest.mark.parametrize("name", ["gbc", "h_score"])
def test_classification_only_scores_refuse_regression_targets(name):
    rng = np.random.default_rng(0)
    F, t = rng.normal(size=(50, 4)), rng.normal(size=50)
    with pytest.raises(ValueError, match=rf"'{name}' needs class labels.*regression"):
        score_features(F, t, name)
    with pytest.raises(ValueError, match=rf"{name} needs class labels, but y looks like a continu"):
        SCORES[name](F, t)


@pytest.mark.parametrize("func", [logme, knn_score])
def test_regression_target_without_regression_flag(func):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="needs class labels.*regression=True"):
        func(rng.normal(size=(50, 4)), rng.normal(size=50))


@pytest.mark.parametrize("func", [logme, knn_score])
def test_class_labels_with_regression_flag(func):
    with pytest.raises(ValueError, match="regression=True needs numeric targets.*regression=False"):
        func(np.ones((4, 2)), ["a", "b", "a", "b"], regression=True)


def test_logme_multilabel_needs_regression_flag():
    Y = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"1-D array of class labels.*\(4, 2\).*regression=True"):
        logme(np.eye(4), Y)
    assert np.isfinite(logme(np.eye(4), Y, regression=True))


# --------------------------------------------------------------------------
# Input errors


@pytest.mark.parametrize("name", sorted(SCORES))
def test_mismatched_lengths_name_both(name):
    with pytest.raises(ValueError, match="features has 10 rows but y has 9 entries"):
        score_features(np.ones((10, 3)), np.arange(9) % 2, name)


@pytest.mark.parametrize("name", sorted(SCORES))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_name_the_first_row(name, bad):
    F, y = blobs(20, 3, n_classes=2, seed=0)
    F[7, 1] = bad
    F[12, 0] = bad
    with pytest.raises(ValueError, match=r"NaN or infinity, first in row 7 \(2 bad row"):
        score_features(F, y, name)


def test_non_finite_regression_targets_name_the_row():
    t = np.linspace(0.1, 1.9, 20)
    t[4] = np.nan
    with pytest.raises(ValueError, match="y contain NaN or infinity, first in row 4"):
        logme(np.ones((20, 2)), t, regression=True)


@pytest.mark.parametrize("name", ["gbc", "h_score", "knn"])
def test_singleton_class_is_too_few_samples(name):
    F, _ = blobs(9, 3, n_classes=2, seed=0)
    y = np.array(["cat"] * 4 + ["dog"] * 4 + ["eel"])
    with pytest.raises(
        ValueError, match=r"too few samples per class: class 'eel' has 1; it needs at least 2"
    ):
        score_features(F, y, name)


def test_logme_accepts_singleton_class():
    F, _ = blobs(9, 3, n_classes=2, seed=0)
    assert np.isfinite(logme(F, [0] * 4 + [1] * 4 + [2]))


@pytest.mark.parametrize("name", sorted(SCORES))
def test_single_class_is_refused(name):
    with pytest.raises(ValueError, match=r"at least 2 classes; y has only 1 \('a', 6 samples\)"):
        score_features(np.random.default_rng(0).normal(size=(6, 2)), ["a"] * 6, name)


def test_feature_shape_and_type_errors():
    with pytest.raises(ValueError, match=r"2-D array.*shape \(4,\)"):
        logme(np.ones(4), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="0 columns"):
        logme(np.ones((4, 0)), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="features must be numeric"):
        logme(np.array([["a"], ["b"]]), [0, 1])
    with pytest.raises(ValueError, match="got 0 samples"):
        logme(np.ones((0, 3)), [])


def test_bad_parameters():
    F, y = blobs(20, 3, n_classes=2, seed=0)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        gbc(F, y, n_components=0)
    with pytest.raises(ValueError, match="n_neighbors must be at least 1"):
        knn_score(F, y, n_neighbors=0)


def test_too_few_samples_lists_the_first_small_classes():
    y = np.array([0, 0, 1, 1] + list(range(2, 9)))  # classes 2..8 have 1 sample each
    F = np.random.default_rng(0).normal(size=(len(y), 3))
    with pytest.raises(ValueError, match=r"class 2 has 1, .*class 6 has 1, and 2 more class\(es\)"):
        h_score(F, y)
