"""The trainer: a fit plan and encoded targets -> a trained skorch net (torch and skorch live here).

Module assembly (the backbone's blocks above the cached ones and a new head),
layer-wise learning rates, callbacks, LP-FT's probe head, the inputs (cached
features or raw samples), and prediction. Everything it needs comes in as
arguments: the estimator's parameters, the :class:`~._plan.FitPlan`, the
backbone, the rows and the encoded targets; it sets no estimator state.
"""

import copy

import numpy as np

from .._features import compute_features
from ..backbones._nets import CachedHeadNet
from ._params import OPTIMIZERS, SKORCH_PREFIXES
from ._plan import block_lr_scales
from ._torch import (
    ArrayDataset,
    FiniteLoss,
    GradualUnfreezing,
    Head,
    SampleDataset,
    TransferNetClassifier,
    TransferNetRegressor,
    WarmupCosine,
    silent,
    skorch,
    torch,
)

_LOSSES = {
    "cross_entropy": torch.nn.CrossEntropyLoss,
    "bce": torch.nn.BCEWithLogitsLoss,
    "mse": torch.nn.MSELoss,
}


def _prefixed(params, *prefixes):
    return {k: v for k, v in params.items() if k.startswith(prefixes)}


def _optimizer(params):
    opt = params["optimizer"]
    return getattr(torch.optim, OPTIMIZERS.get(opt.lower(), opt)) if isinstance(opt, str) else opt


def _module(params, plan, backbone, n_outputs):
    head_kwargs = {k[len("module__") :]: v for k, v in _prefixed(params, "module__").items()}
    head = Head(backbone.output_dim(), n_outputs, **head_kwargs)
    if plan.cached == plan.n_blocks:
        return CachedHeadNet(head)
    net = copy.deepcopy(backbone.net).to("cpu")
    input_module = backbone.modality.input_module(backbone) if plan.cached == 0 else None
    return net.transfer_net(
        plan.cached,
        head,
        plan.trainable_at_start,
        input_module=input_module,
        freeze_batchnorm=plan.freeze_batchnorm,
    )


def _param_groups(params, plan, module, prefix=""):
    """Layer-wise learning rates for the blocks the module may train.

    ``prefix`` is where the transfer network sits in the trained module
    ("net." inside the domain-adaptation wrapper). Everything else (the
    head, a domain classifier) learns at ``lr``.
    """
    lr = params["lr"]
    n = len(module.blocks)
    scales = block_lr_scales(n, plan.backbone_lr_scale, plan.layer_decay)
    groups = [(f"{prefix}blocks.{i}.*", {"lr": lr * s}) for i, s in enumerate(scales)]
    if n:
        groups.append((f"{prefix}pool.*", {"lr": lr * plan.backbone_lr_scale}))
        groups.append((f"{prefix}encoder.*", {"lr": lr * scales[0]}))
    return groups


def _train_split(params, plan):
    if plan.validation == "given":
        return params["train_split"]
    if plan.validation == "split":
        return skorch.dataset.ValidSplit(
            plan.validation_fraction,
            stratified=plan.stratified,
            random_state=params["random_state"],
        )
    return None


def _callbacks(params, plan, train_split, probe, name):
    cbs = [("warmup_cosine", WarmupCosine(params["warmup_fraction"]))]
    if not probe and plan.unfreeze_every is not None and plan.last > plan.first:
        cbs.append(("unfreeze", GradualUnfreezing(plan.first, plan.last, plan.unfreeze_every)))
    if train_split is not None and plan.early_stopping:
        cbs.append(
            (
                "early_stopping",
                skorch.callbacks.EarlyStopping(
                    patience=params["patience"], load_best=True, sink=silent
                ),
            )
        )
    if params["verbose"]:
        cbs.append(("progress", skorch.callbacks.ProgressBar()))
    for i, cb in enumerate(params["callbacks"] or []):
        cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
    cbs.append(("finite_loss", FiniteLoss(name)))
    return cbs


def _net(
    params,
    plan,
    module,
    criterion,
    net_kwargs,
    device,
    name,
    *,
    classifier,
    collate=None,
    adapt=None,
    probe=False,
):
    kwargs = _prefixed(params, *[p for p in SKORCH_PREFIXES if p != "module__"])
    if adapt is not None:
        # The task criterion was built with these, inside skada's criterion.
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("criterion__")}
        kwargs.setdefault("iterator_train", adapt.BalancedLoader)
        if classifier:
            # Accuracy on validation rows that include unlabelled target rows means nothing.
            kwargs.setdefault("callbacks__valid_acc", None)
    kwargs.setdefault(
        "optimizer__param_groups", _param_groups(params, plan, module, "net." if adapt else "")
    )
    optimizer = _optimizer(params)
    if optimizer is torch.optim.AdamW:
        kwargs.setdefault("optimizer__weight_decay", 0.01)
    kwargs.setdefault("iterator_train__shuffle", True)
    if device.startswith("cuda"):
        kwargs.setdefault("iterator_train__pin_memory", True)
        kwargs.setdefault("iterator_valid__pin_memory", True)
    if collate is not None:
        kwargs.setdefault("iterator_train__collate_fn", collate)
        kwargs.setdefault("iterator_valid__collate_fn", collate)
    train_split = _train_split(params, plan)
    callbacks = _callbacks(params, plan, train_split, probe, name)
    if adapt is not None:
        net_cls = adapt.DomainNetClassifier if classifier else adapt.DomainNetRegressor
        callbacks.insert(1, ("gradient_reversal", adapt.GradientReversalSchedule()))
    else:
        net_cls = TransferNetClassifier if classifier else TransferNetRegressor
    net = net_cls(
        module=module,
        criterion=criterion,
        optimizer=optimizer,
        lr=params["lr"],
        max_epochs=plan.max_epochs,
        batch_size=params["batch_size"],
        train_split=train_split,
        callbacks=callbacks,
        device=device,
        verbose=int(bool(params["verbose"])),
        **net_kwargs,
        **kwargs,
    )
    net.amp_ = device.startswith("cuda")
    return net


def _criterion(encoded):
    kwargs = {}
    if encoded.loss == "cross_entropy":
        kwargs["classes"] = list(range(encoded.n_outputs))
        if encoded.class_weight is not None:
            kwargs["criterion__weight"] = torch.tensor(encoded.class_weight, dtype=torch.float32)
    elif encoded.loss == "bce":
        # One independent probability per label (skorch's default for this
        # loss stacks [1 - p, p], meant for a single binary label).
        kwargs["predict_nonlinearity"] = torch.sigmoid
    return _LOSSES[encoded.loss], kwargs


def _features(params, backbone, rows, layer, pooled, name):
    return compute_features(
        backbone,
        rows,
        layer=layer,
        pooled=pooled,
        batch_size=params["batch_size"],
        cache=params["cache"],
        verbose=params["verbose"],
        estimator=name,
    )


def inputs(params, plan, backbone, rows, name, *, training, preprocess, modality):
    """What the module takes: cached outputs of the frozen blocks, or a dataset of raw samples.

    ``backbone`` is needed (and may be None otherwise) only when blocks are cached.
    """
    if plan.cached:
        pooled = plan.cached == plan.n_blocks
        features = _features(params, backbone, rows, plan.cached - 1, pooled, name)
        return ArrayDataset(features) if backbone.ragged and not pooled else features
    transform = modality.item_transform(preprocess, plan.augment if training else False)
    return SampleDataset(modality.samples(rows, name), transform)


def _probe_head(params, plan, backbone, rows, y, encoded, name, device):
    """LP-FT's first stage: the head trained alone on frozen, cached features."""
    features = _features(params, backbone, rows, backbone.n_blocks - 1, True, name)
    module = _module(params, _AllCached(plan), backbone, encoded.n_outputs)
    criterion, net_kwargs = _criterion(encoded)
    net = _net(
        params,
        plan,
        module,
        criterion,
        net_kwargs,
        device,
        name,
        classifier=encoded.classifier,
        probe=True,
    )
    net.fit(features, y)
    return net.module_.head


class _AllCached:
    """A plan seen as if every block were cached (the probe's head-only module)."""

    def __init__(self, plan):
        self.cached = self.n_blocks = plan.n_blocks


def fit(params, plan, backbone, rows, encoded, target_rows, name):
    """Train and return the skorch net (see the module docstring)."""
    y = encoded.y
    device = backbone.device
    seed = params["random_state"]
    seed = None if seed is None else int(np.random.RandomState(seed).randint(2**31))
    devices = [torch.cuda.current_device()] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        module = _module(params, plan, backbone, encoded.n_outputs)
        if plan.probe_first:
            labelled = np.arange(len(rows)) if target_rows is None else np.flatnonzero(~target_rows)
            module.head = _probe_head(
                params, plan, backbone, rows.take(labelled), y[labelled], encoded, name, device
            )
        data = inputs(
            params,
            plan,
            backbone,
            rows,
            name,
            training=True,
            preprocess=backbone.preprocess,
            modality=backbone.modality,
        )
        collate = getattr(module, "collate", None)
        criterion, net_kwargs = _criterion(encoded)
        if target_rows is None:
            net = _net(
                params,
                plan,
                module,
                criterion,
                net_kwargs,
                device,
                name,
                classifier=encoded.classifier,
                collate=collate,
            )
            if not isinstance(data, np.ndarray):
                data.y = y
        else:
            from . import _domain_torch as adapt

            criterion_kwargs = {
                k[len("criterion__") :]: v
                for k, v in {**_prefixed(params, "criterion__"), **net_kwargs}.items()
                if k.startswith("criterion__")
            }
            net_kwargs = {k: v for k, v in net_kwargs.items() if not k.startswith("criterion__")}
            module, criterion, extra = adapt.wrap(
                module,
                criterion(**criterion_kwargs),
                params["domain_loss"],
                params["domain_loss_weight"],
                backbone.output_dim(),
                encoded.classifier,
            )
            net = _net(
                params,
                plan,
                module,
                criterion,
                {**net_kwargs, **extra},
                device,
                name,
                classifier=encoded.classifier,
                collate=adapt.DomainCollate(collate),
                adapt=adapt,
            )
            if isinstance(data, np.ndarray):
                data = ArrayDataset(data)
            data = adapt.DomainDataset(data, np.where(target_rows, -2, 1), y)
        net.fit(data, y)
    return net


def predict(net, data, modality):
    """The net's outputs for ``data``, in the order of the rows.

    Raw samples and ragged token states are run in the modality's batch
    order (texts longest first: batches of similar length pad fewer tokens)
    and put back in row order.
    """
    order = None
    if isinstance(data, SampleDataset):
        order = np.asarray(modality.batch_order(data.samples), dtype=np.int64)
        data.samples = [data.samples[i] for i in order]
    elif isinstance(data, ArrayDataset):
        order = np.argsort([-len(s) for s in data.X], kind="stable")
        data.X = data.X[order]
    # torch's DataLoader draws a seed from the global RNG even when it does
    # not shuffle: predicting must not change the user's RNG state.
    with torch.random.fork_rng(devices=[]):
        out = net.predict_proba(data)
    if order is None:
        return out
    restored = np.empty_like(out)
    restored[order] = out
    return restored
