"""objective="contrastive": SetFit's two stages, pairs inside each batch, classes and numbers."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sktransfer import FineTuningWarning, ImageClassifier, TextClassifier, TextRegressor
from sktransfer.datasets import load_sentiment_snippets
from sktransfer.finetune import _contrastive

TINY = dict(model="sktransfer/tiny-text", device="cpu", random_state=0)


def _cosines(Z):
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return Z @ Z.T


def _separation(Z, y):
    """Mean cosine of same-class pairs minus that of other pairs (distinct rows)."""
    cos, same = _cosines(Z), y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    return cos[same & off].mean() - cos[~same].mean()


@pytest.mark.slow
def test_contrastive_pulls_classes_apart_on_rows_it_never_saw(reviews):
    """Real snippets, 16 per class: held-out rows of one class end up closer together."""
    train = reviews.groupby("label").head(16)
    test = reviews.drop(train.index)
    y_train, y_test = train["label"].to_numpy(), test["label"].to_numpy()
    clf = TextClassifier(
        n_trainable_blocks=4, layer_decay=1.0, objective="contrastive", device="cpu", random_state=0
    ).fit(train["text"], y_train)
    probe = TextClassifier(device="cpu", random_state=0).fit(train["text"], y_train)
    assert _separation(clf.transform(train["text"]), y_train) > 0.5
    before = _separation(probe.transform(test["text"]), y_test)
    after = _separation(clf.transform(test["text"]), y_test)
    assert after > before + 0.02, (before, after)
    losses = [row["contrastive_loss"] for row in clf.history_ if "contrastive_loss" in row]
    assert len(losses) == clf.max_epochs_ == 40  # "auto": 40 steps, one batch per epoch here
    assert losses[-1] < 0.1 * losses[0], losses
    # Then the head, fitted on the new embeddings, after the body's epochs.
    assert "train_loss" in clf.history_[-1] and len(clf.history_) > 40
    accuracy = (clf.predict(test["text"]) == y_test).mean()
    assert accuracy > (probe.predict(test["text"]) == y_test).mean(), accuracy
    assert clf.fine_tuning_helped_ is None  # 32 rows: no held-out split


@pytest.mark.slow
def test_contrastive_regression_on_rated_sentences():
    """Mean human ratings (-4..4): close ratings end up at high cosine similarity."""
    df = load_sentiment_snippets("tweets").sample(300, random_state=0)
    train, test = df[:80], df[80:]
    reg = TextRegressor(
        n_trainable_blocks=4, layer_decay=1.0, objective="contrastive", device="cpu", random_state=0
    ).fit(train["text"], train["rating"])
    probe = TextRegressor(device="cpu", random_state=0).fit(train["text"], train["rating"])
    r = test["rating"].to_numpy()
    closeness = -np.abs(r[:, None] - r[None, :])[np.triu_indices(len(r), 1)]

    def agreement(est):
        return np.corrcoef(
            _cosines(est.transform(test["text"]))[np.triu_indices(len(r), 1)], closeness
        )[0, 1]

    assert agreement(reg) > agreement(probe) + 0.2, (agreement(reg), agreement(probe))
    assert np.corrcoef(reg.predict(test["text"]), r)[0, 1] > 0.6
    assert reg.score(test["text"], r) > probe.score(test["text"], r) + 0.1


def test_pair_targets_and_balanced_weights():
    t = _contrastive.pair_targets(np.array([0, 0, 1, 2]), "cross_entropy")
    assert t.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    upper = t[np.triu_indices(4, 1)]  # one same-class pair of six
    w = _contrastive.pair_weights(upper, balanced=True)
    assert w.sum() == pytest.approx(1.0) and w[upper == 1].sum() == pytest.approx(0.5)
    # Numbers: 1 - distance / range, per output column, averaged.
    y = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 0.0]])
    t = _contrastive.pair_targets(y, "mse", spread=np.array([4.0, 10.0]))
    np.testing.assert_allclose(t[0], [1.0, 0.75, 0.0])
    # A last batch of one row (no pairs) joins the one before; every row once.
    parts = _contrastive.batches(9, 4, np.random.default_rng(0))
    assert [len(p) for p in parts] == [4, 5] and sorted(np.concatenate(parts)) == list(range(9))


def test_pairs_stay_inside_each_batch(monkeypatch):
    """Memory is bounded by the batch: no step scores more than b(b-1)/2 pairs."""
    seen = []
    original = _contrastive.pair_weights

    def spy(targets, balanced):
        seen.append(len(targets))
        return original(targets, balanced)

    monkeypatch.setattr(_contrastive, "pair_weights", spy)
    X = [f"text number {i}" for i in range(60)]
    y = np.arange(60) % 3
    TextClassifier(
        n_trainable_blocks=1, objective="contrastive", max_epochs=2, batch_size=8, **TINY
    ).fit(X, y)
    assert max(seen) <= 8 * 7 // 2
    assert len(seen) == 2 * 8  # 2 epochs of 60 rows: 7 batches of 8, then one of 4
    assert sum(seen) < 60 * 59 // 2  # far fewer than all pairs


def test_contrastive_is_reproducible_pickles_and_covers_multilabel():
    X = [f"{w} {i}" for i, w in enumerate(["good", "bad", "fine", "awful"] * 10)]
    y = np.array([0, 1, 0, 1] * 10)
    params = dict(n_trainable_blocks=1, objective="contrastive", max_epochs=3, **TINY)
    a = TextClassifier(**params).fit(X, y)
    b = TextClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    back = pickle.loads(pickle.dumps(a))
    np.testing.assert_allclose(back.predict_proba(X), a.predict_proba(X), atol=1e-6)
    Y = np.stack([y, 1 - y, np.arange(40) % 2], axis=1)
    multi = TextClassifier(**params).fit(X, Y)
    assert multi.predict(X).shape == (40, 3)
    reg = TextRegressor(**params).fit(X, np.stack([y * 2.0, np.arange(40.0)], axis=1))
    assert reg.predict(X).shape == (40, 2)


def test_contrastive_keeps_the_probe_floor():
    """With a held-out split, the contrastive network is scored against the probe."""
    rng = np.random.default_rng(0)
    X = [" ".join(rng.choice(["red", "blue", "green", "pink"], 3)) for _ in range(600)]
    y = np.array([("red" in t) + 0 for t in X])
    clf = TextClassifier(n_trainable_blocks=1, objective="contrastive", max_epochs=2, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FineTuningWarning)  # when the probe is kept
        clf.fit(X, y)
    assert clf.early_stopping_ and len(clf.validation_rows_) == 60
    assert set(clf.validation_scores_) == {"probe", "fine_tuned"}
    assert clf.fine_tuning_helped_ in (True, False)
    helped = clf.validation_scores_["fine_tuned"] > clf.validation_scores_["probe"]
    assert clf.fine_tuning_helped_ is helped


def test_contrastive_class_weight_weighs_the_pairs(monkeypatch):
    """A pair weighs as much as both its rows' classes: class_weight changes the body's loss."""
    X = [f"{w} {i}" for i, w in enumerate(["good", "bad", "fine", "awful"] * 10)]
    y = np.array([0, 1, 0, 1] * 10)
    params = dict(n_trainable_blocks=1, objective="contrastive", max_epochs=2, **TINY)

    def losses(**kw):
        clf = TextClassifier(**params, **kw).fit(X, y)
        return [row["contrastive_loss"] for row in clf.history_ if "contrastive_loss" in row]

    plain, weighted = losses(), losses(class_weight={0: 10.0, 1: 1.0})
    assert plain != weighted
    assert losses(class_weight={0: 2.0, 1: 2.0}) == pytest.approx(plain)  # only ratios count
    with pytest.raises(ValueError, match=r"at least 2 training samples; got 1 sample"):
        TextRegressor(**params).fit(["one"], [1.0])


def test_contrastive_errors():
    X, y = ["a b", "c d", "e f", "g h"] * 3, [0, 1, 0, 1] * 3
    with pytest.raises(ValueError, match=r"n_trainable_blocks >= 1"):
        TextClassifier(objective="contrastive", **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"unfreeze_every=None"):
        TextClassifier(objective="contrastive", n_trainable_blocks=1, unfreeze_every=1, **TINY).fit(
            X, y
        )
    with pytest.raises(ValueError, match=r"does not take a domain_loss"):
        TextClassifier(
            objective="contrastive", n_trainable_blocks=1, domain_loss="mcc", **TINY
        ).fit(X + ["x y"] * 4, y + [-1] * 4, sample_domain=[1] * 12 + [-2] * 4)
    with pytest.raises(InvalidParameterError, match=r"objective"):
        TextClassifier(objective="pairs", **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"unexpected keyword argument 'objective'"):
        ImageClassifier(model="sktransfer/tiny-cnn", objective="contrastive").fit(
            np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1]
        )
