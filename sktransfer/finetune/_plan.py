"""The fit plan: every training decision, computed once from the parameters and the data (no torch).

Freeze depth is one rule, counted from the top: ``n_trainable_blocks=k``
trains the top k blocks (and the head). With gradual unfreezing the count
grows from ``first`` to ``last``; the lower ``n_blocks - last`` blocks never
train, so when their input is not augmented their outputs come from the
cache once (``cached``) and the trained module starts above them.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import _domain

AUTO_EARLY_STOPPING_MIN_VALID = 50


def n_trainable(n_trainable_blocks, n_blocks):
    """Resolve ``n_trainable_blocks`` (int or "all") to a count in [0, n_blocks].

    Examples
    --------
    >>> n_trainable("all", 9), n_trainable(2, 9)
    (9, 2)
    >>> n_trainable(12, 9)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: n_trainable_blocks=12 is more than the 9 blocks of this backbone; use an int in 0..9
    or "all".
    """
    if n_trainable_blocks == "all":
        return n_blocks
    if n_trainable_blocks > n_blocks:
        raise ValueError(
            f"n_trainable_blocks={n_trainable_blocks} is more than the {n_blocks} blocks of this "
            f'backbone; use an int in 0..{n_blocks} or "all".'
        )
    return int(n_trainable_blocks)


def trainable_at_epoch(first, last, unfreeze_every, epoch):
    """Trainable-block count during 1-based ``epoch``: one more every ``unfreeze_every`` epochs.

    Examples
    --------
    >>> # epochs 1-3: 1 block, 4-6: 2, 7-9: 3, 10: 4
    >>> [trainable_at_epoch(1, 4, 3, e) for e in range(1, 11)]
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    """
    if unfreeze_every is None:
        return first
    return min(last, first + (epoch - 1) // unfreeze_every)


def block_lr_scales(n_blocks, backbone_lr_scale, layer_decay):
    """Learning-rate multiplier of each block, bottom first; the head gets 1.

    The top block gets ``backbone_lr_scale``; each block below it
    ``layer_decay`` times the one above (layer-wise learning-rate decay).

    Examples
    --------
    >>> [round(s, 3) for s in block_lr_scales(3, 0.1, 0.5)]
    [0.025, 0.05, 0.1]
    """
    return [backbone_lr_scale * layer_decay ** (n_blocks - 1 - i) for i in range(n_blocks)]


@dataclass(frozen=True)
class FitPlan:
    """What one ``fit`` will do. Built by :func:`make`; read by the trainer and the estimator."""

    n_blocks: int
    first: int
    last: int
    unfreeze_every: object
    cached: int
    max_epochs: int
    head_epochs: int  # of a head fitted alone (the probe; the contrastive objective's head)
    early_stopping: bool
    validation: str  # "none", "split" (validation_fraction) or "given" (a train_split callable)
    validation_fraction: float
    stratified: bool
    probe_first: bool
    floor: bool
    augment: object
    freeze_batchnorm: bool
    backbone_lr_scale: float
    layer_decay: float
    domain_losses: tuple
    domain_rows: object
    objective: str = "task"
    channels: int = 1  # of each row, for a network that encodes channel by channel
    forecast: bool = False  # start from the backbone's pretrained forecasting head

    @property
    def module_blocks(self):
        """How many blocks the trained module holds (those above the cached ones)."""
        return self.n_blocks - self.cached

    @property
    def trainable_at_start(self):
        """Trainable blocks of the module at the first epoch."""
        return min(self.first, self.module_blocks)


def _early_stopping(params, n_labelled, adapting):
    """``early_stopping="auto"``: on when the validation split holds at least 50 samples.

    On fewer, the validation loss is too noisy to pick an epoch: few-shot
    fits (8 or 16 texts per class) stopped after 4 epochs and lost 6-12
    points (benchmarks/RESULTS.md, few-shot against SetFit).

    Off with a domain loss: the only labelled validation rows are source
    rows, and the domain loss trades source fit for target fit, so the
    source validation loss picks the epoch before adaptation acts (on
    film reviews -> tweets every fit stopped after epoch 1).
    """
    if params["early_stopping"] != "auto":
        return bool(params["early_stopping"])
    if adapting:
        return False
    if params["train_split"] != "auto":
        return params["train_split"] is not None
    return math.ceil(n_labelled * params["validation_fraction"]) >= AUTO_EARLY_STOPPING_MIN_VALID


def _check_split(name, n_rows, y_fit, fraction, stratified):
    """The held-out split must leave samples (and, stratified, every class) on both sides."""
    n_valid = int(np.ceil(n_rows * fraction))
    if stratified:
        # With target rows (label -1), the target is one more stratum.
        counts = np.unique(y_fit, return_counts=True)[1]
        n_classes = len(counts)
        if n_valid < n_classes or counts.min() < 2 or n_rows - n_valid < n_classes:
            raise ValueError(
                f"{name}: early stopping holds out validation_fraction={fraction} of the {n_rows} "
                f"samples ({n_valid}) in a stratified split, which needs at least one validation "
                f"sample and two samples per class ({n_classes} classes; the rarest has "
                f"{counts.min()}). Give more samples, raise validation_fraction, or set "
                "early_stopping=False."
            )
    elif n_valid < 2 or n_rows - n_valid < 2:
        raise ValueError(
            f"{name}: early stopping holds out validation_fraction={fraction} of {n_rows} samples "
            f"({n_valid}); at least 2 are needed on each side. Give more samples, raise "
            "validation_fraction, or set early_stopping=False."
        )


def _n_train(params, n_rows, validation):
    """Rows left to train on once the held-out split (if any) is taken."""
    return n_rows if validation == "none" else int(n_rows * (1 - params["validation_fraction"]))


def _max_epochs(params, n_rows, validation, domain_rows):
    """``max_epochs="auto"``: about 300 optimiser steps, at least 10 epochs, at most 100.

    Few-shot data gives few steps per epoch; a fixed epoch count would
    leave the new head untrained there.

    With a domain loss each step carries a batch of source rows and one of
    target rows: about 150 steps (the rows of 300 source-only steps), at
    least 5 epochs. Adapting 1,000 long passages to 500 film sentences, 5
    epochs kept most of what 10 gave on the target (69.3 against 70.0 %
    accuracy; source-only 67.4 %) at half the cost, which brought the
    adapted fit from 4.1 to 2.1 times the source-only one
    (benchmarks/RESULTS.md, "What a fit costs").
    """
    if params["max_epochs"] != "auto":
        return int(params["max_epochs"])
    n_train = _n_train(params, n_rows, validation)
    steps, least = 300, 10
    if domain_rows is not None:
        # Domain-balanced batches: an epoch pairs each row of the larger
        # domain with one of the other.
        n_train = int(n_train * max(domain_rows) / sum(domain_rows))
        steps, least = 150, 5
    steps_per_epoch = max(1, int(np.ceil(n_train / params["batch_size"])))
    return int(min(100, max(least, np.ceil(steps / steps_per_epoch))))


#: Contrastive steps of ``max_epochs="auto"`` (each embeds one batch and
#: scores every pair in it), at least 5 epochs and at most 100.
CONTRASTIVE_STEPS = 40


def _contrastive_epochs(params, n_rows, validation):
    """``max_epochs`` of the contrastive objective's first stage: epochs over the body."""
    if params["max_epochs"] != "auto":
        return int(params["max_epochs"])
    steps_per_epoch = max(1, _n_train(params, n_rows, validation) // params["batch_size"])
    return int(min(100, max(5, np.ceil(CONTRASTIVE_STEPS / steps_per_epoch))))


def _check_contrastive(name, params, first, adapting):
    if first == 0:
        raise ValueError(
            f'{name}: objective="contrastive" trains the body, so it needs n_trainable_blocks >= 1 '
            '(or "all"); with n_trainable_blocks=0 use the default objective="task" (a linear '
            "probe)."
        )
    if adapting:
        raise ValueError(
            f'{name}: objective="contrastive" does not take a domain_loss: its pairs need labels, '
            'and target rows have none. Use the default objective="task" to adapt.'
        )
    if params["unfreeze_every"] is not None:
        raise ValueError(
            f'{name}: objective="contrastive" trains a fixed set of blocks; set '
            "unfreeze_every=None."
        )


def make(params, *, name, backbone, y_fit, target, classifier, multilabel, rows):
    """The plan for fitting ``y_fit`` (a row each; ``target`` marks unlabelled target rows).

    ``rows`` (the validated X) lets ``augment="auto"`` look at the data.
    """
    n_blocks = backbone.n_blocks
    n_rows = len(y_fit)
    adapting = target is not None
    n_labelled = n_rows if target is None else int((~target).sum())
    domain_rows = None if target is None else (n_labelled, int(target.sum()))
    # Parameter errors before data errors.
    first = n_trainable(params["n_trainable_blocks"], n_blocks)

    early_stopping = _early_stopping(params, n_labelled, adapting)
    stratified = classifier and not multilabel
    if params["train_split"] != "auto":
        validation = "none" if params["train_split"] is None else "given"
    elif early_stopping:
        _check_split(name, n_rows, y_fit, params["validation_fraction"], stratified)
        validation = "split"
    else:
        validation = "none"
    objective = params.get("objective", "task")
    head_epochs = _max_epochs(params, n_rows, validation, domain_rows)
    if objective == "contrastive":
        _check_contrastive(name, params, first, adapting)
        max_epochs = _contrastive_epochs(params, n_rows, validation)
    else:
        max_epochs = head_epochs

    every = params["unfreeze_every"]
    last = first if every is None else min(n_blocks, first + (max_epochs - 1) // every)
    if adapting:
        _domain.check_depth(name, params["domain_loss"], last)

    augment = params.get("augment", False)
    if augment == "auto":
        # A probe's frozen features are computed once; augmented, they would
        # be the whole network's forward pass on every image every epoch.
        augment = last > 0 and backbone.modality.auto_augment(rows, name)
    augment = augment if augment in backbone.modality.augmentations else False
    forecast = params["head_init"] == "forecast"
    if forecast:
        _check_forecast(name, params, backbone, y_fit, classifier, rows, adapting)
    always_frozen = n_blocks - last
    # A forecasting head reads the raw context (and its scale), not pooled features.
    if not params["cache"] or always_frozen == 0 or augment or forecast:
        cached = 0
    elif always_frozen == n_blocks or backbone.can_start_at(always_frozen):
        cached = always_frozen
    else:
        cached = 0

    pretrained = params["weights"] is not None
    scale = params["backbone_lr_scale"]
    if scale == "auto":
        scale = 0.03 if pretrained else 1.0
    freeze_bn = params.get("freeze_batchnorm", False)
    return FitPlan(
        n_blocks=n_blocks,
        first=first,
        last=last,
        unfreeze_every=every,
        cached=cached,
        max_epochs=max_epochs,
        head_epochs=head_epochs,
        early_stopping=early_stopping,
        validation=validation,
        validation_fraction=params["validation_fraction"],
        stratified=stratified,
        probe_first=(
            objective == "task"
            and params["head_init"] == "probe"
            and pretrained
            and bool(params["cache"])
            and cached < n_blocks
            and last > 0
        ),
        # With a held-out split and trained blocks, the linear probe is the
        # floor: fit keeps whichever of the two scores better on it.
        floor=validation == "split" and last > 0 and not adapting and not forecast,
        augment=augment,
        freeze_batchnorm=pretrained if freeze_bn == "auto" else bool(freeze_bn),
        backbone_lr_scale=float(scale),
        layer_decay=float(params["layer_decay"]),
        domain_losses=_domain.parts(params["domain_loss"]) if adapting else (),
        domain_rows=domain_rows,
        objective=objective,
        channels=rows.channels,
        forecast=forecast,
    )


def _check_forecast(name, params, backbone, y_fit, classifier, rows, adapting):
    """``head_init="forecast"``: a regressor of the next values, on a model that forecasts."""
    horizon = getattr(backbone.net, "horizon", None)
    if classifier or not hasattr(backbone.net, "forecast_net"):
        raise ValueError(
            f'{name}: head_init="forecast" starts from a pretrained forecasting head, which only '
            f"a regressor on a forecasting model has (TimeSeriesRegressor(model='fracast')); "
            f"{backbone.name!r} has none."
        )
    n_outputs = 1 if y_fit.ndim == 1 else y_fit.shape[1]
    if n_outputs > horizon:
        raise ValueError(
            f"{name}: y has {n_outputs} outputs, but {backbone.name!r} forecasts at most "
            f"{horizon} values ahead: its forecasting head gives the next 1 to {horizon}."
        )
    if params.get("normalize", None) is not None:
        raise ValueError(
            f'{name}: head_init="forecast" predicts the next values on each series\' own scale, '
            f"which normalize={params['normalize']!r} removes; pass normalize=None."
        )
    if rows.channels != 1:
        raise ValueError(
            f'{name}: head_init="forecast" takes series of one channel; X has {rows.channels}.'
        )
    if adapting:
        raise ValueError(f'{name}: head_init="forecast" takes no domain_loss.')
