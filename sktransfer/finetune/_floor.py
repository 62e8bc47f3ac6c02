"""The probe floor: one held-out split per fit, and the scores that decide what fit keeps.

With a held-out split and trained blocks, ``fit`` fits the linear probe
(the head alone on the frozen features) and the fine-tuned network on the
same training rows, scores both on the same held-out rows, and keeps the
fine-tuned network only when it scores higher: fine-tuning is never worse
than the probe on data it was not trained on.
"""

import copy

import numpy as np


def held_out_split(plan, y, seed):
    """Row positions (train, valid) of the held-out split, drawn once per fit, or None.

    The probe and the fine-tuned network train and stop on the same rows
    and are compared on the same held-out ones, which are never augmented.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> plan = SimpleNamespace(validation="split", validation_fraction=0.25, stratified=True)
    >>> train, valid = held_out_split(plan, np.array([0, 0, 0, 0, 1, 1, 1, 1]), seed=0)
    >>> len(train), len(valid), sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1])[valid].tolist())
    (6, 2, [0, 1])
    """
    if plan.validation != "split":
        return None
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    kind = StratifiedShuffleSplit if plan.stratified else ShuffleSplit
    splitter = kind(n_splits=1, test_size=plan.validation_fraction, random_state=seed)
    train, valid = next(splitter.split(np.zeros(len(y)), y if plan.stratified else None))
    return np.sort(train), np.sort(valid)


def scores(loss, out, y):
    """(score, loss) of outputs ``out`` (probabilities, or standardised numbers) against ``y``.

    The score is the estimator's ``score``: accuracy (mean label accuracy
    for multi-label) or R^2; the unweighted loss is reported beside it.

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    >>> [round(v, 3) for v in scores("cross_entropy", proba, np.array([0, 1, 1]))]
    [0.667, 0.607]
    """
    out = np.asarray(out, dtype=np.float64)
    if loss == "cross_entropy":
        p = np.clip(out[np.arange(len(y)), y], 1e-12, 1.0)
        return float((out.argmax(axis=1) == y).mean()), float(-np.log(p).mean())
    if loss == "bce":
        p = np.clip(np.where(y > 0.5, out, 1.0 - out), 1e-12, 1.0)
        return float(((out >= 0.5) == (y > 0.5)).mean()), float(-np.log(p).mean())
    y = np.asarray(y, dtype=np.float64).reshape(out.shape)
    mse = ((out - y) ** 2).mean(axis=0)
    r2 = 1.0 - mse / np.maximum(y.var(axis=0), 1e-12)
    return float(r2.mean()), float(mse.mean())


def beats(tuned, probe):
    """Whether the fine-tuned (score, loss) beats the probe's: a strictly higher score.

    A tie keeps the probe: fine-tuning has to earn its place. (On 60
    held-out texts, a tie broken by the lower loss kept a fine-tuned
    network 1.5 points worse on the test set than its probe.)

    Examples
    --------
    >>> beats((0.81, 0.5), (0.8, 0.4)), beats((0.8, 0.3), (0.8, 0.5)), beats((0.7, 0.1), (0.8, 0.9))
    (True, False, False)
    """
    return tuned[0] > probe[0]


def keep_the_better(net, probe, probe_scores, start, tuned_scores):
    """Put the probe back into ``net`` unless fine-tuning beat it; return what was decided.

    ``start`` is the trained module's state before fine-tuning (the
    pretrained blocks); the probe's head goes on top of them.
    """
    helped = beats(tuned_scores, probe_scores)
    if not helped:
        net.module_.load_state_dict(start)
        net.module_.head = copy.deepcopy(probe.module_.head).to(net.device)
        net.module_.train(False)
    return {"probe": probe_scores, "fine_tuned": tuned_scores, "helped": helped}


def attributes(outcome):
    """``fine_tuning_helped_`` and ``validation_scores_`` from a fit's outcome (None: no floor).

    Examples
    --------
    >>> attributes(None)
    {'fine_tuning_helped_': None, 'validation_scores_': None}
    >>> attributes({"helped": True, "probe": [0.8, -0.5], "fine_tuned": [0.9, -0.3]})
    {'fine_tuning_helped_': True, 'validation_scores_': {'probe': 0.8, 'fine_tuned': 0.9}}
    """
    if outcome is None:
        return {"fine_tuning_helped_": None, "validation_scores_": None}
    return {
        "fine_tuning_helped_": outcome["helped"],
        "validation_scores_": {
            "probe": outcome["probe"][0],
            "fine_tuned": outcome["fine_tuned"][0],
        },
    }
