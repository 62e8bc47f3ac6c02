"""Fine-tuning estimators: freeze depth, caching, training defaults, contract, real data."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from sktransfer import (
    FineTuningWarning,
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextRegressor,
)
from sktransfer.backbones import get_backbone
from sktransfer.datasets import load_digit_images

# Tiny data sets: no validation split unless a test is about early stopping.
FAST = dict(device="cpu", random_state=0, early_stopping=False)


@pytest.fixture(scope="module")
def digits():
    return load_digit_images()


@pytest.fixture(scope="module")
def pretrained_tiny_cnn(digits, tmp_path_factory):
    """A small CNN pretrained on a source task: 10-class digit recognition.

    Trained from scratch by our own ImageClassifier on the first 1,000
    digits, then its backbone (blocks and pool) saved as a state dict: the
    weights file a user would bring from an earlier project.
    """
    images, target = digits
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn",
        weights=None,
        n_trainable_blocks="all",
        augment=False,
        max_epochs=10,
        device="cpu",
        random_state=0,
    ).fit(images[:1000], target[:1000])
    assert clf.history_[-1, "valid_acc"] > 0.9  # the source task was learnt
    path = tmp_path_factory.mktemp("weights") / "tiny_digits.pt"
    state = {
        k: v for k, v in clf.net_.module_.state_dict().items() if k.startswith(("blocks.", "pool."))
    }
    torch.save(state, path)
    return str(path)


def test_transfer_beats_scratch_on_digits(digits, pretrained_tiny_cnn):
    """Target task: odd vs even, on digits the source never saw, 10 labels per class."""
    images, target = digits
    X, y = images[1000:], target[1000:] % 2
    pretrained, scratch = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        train = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in (0, 1)]
        )
        test = np.setdiff1d(np.arange(len(y)), train)
        common = dict(
            model="sktransfer/tiny-cnn",
            augment=False,
            early_stopping=False,
            device="cpu",
            random_state=seed,
        )
        pre = ImageClassifier(weights=pretrained_tiny_cnn, n_trainable_blocks=0, **common).fit(
            X[train], y[train]
        )
        scr = ImageClassifier(weights=None, n_trainable_blocks="all", **common).fit(
            X[train], y[train]
        )
        pretrained.append((pre.predict(X[test]) == y[test]).mean())
        scratch.append((scr.predict(X[test]) == y[test]).mean())
    assert np.mean(pretrained) > np.mean(scratch) + 0.04, (pretrained, scratch)
    assert np.mean(pretrained) > 0.8


def _floor_fit(estimator, X, y, **kw):
    """Fit with a held-out split (early stopping on) and record the warnings."""
    params = dict(
        augment=False,
        early_stopping=True,
        validation_fraction=0.2,
        max_epochs=8,
        device="cpu",
        random_state=0,
    )
    params.update(kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = estimator(model="sktransfer/tiny-cnn", **params).fit(X, y)
    return est, [w for w in caught if issubclass(w.category, FineTuningWarning)]


def test_fine_tuning_that_hurts_restores_the_probe(digits, pretrained_tiny_cnn):
    """Never worse than the probe: a fit that wrecks the blocks keeps the probe instead."""
    images, target = digits
    X, y = images[1000:1300], target[1000:1300] % 3
    # A learning rate 1,000 times the default's for the blocks destroys their features.
    wrecking = dict(weights=pretrained_tiny_cnn, lr=3.0, backbone_lr_scale=1.0)
    clf, caught = _floor_fit(ImageClassifier, X, y, n_trainable_blocks=2, **wrecking)
    assert clf.fine_tuning_helped_ is False
    scores = clf.validation_scores_
    assert scores["fine_tuned"] < scores["probe"] - 0.1, scores
    assert len(caught) == 1 and caught[0].filename == __file__
    message = str(caught[0].message)
    assert "did not beat the linear probe on the 60 held-out rows" in message
    assert f"{scores['probe']:.3f} probe" in message
    # What is kept is the probe: the pretrained blocks unchanged...
    encoder = ImageEncoder(model="sktransfer/tiny-cnn", weights=pretrained_tiny_cnn).fit(X)
    np.testing.assert_allclose(clf.transform(X), encoder.transform(X), atol=1e-5)
    # ...and the probe's head, scoring on the held-out rows what the probe scored: the very
    # model that n_trainable_blocks=0 fits with the same random_state.
    probe, _ = _floor_fit(ImageClassifier, X, y, n_trainable_blocks=0, **wrecking)
    # (Up to float rounding: the kept probe runs the blocks, the k=0 fit reads cached features.)
    np.testing.assert_allclose(clf.predict_proba(X), probe.predict_proba(X), atol=1e-5)
    valid = clf.validation_rows_
    assert len(valid) == 60 and len(np.unique(valid)) == 60
    assert clf.score(X[valid], y[valid]) == pytest.approx(scores["probe"])
    # The held-out rows are a stratified split: every class on both sides.
    assert set(y[valid]) == set(y) == set(y[np.setdiff1d(np.arange(len(y)), valid)])


def test_fine_tuning_that_helps_is_kept(digits, pretrained_tiny_cnn):
    images, target = digits
    X, y = images[1000:1300], target[1000:1300] % 3
    clf, caught = _floor_fit(
        ImageClassifier, X, y, weights=pretrained_tiny_cnn, n_trainable_blocks=2
    )
    assert clf.fine_tuning_helped_ is True and not caught
    scores = clf.validation_scores_
    assert scores["fine_tuned"] > scores["probe"], scores
    valid = clf.validation_rows_
    assert clf.score(X[valid], y[valid]) == pytest.approx(scores["fine_tuned"])
    encoder = ImageEncoder(model="sktransfer/tiny-cnn", weights=pretrained_tiny_cnn).fit(X)
    assert np.abs(clf.transform(X) - encoder.transform(X)).max() > 1e-3  # the blocks moved


def test_probe_floor_for_regressors_scratch_and_when_nothing_is_compared(digits):
    images, target = digits
    X, y = images[:200], target[:200]
    y_num = images[:200].mean(axis=(1, 2))
    # Regressors compare R^2; from scratch (weights=None, every block) the floor is the
    # head on the random network's features: the same rule.
    reg, _ = _floor_fit(ImageRegressor, X, y_num, weights=None, n_trainable_blocks="all")
    assert reg.fine_tuning_helped_ in (True, False)
    valid = reg.validation_rows_
    kept = "fine_tuned" if reg.fine_tuning_helped_ else "probe"
    assert reg.score(X[valid], y_num[valid]) == pytest.approx(reg.validation_scores_[kept])
    # Nothing to compare: a probe itself (no trained block), no held-out split.
    probe, caught = _floor_fit(ImageClassifier, X, y, n_trainable_blocks=0)
    assert probe.fine_tuning_helped_ is None and probe.validation_scores_ is None
    assert len(probe.validation_rows_) == 40 and not caught
    few, _ = _floor_fit(ImageClassifier, X, y, n_trainable_blocks=1, early_stopping=False)
    assert few.fine_tuning_helped_ is None and few.validation_rows_ is None


def _block_states(module):
    return [{k: v.clone() for k, v in b.state_dict().items()} for b in module.blocks]


def test_freeze_depth_trains_only_the_top_blocks(digits):
    images, target = digits
    X, y = images[:120], target[:120]
    backbone = get_backbone("sktransfer/tiny-cnn", device="cpu")
    before = [{k: v.clone() for k, v in b.state_dict().items()} for b in backbone.net.blocks]
    for k in (0, 1, 2, 3):
        clf = ImageClassifier(
            model="sktransfer/tiny-cnn", n_trainable_blocks=k, augment=True, max_epochs=2, **FAST
        ).fit(X, y)
        assert clf.cached_blocks_ == 0  # augmentation: every block sees new inputs
        after = _block_states(clf.net_.module_)
        for i, (b0, b1) in enumerate(zip(before, after)):
            changed = any(not torch.equal(b0[key], b1[key]) for key in b0)
            # BatchNorm running statistics included: frozen blocks stay in eval mode.
            assert changed == (i >= 3 - k), (k, i)
    # The shared backbone itself is never modified by fine-tuning.
    for b0, b in zip(before, backbone.net.blocks):
        assert all(torch.equal(v, b.state_dict()[key]) for key, v in b0.items())


def test_batchnorm_statistics_of_trainable_blocks(digits):
    """Pretrained: BN statistics stay (train and eval normalise alike); scratch: they train."""
    images, target = digits
    X, y = images[:96], target[:96]
    backbone = get_backbone("sktransfer/tiny-cnn", device="cpu")
    stats = lambda module, i: module.blocks[i][1].running_mean.clone()  # noqa: E731
    pretrained = backbone.net.blocks[2][1].running_mean.clone()

    def fit(**kw):
        return ImageClassifier(
            model="sktransfer/tiny-cnn",
            n_trainable_blocks=1,
            augment=False,
            max_epochs=2,
            head_init="random",
            **FAST,
            **kw,
        ).fit(X, y)

    frozen_bn = fit()
    module = frozen_bn.net_.module_
    assert torch.equal(stats(module, -1), pretrained)
    assert not torch.equal(
        module.blocks[-1][0].weight, backbone.net.blocks[2][0].weight
    )  # the block trained
    assert not torch.equal(
        fit(freeze_batchnorm=False).net_.module_.blocks[-1][1].running_mean, pretrained
    )
    scratch = fit(weights=None)
    assert not torch.equal(
        scratch.net_.module_.blocks[-1][1].running_mean,
        get_backbone("sktransfer/tiny-cnn", weights=None).net.blocks[2][1].running_mean,
    )
    with pytest.raises(
        ValueError, match="The 'freeze_batchnorm' parameter of ImageClassifier must be"
    ):
        fit(freeze_batchnorm="yes")


def test_all_blocks_and_scratch(digits):
    images, target = digits
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn", n_trainable_blocks="all", max_epochs=2, **FAST
    )
    clf.fit(images[:60], target[:60])
    assert clf.n_trainable_blocks_ == 3
    with pytest.raises(
        ValueError, match=r'more than the 3 blocks of this backbone; use an int in 0..3 or "all"'
    ):
        ImageClassifier(model="sktransfer/tiny-cnn", n_trainable_blocks=4).fit(
            images[:60], target[:60]
        )


def test_frozen_prefix_is_cached_and_shared_by_clones(digits):
    images, target = digits
    X, y = images[:200], target[:200]
    backbone = get_backbone("sktransfer/tiny-cnn", device="cpu")
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn", n_trainable_blocks=1, augment=False, max_epochs=3, **FAST
    )
    start = backbone.n_forwarded
    clf.fit(X, y)
    assert clf.cached_blocks_ == 2 and len(clf.net_.module_.blocks) == 1
    n_distinct = len(np.unique(X.reshape(len(X), -1), axis=0))
    # Once for the frozen prefix's output, once for the pooled features that
    # train the head first (head_init="probe"); both through the cache.
    assert backbone.n_forwarded - start == 2 * n_distinct
    start = backbone.n_forwarded
    clone(clf).set_params(lr=1e-3).fit(X, y)
    clf.predict(X)
    assert backbone.n_forwarded == start  # clones and predict reuse the cached prefix
    # The same training without the cache gives the same model.
    uncached = ImageClassifier(
        model="sktransfer/tiny-cnn",
        n_trainable_blocks=1,
        augment=False,
        max_epochs=3,
        cache=False,
        head_init="random",
        **FAST,
    ).fit(X, y)
    clf.set_params(head_init="random").fit(X, y)
    assert uncached.cached_blocks_ == 0
    np.testing.assert_allclose(uncached.predict_proba(X), clf.predict_proba(X), atol=1e-4)


def test_random_state_reproducible(digits):
    images, target = digits
    X, y = images[:80], target[:80]

    def make(rs):
        return ImageClassifier(
            model="sktransfer/tiny-cnn",
            n_trainable_blocks=1,
            max_epochs=2,
            device="cpu",
            random_state=rs,
            early_stopping=False,
        )

    state = torch.random.get_rng_state()
    a = make(0).fit(X, y).predict_proba(X)
    b = make(0).fit(X, y).predict_proba(X)
    c = make(1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(state, torch.random.get_rng_state())  # no global seeding


def test_any_label_type():
    X = ["good", "bad", "fine", "awful", "nice", "poor"] * 4
    for labels in (["pos", "neg"], [3, 7], [True, False]):
        y = [labels[i % 2] for i in range(len(X))]
        clf = TextClassifier(model="sktransfer/tiny-text", max_epochs=2, **FAST).fit(X, y)
        assert list(clf.classes_) == sorted(labels)
        assert set(clf.predict(X)) <= set(labels)
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)


def test_multilabel_indicator_y():
    X = ["red car", "blue car", "red bike", "blue bike"] * 6
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]] * 6)
    clf = TextClassifier(model="sktransfer/tiny-text", max_epochs=30, lr=1e-2, **FAST).fit(X, y)
    assert clf.multilabel_ and list(clf.classes_) == [0, 1]
    pred = clf.predict(X)
    assert pred.shape == y.shape and set(np.unique(pred)) <= {0, 1}
    assert (pred == y).mean() > 0.9


def test_class_weight_balanced():
    X = [f"text {i}" for i in range(40)]
    y = ["rare"] * 5 + ["common"] * 35
    clf = TextClassifier(
        model="sktransfer/tiny-text", class_weight="balanced", max_epochs=2, **FAST
    ).fit(X, y)
    weight = clf.net_.criterion_.weight.numpy()
    np.testing.assert_allclose(
        weight, [40 / (2 * 35), 40 / (2 * 5)]
    )  # order of classes_: common, rare
    with pytest.raises(ValueError, match="not in y"):
        TextClassifier(model="sktransfer/tiny-text", class_weight={"other": 2}).fit(X, y)


def test_regressor_multioutput_and_scaling(digits):
    images, _ = digits
    X = images[:150]
    brightness = X.reshape(len(X), -1).mean(1)
    y1 = 1000.0 + 50.0 * brightness  # far from unit scale
    reg = ImageRegressor(
        model="sktransfer/tiny-cnn", n_trainable_blocks="all", augment=False, max_epochs=30, **FAST
    ).fit(X, y1)
    pred = reg.predict(X)
    assert pred.shape == (150,)
    assert abs(pred.mean() - y1.mean()) < 0.1 * y1.std() + 1
    assert np.corrcoef(pred, y1)[0, 1] > 0.8
    y2 = np.c_[y1, -y1 / 100]
    pred2 = ImageRegressor(model="sktransfer/tiny-cnn", max_epochs=3, **FAST).fit(X, y2).predict(X)
    assert pred2.shape == (150, 2)
    assert (pred2[:, 0] > 500).all() and (pred2[:, 1] < 0).all()


def test_early_stopping_restores_best_and_validates_split():
    X = [f"sample {i} " + ("good" if i % 2 else "bad") for i in range(60)]
    y = [i % 2 for i in range(60)]
    clf = TextClassifier(
        model="sktransfer/tiny-text",
        max_epochs=40,
        patience=2,
        lr=0.5,
        device="cpu",
        early_stopping=True,
        random_state=0,
    ).fit(X, y)
    assert clf.early_stopping_ is True
    history = clf.history_
    losses = history[:, "valid_loss"]
    assert len(history) < 40  # stopped early
    best = int(np.argmin(losses))
    assert history[best, "valid_loss_best"]
    with pytest.raises(
        ValueError,
        match=r"stratified split, which needs at least one validation sample and two samples per "
        r"class",
    ):
        TextClassifier(model="sktransfer/tiny-text", early_stopping=True).fit(
            ["a", "b", "c", "d"], [0, 1, 2, 2]
        )
    TextClassifier(model="sktransfer/tiny-text", max_epochs=1, **FAST).fit(["a", "b"], [0, 1])


def test_auto_epoch_budget():
    """About 300 steps (at least 10 epochs); with a domain loss about 150 (at least 5)."""
    from sktransfer.finetune._plan import _max_epochs

    params = dict(max_epochs="auto", validation_fraction=0.1, batch_size=32)
    assert _max_epochs(params, 64, "none", None) == 100  # 2 steps an epoch: the cap
    assert _max_epochs(params, 1000, "split", None) == 11  # 29 steps an epoch
    assert _max_epochs(params, 100_000, "split", None) == 10  # the floor
    # 1,000 source and 500 target rows: 32 steps an epoch, each of 32 + 32 rows.
    assert _max_epochs(params, 1500, "none", (1000, 500)) == 5
    assert _max_epochs(params, 150, "none", (100, 50)) == 38
    assert _max_epochs({**params, "max_epochs": 7}, 1500, "none", (1000, 500)) == 7


def test_early_stopping_auto_needs_a_validation_set_of_50():
    """Few-shot data trains without early stopping (its validation loss is noise)."""

    def fit(n, **kw):
        X = [f"sample {i} " + ("good" if i % 2 else "bad") for i in range(n)]
        return TextClassifier(
            model="sktransfer/tiny-text", max_epochs=2, device="cpu", random_state=0, **kw
        ).fit(X, [i % 2 for i in range(n)])

    from skorch.dataset import ValidSplit

    def n_trained(clf):
        return sum(b.get("train_batch_size", 0) for b in clf.history_[-1, "batches"])

    small = fit(499)  # 10 % is 50 validation samples (rounded up)...
    assert small.early_stopping_ and n_trained(small) == 449
    assert len(small.validation_rows_) == 50
    assert "early_stopping" in dict(small.net_.callbacks_)
    few = fit(490)  # ...but 490 gives 49
    assert few.early_stopping_ is False and few.validation_rows_ is None
    assert "early_stopping" not in dict(few.net_.callbacks_)
    assert n_trained(few) == 490  # every sample trains
    assert "valid_loss" not in few.history_[-1]
    # A validation split given by the user turns it on; early_stopping=False keeps it off.
    assert fit(40, train_split=ValidSplit(4)).early_stopping_
    assert fit(600, early_stopping=False).validation_rows_ is None
    with pytest.raises(
        ValueError, match="The 'early_stopping' parameter of TextClassifier must be"
    ):
        fit(40, early_stopping="yes")


def test_layerwise_learning_rates_and_gradual_unfreezing(digits):
    images, target = digits
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn",
        n_trainable_blocks=1,
        unfreeze_every=1,
        max_epochs=3,
        augment=False,
        layer_decay=0.5,
        backbone_lr_scale=0.1,
        lr=0.01,
        warmup_fraction=0.0,
        **FAST,
    )
    clf.fit(images[:64], target[:64])
    assert clf.trainable_schedule_ == (1, 3)
    assert clf.cached_blocks_ == 0  # blocks that unfreeze later cannot be cached
    module = clf.net_.module_
    assert module.n_frozen == 0  # all three blocks trainable by the last epoch
    assert all(p.requires_grad for p in module.parameters() if p is not module.norm)
    base = {
        name: lr
        for name, lr in zip(
            ["blocks.0", "blocks.1", "blocks.2"], [0.01 * 0.1 * 0.25, 0.01 * 0.1 * 0.5, 0.01 * 0.1]
        )
    }
    groups = clf.net_.optimizer_.param_groups
    # param_groups: one per pattern, then the default group (the head) at lr.
    lrs = [g["initial_lr"] if "initial_lr" in g else None for g in groups]
    del lrs
    assert clf.net_.get_params()["optimizer__param_groups"][:3] == [
        (f"{name}.*", {"lr": pytest.approx(lr)}) for name, lr in base.items()
    ]


def test_pickle_roundtrip_and_cpu_only_load(tmp_path, digits):
    images, target = digits
    # Defaults (early stopping, warm-up, LP-FT) included: every callback must pickle.
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn",
        n_trainable_blocks=1,
        max_epochs=2,
        unfreeze_every=1,
        early_stopping=True,
        device="cpu",
        random_state=0,
    )
    clf.fit(images[:200], target[:200])
    assert "early_stopping" in dict(clf.net_.callbacks_)
    expected = clf.predict_proba(images[80:100])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(images[80:100]), expected)
    path = tmp_path / "clf.pkl"
    path.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "x.npy", images[80:100])
    np.save(tmp_path / "p.npy", expected)
    code = (
        "import pickle, numpy as np, torch;"
        "assert not torch.cuda.is_available();"
        f"clf = pickle.loads(open({str(path)!r}, 'rb').read());"
        f"np.testing.assert_array_equal(clf.predict_proba(np.load({str(tmp_path / 'x.npy')!r})), "
        f"np.load({str(tmp_path / 'p.npy')!r}));"
        "print('ok')"
    )
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_prefixed_parameters_clone_and_grid_search(digits):
    images, target = digits
    clf = ImageClassifier(
        model="sktransfer/tiny-cnn",
        augment=False,
        max_epochs=2,
        module__hidden=16,
        optimizer__weight_decay=0.0,
        iterator_train__drop_last=False,
        **FAST,
    )
    params = clf.get_params()
    assert params["module__hidden"] == 16 and params["optimizer__weight_decay"] == 0.0
    copy = clone(clf)
    assert copy.get_params() == params
    copy.set_params(module__dropout=0.1)
    assert copy.module__dropout == 0.1
    search = GridSearchCV(clf, {"n_trainable_blocks": [0, 1, "all"], "lr": [3e-3, 1e-2]}, cv=2)
    search.fit(images[:100], target[:100])
    assert search.best_params_["n_trainable_blocks"] in (0, 1, "all")
    assert len(search.cv_results_["mean_test_score"]) == 6
    head = search.best_estimator_.net_.module_.head
    assert head.layers[0].out_features == 16  # module__hidden built a hidden layer
    with pytest.raises(
        ValueError, match=r"module__ parameters configure the new head: hidden, dropout"
    ):
        ImageClassifier(model="sktransfer/tiny-cnn", module__width=3, max_epochs=1, **FAST).fit(
            images[:40], target[:40]
        )
    with pytest.raises(ValueError, match="unexpected keyword argument 'head__x'"):
        ImageClassifier(model="sktransfer/tiny-cnn", head__x=3).fit(images[:40], target[:40])


def test_pandas_and_list_inputs_agree():
    X = [f"review {i} " + ("good" if i % 2 else "bad") for i in range(30)]
    y = np.array([i % 2 for i in range(30)])

    def make():
        return TextClassifier(model="sktransfer/tiny-text", max_epochs=2, **FAST)

    expected = make().fit(X, y).predict_proba(X)
    series = pd.Series(X, name="review")
    np.testing.assert_allclose(make().fit(series, y).predict_proba(series), expected)
    frame = series.to_frame()
    clf = make().fit(frame, pd.Series(y))
    np.testing.assert_allclose(clf.predict_proba(frame), expected)
    assert list(clf.feature_names_in_) == ["review"]


def test_text_prediction_order_is_kept():
    """Predictions are batched longest-first internally, returned in input order."""
    X = ["a" * (i % 7 + 1) + f" text {i}" + " long" * (i % 5) for i in range(40)]
    y = [i % 2 for i in range(40)]
    clf = TextClassifier(
        model="sktransfer/tiny-text", n_trainable_blocks=1, max_epochs=2, **FAST
    ).fit(X, y)
    assert clf.cached_blocks_ == 0
    one_by_one = np.vstack([clf.predict_proba([x]) for x in X])
    np.testing.assert_allclose(clf.predict_proba(X), one_by_one, atol=1e-5)


def test_bad_input_errors(digits):
    images, target = digits
    clf = TextClassifier(model="sktransfer/tiny-text", **FAST)
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 entries"):
        clf.fit(["a", "b", "c"], [0, 1])
    with pytest.raises(ValueError, match=r"only one class \('x'\); at least 2 classes"):
        clf.fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match=r"row 1: None"):
        clf.fit(["a", None], [0, 1])
    with pytest.raises(ValueError, match="requires y to be passed"):
        clf.fit(["a", "b"], None)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(["a", "b", "c"], [0.5, 1.5, 2.1])
    with pytest.raises(NotFittedError):
        ImageRegressor(model="sktransfer/tiny-cnn").predict(images[:2])
    with pytest.raises(ValueError, match="is a image model|is an image model|needs a text model"):
        TextClassifier(model="sktransfer/tiny-cnn").fit(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match=r"y must be finite numbers"):
        TextRegressor(model="sktransfer/tiny-text").fit(["a", "b"], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"Complex data not supported in y"):
        TextRegressor(model="sktransfer/tiny-text").fit(["a", "b"], [1.0 + 2j, 3.0])


@pytest.mark.slow
def test_minilm_fine_tuning_matches_or_beats_linear_probe(reviews):
    """Real text: fine-tuning the top 2 MiniLM layers vs a head on frozen embeddings."""
    train, test = reviews[:200], reviews[200:]
    probe = TextClassifier(n_trainable_blocks=0, **FAST).fit(train["text"], train["label"])
    tuned = TextClassifier(n_trainable_blocks=2, max_epochs=3, **FAST)
    tuned.fit(train["text"], train["label"])
    acc_probe = (probe.predict(test["text"]) == test["label"]).mean()
    acc_tuned = (tuned.predict(test["text"]) == test["label"]).mean()
    assert acc_probe > 0.62, acc_probe
    assert acc_tuned >= acc_probe - 0.03, (acc_tuned, acc_probe)
    assert probe.cached_blocks_ == 7 and tuned.cached_blocks_ == 5


@pytest.mark.slow
def test_augmentation_fits_the_input(digits):
    """Grey images get crops only; colour images crops and colour jitter; crops keep the digit."""
    from PIL import Image
    from torchvision.transforms import v2

    from sktransfer.modalities.image import ImageTransform, _is_grey

    preprocess = get_backbone("sktransfer/tiny-cnn").preprocess
    transform = ImageTransform(preprocess, True)
    grey = Image.fromarray(digits[0][0]).convert("RGB")
    colour = Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8))
    assert _is_grey(grey) and not _is_grey(colour)
    torch.manual_seed(0)
    out = transform(grey)
    assert out.dtype == torch.uint8 and out.shape[0] == 3
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])

    def has_jitter(grey_input):
        return any(isinstance(t, v2.ColorJitter) for t in transform._aug[grey_input].transforms)

    assert has_jitter(False) and not has_jitter(True)
    crop = transform._aug[True].transforms[0]
    assert crop.scale == (0.8, 1.0)


def test_auto_augmentation_augments_colour_images_when_blocks_train(digits):
    """augment="auto": colour images train augmented; grey images and a probe do not, so
    their frozen blocks are cached."""
    grey = digits[0][:60]
    colour = np.stack([grey] * 3, axis=-1)
    colour[..., 0] = 255 - colour[..., 0]  # the same digits, in colour
    y = digits[1][:60]
    kw = dict(model="sktransfer/tiny-cnn", max_epochs=1, **FAST)
    tuned_colour = ImageClassifier(n_trainable_blocks=1, **kw).fit(colour, y)
    assert tuned_colour.fit_plan_.augment is True and tuned_colour.cached_blocks_ == 0
    tuned_grey = ImageClassifier(n_trainable_blocks=1, **kw).fit(grey, y)
    assert tuned_grey.fit_plan_.augment is False and tuned_grey.cached_blocks_ == 2
    probe = ImageClassifier(n_trainable_blocks=0, **kw).fit(colour, y)
    assert probe.fit_plan_.augment is False and probe.cached_blocks_ == 3
    forced = ImageClassifier(n_trainable_blocks=1, augment=True, **kw).fit(grey, y)
    assert forced.fit_plan_.augment is True and forced.cached_blocks_ == 0


def test_training_batches_group_rows_of_similar_length():
    """Texts train in batches of similar length (less padding), drawn anew every epoch."""
    from sktransfer.finetune._torch import ArrayDataset, TrainLoader

    lengths = np.random.default_rng(0).integers(1, 200, 500)
    X = np.empty(500, dtype=object)
    X[:] = [np.zeros((n, 2), np.float32) for n in lengths]
    dataset = ArrayDataset(X, np.zeros(500))

    def batches(**kw):
        loader = TrainLoader(
            dataset, batch_size=32, collate_fn=lambda b: [len(x) for x, _ in b], **kw
        )
        return [list(b) for b in loader]

    torch.manual_seed(0)
    grouped, again = batches(shuffle=True), batches(shuffle=True)
    plain = batches(shuffle=False)
    for epoch in (grouped, again):
        assert sorted(sum(epoch, [])) == sorted(lengths.tolist())  # every row, once
        assert [len(b) for b in epoch] == [32] * 15 + [20]  # full batches, the partial last
    assert grouped != again

    def padded(epoch):
        return sum(len(b) * max(b) for b in epoch)

    assert padded(grouped) < 0.6 * padded(plain), (padded(grouped), padded(plain))


def test_minilm_frozen_layers_are_cached_token_level(reviews):
    """k=2 of MiniLM's 7 blocks: the 5 frozen ones run once; training matches the uncached path."""
    X, y = list(reviews["text"][:48]), reviews["label"][:48]
    common = dict(n_trainable_blocks=2, max_epochs=2, head_init="random", batch_size=16, **FAST)
    cached = TextClassifier(**common).fit(X, y)
    assert cached.cached_blocks_ == 5
    assert len(cached.net_.module_.blocks) == 2  # only the trainable layers are in the module
    uncached = TextClassifier(cache=False, **common).fit(X, y)
    assert uncached.cached_blocks_ == 0
    np.testing.assert_allclose(
        cached.history_[:, "train_loss"], uncached.history_[:, "train_loss"], rtol=1e-4
    )
    np.testing.assert_allclose(
        cached.predict_proba(X[:20]), uncached.predict_proba(X[:20]), atol=1e-4
    )
    # A grid-search candidate with another learning rate reuses the cached states.
    backbone = get_backbone("all-MiniLM-L6-v2", device="cpu")
    before = backbone.n_forwarded
    TextClassifier(lr=1e-3, **common).fit(X, y).predict(X)
    assert backbone.n_forwarded == before


@pytest.mark.slow
def test_grid_search_over_freeze_depth_with_efficientnet(digits):
    images, target = digits
    X, y = images[:90], target[:90]
    clf = ImageClassifier(model="efficientnet_lite0", augment=False, max_epochs=3, **FAST)
    search = GridSearchCV(clf, {"n_trainable_blocks": [0, 1]}, cv=2).fit(X, y)
    assert set(search.cv_results_["param_n_trainable_blocks"]) == {0, 1}
    assert search.best_score_ > 0.3  # 10 classes, 45 training images per fold
    backbone = get_backbone("efficientnet_lite0", device="cpu")
    before = backbone.n_forwarded
    search.best_estimator_.predict(X)
    assert backbone.n_forwarded == before  # prefixes of these images are cached
