"""The trainer: a fit plan and encoded targets -> a trained skorch net (torch and skorch live here).

Module assembly (the backbone's blocks above the cached ones and a new head),
layer-wise learning rates, callbacks, LP-FT's probe head, the inputs (cached
features or raw samples), and prediction. Everything it needs comes in when
it is made: the estimator's parameters, the :class:`~._plan.FitPlan`, the
backbone and the encoded targets; it sets no estimator state.
"""

import copy
import difflib
import inspect

import numpy as np
from sklearn.utils import check_random_state
from skorch.utils import params_for

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


def features(params, backbone, rows, layer, pooled, name):
    """The frozen blocks' outputs at ``layer`` for ``rows``, through the shared cache."""
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


def _check_prefixed(name, kwargs, targets):
    """A prefixed parameter must be an argument of what its prefix configures (skorch passes it)."""
    for key in sorted(kwargs):
        prefix, _, arg = key.partition("__")
        target = targets.get(prefix)
        if target is None or arg == "param_groups" or "__" in arg:
            continue
        params = inspect.signature(target).parameters
        if arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        close = difflib.get_close_matches(arg, list(params), n=1)
        hint = f" Did you mean {prefix}__{close[0]}?" if close else ""
        raise ValueError(
            f"{name}: {key} is not an argument of {getattr(target, '__name__', target)}, "
            f"which {prefix}__ parameters configure.{hint}"
        )


def inputs(params, plan, backbone, rows, name, *, training, preprocess, modality):
    """What the module takes: cached outputs of the frozen blocks, or a dataset of raw samples.

    ``backbone`` is needed (and may be None otherwise) only when blocks are cached.
    """
    if plan.cached:
        pooled = plan.cached == plan.n_blocks
        out = features(params, backbone, rows, plan.cached - 1, pooled, name)
        return ArrayDataset(out) if backbone.ragged and not pooled else out
    transform = modality.item_transform(preprocess, plan.augment if training else False)
    return SampleDataset(modality.samples(rows, name), transform)


class Trainer:
    """One fit: the parameters, the plan, the backbone and the encoded target it trains on."""

    def __init__(self, params, plan, backbone, encoded, name):
        self.params = params
        self.plan = plan
        self.backbone = backbone
        self.encoded = encoded
        self.name = name
        self.device = backbone.device

    # -- the module ---------------------------------------------------------------
    def module(self, head_only=False):
        """The blocks above the cached ones and a new head (only the head with ``head_only``)."""
        plan, backbone = self.plan, self.backbone
        head = Head(
            backbone.output_dim(), self.encoded.n_outputs, **params_for("module", self.params)
        )
        if head_only or plan.cached == plan.n_blocks:
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

    def param_groups(self, module, prefix=""):
        """Layer-wise learning rates for the blocks the module may train.

        ``prefix`` is where the transfer network sits in the trained module
        ("net." inside the domain-adaptation wrapper). Everything else (the
        head, a domain classifier) learns at ``lr``.
        """
        lr, plan = self.params["lr"], self.plan
        n = len(module.blocks)
        scales = block_lr_scales(n, plan.backbone_lr_scale, plan.layer_decay)
        groups = [(f"{prefix}blocks.{i}.*", {"lr": lr * s}) for i, s in enumerate(scales)]
        if n:
            groups.append((f"{prefix}pool.*", {"lr": lr * plan.backbone_lr_scale}))
            groups.append((f"{prefix}encoder.*", {"lr": lr * scales[0]}))
        return groups

    # -- the skorch net -------------------------------------------------------------
    def train_split(self):
        plan = self.plan
        if plan.validation == "given":
            return self.params["train_split"]
        if plan.validation == "split":
            return skorch.dataset.ValidSplit(
                plan.validation_fraction,
                stratified=plan.stratified,
                random_state=self.params["random_state"],
            )
        return None

    def callbacks(self, train_split, probe):
        params, plan = self.params, self.plan
        cbs = [("warmup_cosine", WarmupCosine(params["warmup_fraction"]))]
        if not probe and plan.unfreeze_every is not None and plan.last > plan.first:
            cbs.append(("unfreeze", GradualUnfreezing(plan.first, plan.last, plan.unfreeze_every)))
        if train_split is not None and plan.early_stopping:
            stop = skorch.callbacks.EarlyStopping(
                patience=params["patience"], load_best=True, sink=silent
            )
            cbs.append(("early_stopping", stop))
        if params["verbose"]:
            cbs.append(("progress", skorch.callbacks.ProgressBar()))
        for i, cb in enumerate(params["callbacks"] or []):
            cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        cbs.append(("finite_loss", FiniteLoss(self.name)))
        return cbs

    def criterion(self):
        """The task loss class and the net arguments that go with it."""
        encoded, kwargs = self.encoded, {}
        if encoded.loss == "cross_entropy":
            kwargs["classes"] = list(range(encoded.n_outputs))
            if encoded.class_weight is not None:
                kwargs["criterion__weight"] = torch.tensor(
                    encoded.class_weight, dtype=torch.float32
                )
        elif encoded.loss == "bce":
            # One independent probability per label (skorch's default for this
            # loss stacks [1 - p, p], meant for a single binary label).
            kwargs["predict_nonlinearity"] = torch.sigmoid
        return _LOSSES[encoded.loss], kwargs

    def net(self, module, criterion, net_kwargs, *, collate=None, adapt=None, probe=False):
        params, classifier = self.params, self.encoded.classifier
        kwargs = {
            k: v
            for k, v in params.items()
            if k.startswith(SKORCH_PREFIXES) and not k.startswith("module__")
        }
        if adapt is not None:
            # The task criterion was built with these, inside skada's criterion.
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith("criterion__")}
            kwargs.setdefault("iterator_train", adapt.BalancedLoader)
            if classifier:
                # Accuracy on validation rows that include unlabelled target rows means nothing.
                kwargs.setdefault("callbacks__valid_acc", None)
        kwargs.setdefault(
            "optimizer__param_groups", self.param_groups(module, "net." if adapt else "")
        )
        opt = params["optimizer"]
        optimizer = (
            getattr(torch.optim, OPTIMIZERS.get(opt.lower(), opt)) if isinstance(opt, str) else opt
        )
        if optimizer is torch.optim.AdamW:
            kwargs.setdefault("optimizer__weight_decay", 0.01)
        kwargs.setdefault("iterator_train__shuffle", True)
        if self.device.startswith("cuda"):
            kwargs.setdefault("iterator_train__pin_memory", True)
            kwargs.setdefault("iterator_valid__pin_memory", True)
        if collate is not None:
            kwargs.setdefault("iterator_train__collate_fn", collate)
            kwargs.setdefault("iterator_valid__collate_fn", collate)
        train_split = self.train_split()
        callbacks = self.callbacks(train_split, probe)
        if adapt is not None:
            net_cls = adapt.DomainNetClassifier if classifier else adapt.DomainNetRegressor
            callbacks.insert(1, ("gradient_reversal", adapt.GradientReversalSchedule()))
        else:
            net_cls = TransferNetClassifier if classifier else TransferNetRegressor
        targets = {
            "iterator_train": kwargs.get("iterator_train", torch.utils.data.DataLoader),
            "iterator_valid": torch.utils.data.DataLoader,
            "optimizer": optimizer,
            "criterion": criterion if isinstance(criterion, type) else None,
        }
        _check_prefixed(self.name, kwargs, targets)
        net = net_cls(
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            lr=params["lr"],
            max_epochs=self.plan.max_epochs,
            batch_size=params["batch_size"],
            train_split=train_split,
            callbacks=callbacks,
            device=self.device,
            verbose=int(bool(params["verbose"])),
            **net_kwargs,
            **kwargs,
        )
        net.amp_ = self.device.startswith("cuda")
        return net

    # -- training -------------------------------------------------------------------
    def probe_head(self, rows, y):
        """LP-FT's first stage: the head trained alone on frozen, cached features."""
        pooled = features(
            self.params, self.backbone, rows, self.backbone.n_blocks - 1, True, self.name
        )
        criterion, net_kwargs = self.criterion()
        net = self.net(self.module(head_only=True), criterion, net_kwargs, probe=True)
        net.fit(pooled, y)
        return net.module_.head

    def fit(self, rows, target_rows):
        """Train and return the skorch net; ``target_rows`` marks unlabelled target rows."""
        y, backbone = self.encoded.y, self.backbone
        seed = self.params["random_state"]
        seed = None if seed is None else int(check_random_state(seed).randint(2**31))
        devices = [torch.cuda.current_device()] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            module = self.module()
            if self.plan.probe_first:
                labelled = (
                    np.arange(len(rows)) if target_rows is None else np.flatnonzero(~target_rows)
                )
                module.head = self.probe_head(rows.take(labelled), y[labelled])
            data = inputs(
                self.params,
                self.plan,
                backbone,
                rows,
                self.name,
                training=True,
                preprocess=backbone.preprocess,
                modality=backbone.modality,
            )
            collate = getattr(module, "collate", None)
            criterion, net_kwargs = self.criterion()
            if target_rows is None:
                net = self.net(module, criterion, net_kwargs, collate=collate)
                if not isinstance(data, np.ndarray):
                    data.y = y
            else:
                from . import _domain_torch as adapt

                task_loss = criterion(**params_for("criterion", {**self.params, **net_kwargs}))
                net_kwargs = {
                    k: v for k, v in net_kwargs.items() if not k.startswith("criterion__")
                }
                module, criterion, extra = adapt.wrap(
                    module,
                    task_loss,
                    self.params["domain_loss"],
                    self.params["domain_loss_weight"],
                    backbone.output_dim(),
                    self.encoded.classifier,
                )
                net = self.net(
                    module,
                    criterion,
                    {**net_kwargs, **extra},
                    collate=adapt.DomainCollate(collate),
                    adapt=adapt,
                )
                if isinstance(data, np.ndarray):
                    data = ArrayDataset(data)
                data = adapt.DomainDataset(data, np.where(target_rows, -2, 1), y)
            net.fit(data, y)
        return net


def _in_row_order(data, modality, run):
    """``run(data)`` with raw samples and ragged token states in the modality's batch order.

    Texts run longest first (batches of similar length pad fewer tokens);
    the outputs are put back in row order.
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
        out = run(data)
    if order is None:
        return out
    restored = np.empty_like(out)
    restored[order] = out
    return restored


def predict(net, data, modality):
    """The net's outputs (probabilities, or standardised numbers) for ``data``, in row order."""
    return _in_row_order(data, modality, net.predict_proba)


def transfer_module(net):
    """The trained transfer network (blocks, pool, head) inside the skorch net's module."""
    module = net.module_
    return module.net if hasattr(module, "domain_classifier") else module


def headless(module):
    """A view of ``module`` that shares its weights and returns what its head reads."""
    view = copy.copy(module)
    view._modules = dict(module._modules)
    view.head = torch.nn.Identity()
    return view


def embed(net, data, modality):
    """The pooled features the head reads (before its standardisation), in row order."""
    module = transfer_module(net)
    view = headless(module)

    def run(data):
        module.train(False)
        outs = []
        dataset = net.get_dataset(data)
        with torch.inference_mode(), net._autocast():
            for batch in net.get_iterator(dataset, training=False):
                x = skorch.utils.to_device(batch[0], net.device)
                out = view(**x) if isinstance(x, dict) else view(x)
                outs.append(out.float().cpu().numpy())
        dim = module.head.norm.num_features
        return np.concatenate(outs) if outs else np.zeros((0, dim), np.float32)

    return _in_row_order(data, modality, run)


# -- persistence: the trained network as numpy arrays, and back --------------------------
def weights_of(net):
    """The trained transfer network's state (blocks above the cache, pool, head) as arrays.

    A tensor the module reaches by two names (a text network's blocks are
    also its encoder's) is stored once; ``"<name>": "=<other name>"`` marks
    the second.
    """
    state, seen = {}, {}
    for key, tensor in transfer_module(net).state_dict().items():
        where = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if tensor.numel() and where in seen:
            state[key] = "=" + seen[where]
            continue
        seen[where] = key
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        state[key] = tensor.numpy().copy()
    return state


def rebuild(params, plan, backbone, encoded, name, weights, history):
    """A net that predicts as the trained one did, from :func:`weights_of`'s arrays.

    Its module is the trained transfer network's (without the domain
    classifier, which only training uses), built as ``fit`` built it, then
    given the trained weights. The global torch RNG is left as it was.
    """
    trainer = Trainer(params, plan, backbone, encoded, name)
    with torch.random.fork_rng(devices=[]):
        module = trainer.module()
        criterion, net_kwargs = trainer.criterion()
        net = trainer.net(module, criterion, net_kwargs, collate=getattr(module, "collate", None))
        net.initialize()
    state = {
        k: torch.from_numpy(np.asarray(weights[v[1:]] if isinstance(v, str) else v))
        for k, v in weights.items()
    }
    net.module_.load_state_dict(state, strict=True)
    net.history = skorch.history.History(history)
    return net
