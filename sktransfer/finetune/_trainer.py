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
import json

import numpy as np
from sklearn.utils import check_random_state
from skorch.helper import predefined_split
from skorch.utils import params_for

from .._features import compute_features
from ..backbones._nets import CachedHeadNet
from . import _checkpoint, _contrastive, _floor
from ._params import OPTIMIZERS, SKORCH_PREFIXES
from ._plan import block_lr_scales
from ._torch import (
    ArrayDataset,
    FiniteLoss,
    GradualUnfreezing,
    Head,
    SampleDataset,
    TrainLoader,
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
        if target is None or not arg or arg == "param_groups" or "__" in arg:
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


def task_criterion(encoded):
    """The task loss class and the net arguments that go with it."""
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


def forecast_module(plan, backbone, encoded):
    """A forecasting model's blocks and its pretrained forecasting head (head_init="forecast")."""
    scaler = encoded.attributes["_y_scaler"]
    net = copy.deepcopy(backbone.net).to("cpu")
    return net.forecast_net(encoded.n_outputs, plan.trainable_at_start, scaler.mean_, scaler.scale_)


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
        if plan.forecast and not head_only:
            return forecast_module(plan, backbone, self.encoded)
        head = Head(
            backbone.output_dim(channels=plan.channels),
            self.encoded.n_outputs,
            **params_for("module", self.params),
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
    def given_split(self):
        """The user's ``train_split`` callable, or None."""
        return self.params["train_split"] if self.plan.validation == "given" else None

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

    def net(
        self,
        module,
        criterion,
        net_kwargs,
        *,
        collate=None,
        adapt=None,
        probe=False,
        train_split=None,
    ):
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
        kwargs.setdefault("iterator_train", TrainLoader)
        kwargs.setdefault("iterator_train__shuffle", True)
        if self.device.startswith("cuda"):
            kwargs.setdefault("iterator_train__pin_memory", True)
            kwargs.setdefault("iterator_valid__pin_memory", True)
        if collate is not None:
            kwargs.setdefault("iterator_train__collate_fn", collate)
            kwargs.setdefault("iterator_valid__collate_fn", collate)
        callbacks = self.callbacks(train_split, probe)
        if adapt is not None:
            net_cls = adapt.DomainNetClassifier if classifier else adapt.DomainNetRegressor
            callbacks.insert(1, ("gradient_reversal", adapt.GradientReversalSchedule()))
        else:
            net_cls = TransferNetClassifier if classifier else TransferNetRegressor
        targets = {
            # TrainLoader passes its arguments on to torch's DataLoader.
            "iterator_train": torch.utils.data.DataLoader
            if kwargs["iterator_train"] is TrainLoader
            else kwargs["iterator_train"],
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
            max_epochs=self.plan.head_epochs if probe else self.plan.max_epochs,
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
    def probe(self, rows, y, target_rows, split):
        """The head trained alone on frozen, cached features: LP-FT's first stage and the floor.

        Returns the probe's net and its validation scores (None without a split).
        """
        labelled = np.arange(len(rows)) if target_rows is None else np.flatnonzero(~target_rows)
        pooled = features(
            self.params,
            self.backbone,
            rows.take(labelled),
            self.backbone.n_blocks - 1,
            True,
            self.name,
        )
        if split is not None:
            # Positions within the labelled rows (both are sorted).
            split = tuple(np.searchsorted(labelled, np.intersect1d(s, labelled)) for s in split)
        net = self.fit_head(pooled, y[labelled], split)
        scores = None
        if split is not None:
            scores = _floor.scores(
                self.encoded.loss, net.predict_proba(pooled[split[1]]), y[labelled][split[1]]
            )
        return net, scores

    def fit_head(self, pooled, y, split):
        """A head-only net fitted on the rows ``pooled`` (stopping on ``split[1]``, if given)."""
        train, train_split = np.arange(len(y)), self.given_split()
        if split is not None:
            train, valid = split
            train_split = predefined_split(skorch.dataset.Dataset(pooled[valid], y[valid]))
        criterion, net_kwargs = task_criterion(self.encoded)
        net = self.net(
            self.module(head_only=True), criterion, net_kwargs, probe=True, train_split=train_split
        )
        net.fit(pooled[train], y[train])
        net.train_split = None  # it holds the validation rows
        return net

    def fit(self, rows, target_rows):
        """Train and return the skorch net; ``target_rows`` marks unlabelled target rows.

        Sets ``validation_rows`` (held-out row positions or None), ``outcome``:
        None, or the probe's and the fine-tuned network's validation scores and
        which was kept, and ``resumed_at_epoch`` (None without ``checkpoint_dir``).
        """
        y, backbone, plan = self.encoded.y, self.backbone, self.plan
        seed = self.params["random_state"]
        seed = None if seed is None else int(check_random_state(seed).randint(2**31))
        run = state = None
        self.resumed_at_epoch = None
        if self.params.get("checkpoint_dir") is not None:
            run, state, seed = _checkpoint.open_run(self, rows, target_rows, seed)
            self.resumed_at_epoch = 0 if state is None else len(json.loads(state["history"]))
        devices = [torch.cuda.current_device()] if self.device.startswith("cuda") else []
        self.outcome = None
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            split = _floor.held_out_split(plan, y, seed)
            self.validation_rows = None if split is None else split[1]
            done = state is not None and state["done"]
            probe = probe_scores = None
            if (plan.probe_first or plan.floor) and not done:
                # First, from the fresh seed: the probe is then exactly the
                # n_trainable_blocks=0 fit with the same random_state (when
                # that fit reads cached features too: text, unaugmented images).
                probe, probe_scores = (
                    self.probe(rows, y, target_rows, split)
                    if state is None
                    else _checkpoint.saved_probe(self, state)
                )
            module = self.module()
            if plan.probe_first and probe is not None:
                module.head = copy.deepcopy(probe.module_.head)
            start = copy.deepcopy(module.state_dict()) if plan.floor else None
            train_data, valid_data = datasets(self, rows, y, target_rows, split)
            train_split = self.given_split() if valid_data is None else predefined_split(valid_data)
            net = _task_net(self, module, target_rows, train_split)
            if done:
                net, self.outcome = _checkpoint.finished(net, state)
                return net
            y_train = y if split is None else y[split[0]]
            saved = None
            if run is not None:
                saved = (run, state, _checkpoint.saved_with(seed, probe, probe_scores))
            if plan.objective == "contrastive":
                net.initialize()
                net = _contrastive.fit(self, net, train_data, valid_data, y, split, saved)
            elif run is not None:
                net = _checkpoint.resumable_fit(net, saved, train_data, y_train)
            else:
                net.fit(train_data, y_train)
            net.train_split = None  # it holds the validation rows
            if plan.floor:
                tuned = _floor.scores(
                    self.encoded.loss, predict(net, valid_data, backbone.modality), y[split[1]]
                )
                self.outcome = _floor.keep_the_better(net, probe, probe_scores, start, tuned)
                self.outcome["n_valid"] = len(split[1])
            if run is not None:
                _checkpoint.save_finished(run, net, seed, self.outcome)
        return net


def _task_net(trainer, module, target_rows, train_split):
    """The skorch net that trains ``module`` on the task (and a domain loss with target rows)."""
    collate = getattr(module, "collate", None)
    criterion, net_kwargs = task_criterion(trainer.encoded)
    if target_rows is not None:
        return _adapting_net(trainer, module, criterion, net_kwargs, collate, train_split)
    return trainer.net(module, criterion, net_kwargs, collate=collate, train_split=train_split)


def _adapting_net(trainer, module, criterion, net_kwargs, collate, train_split):
    """The skorch net of a fit with a domain loss: the module inside skada's wrapper."""
    from . import _domain_torch as adapt

    task_loss = criterion(**params_for("criterion", {**trainer.params, **net_kwargs}))
    net_kwargs = {k: v for k, v in net_kwargs.items() if not k.startswith("criterion__")}
    module, criterion, extra = adapt.wrap(
        module,
        task_loss,
        trainer.params["domain_loss"],
        trainer.params["domain_loss_weight"],
        trainer.backbone.output_dim(channels=trainer.plan.channels),
        trainer.encoded.classifier,
    )
    return trainer.net(
        module,
        criterion,
        {**net_kwargs, **extra},
        collate=adapt.DomainCollate(collate),
        adapt=adapt,
        train_split=train_split,
    )


def datasets(trainer, rows, y, target_rows, split):
    """The training data and the held-out (never augmented) data, as the trainer's net takes them.

    The held-out data is None without a split."""
    plan, backbone = trainer.plan, trainer.backbone

    def make(training):
        return inputs(
            trainer.params,
            plan,
            backbone,
            rows,
            trainer.name,
            training=training,
            preprocess=backbone.preprocess,
            modality=backbone.modality,
        )

    data = make(training=True)
    if isinstance(data, SampleDataset):
        data.lengths = backbone.modality.row_lengths(data.samples, backbone)
    if target_rows is not None:
        from . import _domain_torch as adapt

        domains = np.where(target_rows, -2, 1)
        if isinstance(data, np.ndarray):
            data = ArrayDataset(data)

        def wrap(part, idx):
            return adapt.DomainDataset(part, domains[idx], y[idx])

    else:

        def wrap(part, idx):
            if isinstance(part, np.ndarray):
                return skorch.dataset.Dataset(part, y[idx])
            part.y = y[idx]
            return part

    if split is None:
        if target_rows is not None or not isinstance(data, np.ndarray):
            data = wrap(data, np.arange(len(y)))
        return data, None
    train, valid = split
    # Augmented inputs are never cached (the plan), so the held-out rows need their own.
    held_out = make(training=False) if plan.augment else data
    train_data = _subset(data, train)
    if target_rows is not None or not isinstance(train_data, np.ndarray):
        train_data = wrap(train_data, train)
    return train_data, wrap(_subset(held_out, valid), valid)


def _subset(data, idx):
    """Rows ``idx`` of what :func:`inputs` returned."""
    if isinstance(data, np.ndarray):
        return data[idx]
    if isinstance(data, ArrayDataset):
        return ArrayDataset(data.X[idx])
    lengths = None if data.lengths is None else data.lengths[idx]
    return SampleDataset([data.samples[i] for i in idx], data.transform, lengths=lengths)


def _in_row_order(data, modality, run):
    """``run(data)`` with raw samples and ragged token states in the modality's batch order.

    Texts run longest first (batches of similar length pad fewer tokens);
    the outputs are put back in row order.
    """
    order = None
    data = copy.copy(data)  # reordered here, and the caller's may be used again
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
        criterion, net_kwargs = task_criterion(trainer.encoded)
        net = trainer.net(module, criterion, net_kwargs, collate=getattr(module, "collate", None))
        net.initialize()
    state = {
        k: torch.from_numpy(np.asarray(weights[v[1:]] if isinstance(v, str) else v))
        for k, v in weights.items()
    }
    net.module_.load_state_dict(state, strict=True)
    net.history = skorch.history.History(history)
    return net
