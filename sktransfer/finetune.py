"""Fine-tuning pretrained networks as scikit-learn estimators (on skorch)."""

import copy

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from . import _freeze
from ._deps import require
from ._features import compute_features, samples_for
from ._inputs import validate_images, validate_text
from .backbones import get_backbone, model_modality, resolve_device
from ._cache import validate_cache_param

__all__ = ["ImageClassifier", "ImageRegressor", "TextClassifier", "TextRegressor"]

# skorch's prefixed parameters, passed through to the skorch net.
_SKORCH_PREFIXES = ("module__", "optimizer__", "criterion__", "iterator_train__", "iterator_valid__",
                    "callbacks__", "dataset__")
_AUTO_EARLY_STOPPING_MIN_VALID = 50
_OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
_DOMAIN_LOSSES = ("dann", "deepcoral", "dan", "mcc")
# Losses between the two domains' features: they need trainable blocks.
_FEATURE_LOSSES = ("dann", "deepcoral", "dan")


def _domain_loss_parts(domain_loss):
    """``"dann+mcc"`` -> ``("dann", "mcc")``; None -> ``()``."""
    if domain_loss is None:
        return ()
    return tuple(domain_loss.split("+")) if isinstance(domain_loss, str) else (domain_loss,)


def _store_params(estimator, params):
    """Store an ``__init__``'s arguments unchanged, skorch-prefixed kwargs included."""
    params = dict(params)
    params.pop("self")
    params.pop("__class__", None)
    kwargs = params.pop("kwargs", {})
    for key, value in {**params, **kwargs}.items():
        setattr(estimator, key, value)


def _silent(*args, **kwargs):
    """A picklable sink for skorch messages we do not print."""


class _FineTuner(BaseEstimator):
    """Shared fit/predict of the four fine-tuning estimators."""

    _modality = None
    _is_classifier = False

    # Like skada's own estimators: inside skada's pipelines and GridSearchCV,
    # sample_domain reaches fit (all rows, target rows included) and predict.
    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__predict = {"sample_domain": True, "allow_source": True}
    __metadata_request__predict_proba = {"sample_domain": True, "allow_source": True}

    # -- skorch-style prefixed parameters -------------------------------------
    def _prefixed(self):
        return {k: v for k, v in vars(self).items() if k.startswith(_SKORCH_PREFIXES)}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._prefixed())
        return params

    def set_params(self, **params):
        prefixed = {k: v for k, v in params.items() if k.startswith(_SKORCH_PREFIXES)}
        for key, value in prefixed.items():
            setattr(self, key, value)
        return super().set_params(**{k: v for k, v in params.items() if k not in prefixed})

    def _check_params(self):
        bad = [k for k in vars(self) if "__" in k and not k.startswith(_SKORCH_PREFIXES)]
        if bad:
            raise ValueError(f"Unknown parameter(s) {bad}; prefixed parameters must start with one of {_SKORCH_PREFIXES}.")
        validate_cache_param(self.cache)
        modality = model_modality(self.model)
        if modality != self._modality:
            raise ValueError(f"model={self.model!r} is a {modality} model; {type(self).__name__} needs a {self._modality} model.")
        for name in ("max_epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if name == "max_epochs" and value == "auto":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}.")
        if self.head_init not in ("probe", "random"):
            raise ValueError(f'head_init must be "probe" or "random", got {self.head_init!r}.')
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f'early_stopping must be "auto", True or False, got {self.early_stopping!r}.')
        if getattr(self, "freeze_batchnorm", "auto") not in ("auto", True, False):
            raise ValueError(f'freeze_batchnorm must be "auto", True or False, got {self.freeze_batchnorm!r}.')
        if self._augment() not in (True, False, None, "flip"):
            raise ValueError(f'augment must be True, False or "flip", got {self._augment()!r}.')
        parts = _domain_loss_parts(self.domain_loss)
        if self.domain_loss is not None and (not isinstance(self.domain_loss, str) or len(set(parts)) != len(parts)
                                             or any(part not in _DOMAIN_LOSSES for part in parts)):
            raise ValueError(f"domain_loss must be None, one of {list(_DOMAIN_LOSSES)}, or several of them joined "
                             f'by "+" (e.g. "dann+mcc"), got {self.domain_loss!r}.')
        if "mcc" in parts and not self._is_classifier:
            raise ValueError(f'{type(self).__name__}: domain_loss={self.domain_loss!r}: "mcc" lowers the confusion '
                             'between predicted classes on target rows; a regressor predicts no classes. Use "dann", '
                             '"deepcoral" or "dan".')
        weight = self.domain_loss_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"domain_loss_weight must be a finite number >= 0, got {weight!r}.")

    def _weights(self):
        return self.weights

    def _augment(self):
        return getattr(self, "augment", False)

    def _freeze_batchnorm(self):
        value = getattr(self, "freeze_batchnorm", False)
        if value == "auto":
            return self._weights() is not None
        return bool(value)

    # -- data -------------------------------------------------------------------
    def _validate_X(self, X):
        validate = validate_text if self._modality == "text" else validate_images
        return validate(X, type(self).__name__)

    def _optimizer_class(self):
        torch = require("torch")
        if isinstance(self.optimizer, str):
            try:
                return getattr(torch.optim, _OPTIMIZERS[self.optimizer.lower()])
            except KeyError:
                raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or a torch.optim class, got {self.optimizer!r}.") from None
        return self.optimizer

    def _train_split(self, n_samples, y_fit):
        skorch = require("skorch")
        if self.train_split != "auto":
            return self.train_split
        if not self.early_stopping_:
            return None
        n_valid = int(np.ceil(n_samples * self.validation_fraction))
        stratified = self._is_classifier and not getattr(self, "multilabel_", False)
        if stratified:
            # With target rows (label -1), the target is one more stratum.
            counts = np.unique(y_fit, return_counts=True)[1]
            n_classes = len(counts)
            if n_valid < n_classes or counts.min() < 2 or n_samples - n_valid < n_classes:
                raise ValueError(
                    f"{type(self).__name__}: early stopping holds out validation_fraction={self.validation_fraction} "
                    f"of the {n_samples} samples ({n_valid}) in a stratified split, which needs at least one "
                    f"validation sample and two samples per class ({n_classes} classes; the rarest has "
                    f"{counts.min()}). Give more samples, raise validation_fraction, or set early_stopping=False."
                )
        elif n_valid < 2 or n_samples - n_valid < 2:
            raise ValueError(
                f"{type(self).__name__}: early stopping holds out validation_fraction={self.validation_fraction} "
                f"of {n_samples} samples ({n_valid}); at least 2 are needed on each side. Give more samples, "
                "raise validation_fraction, or set early_stopping=False."
            )
        return skorch.dataset.ValidSplit(self.validation_fraction, stratified=stratified,
                                         random_state=self.random_state)

    def _early_stopping(self, n_samples, adapting=False):
        """``early_stopping="auto"``: on when the validation split holds at least 50 samples.

        On fewer, the validation loss is too noisy to pick an epoch: few-shot
        fits (8 or 16 texts per class) stopped after 4 epochs and lost 6-12
        points (benchmarks/RESULTS.md, few-shot against SetFit).

        Off with a domain loss: the only labelled validation rows are source
        rows, and the domain loss trades source fit for target fit, so the
        source validation loss picks the epoch before adaptation acts (on
        film reviews -> tweets every fit stopped after epoch 1).
        """
        if self.early_stopping != "auto":
            return bool(self.early_stopping)
        if adapting:
            return False
        if self.train_split != "auto":
            return self.train_split is not None
        return int(np.ceil(n_samples * self.validation_fraction)) >= _AUTO_EARLY_STOPPING_MIN_VALID

    # -- network ------------------------------------------------------------------
    def _max_epochs(self, n_samples):
        """``max_epochs="auto"``: at least 10 epochs and about 300 optimiser steps, at most 100 epochs.

        Few-shot data gives few steps per epoch; a fixed epoch count would
        leave the new head untrained there.
        """
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        n_train = n_samples if self.train_split_ is None else int(n_samples * (1 - self.validation_fraction))
        if self.domain_rows_ is not None:
            # Domain-balanced batches: an epoch pairs each row of the larger
            # domain with one of the other.
            n_train = int(n_train * max(self.domain_rows_) / sum(self.domain_rows_))
        steps_per_epoch = max(1, int(np.ceil(n_train / self.batch_size)))
        return int(min(100, max(10, np.ceil(300 / steps_per_epoch))))

    def _plan(self, backbone):
        """Which blocks train, which stay frozen, and whether the frozen ones are cached."""
        n_blocks = backbone.n_blocks
        first, last = _freeze.schedule(self.n_trainable_blocks, n_blocks, self.unfreeze_every, self.max_epochs_)
        always_frozen = n_blocks - last
        if not self.cache or always_frozen == 0:
            cached = 0
        elif self._modality == "text":
            # Fully frozen: a head on sentence embeddings. Otherwise the frozen
            # layers' token-level outputs, where the network can start from them.
            cached = n_blocks if last == 0 else (always_frozen if getattr(backbone.net, "token_level", False) else 0)
        else:
            cached = 0 if self._augment() else always_frozen
        return first, last, cached

    def _inputs(self, backbone, column, training):
        """What the skorch module takes: cached features, or a dataset of raw samples."""
        rt = require("sktransfer._torch_finetune")
        if self.cached_blocks_:
            layer = self.cached_blocks_ - 1
            pooled = self.cached_blocks_ == backbone.n_blocks
            features = compute_features(backbone, column, layer=layer, pooled=pooled, batch_size=self.batch_size,
                                        cache=self.cache, verbose=self.verbose, estimator=type(self).__name__)
            return features if pooled or self._modality == "image" else rt.StatesDataset(features)
        samples = samples_for(column, self._modality)
        transform = None
        if self._modality == "image":
            transform = rt.ImageTransform(backbone.preprocess, self._augment() if training else False)
        return rt.SampleDataset(samples, image_transform=transform)

    def _build_module(self, backbone, n_outputs):
        rt = require("sktransfer._torch_finetune")
        head_kwargs = {k[len("module__"):]: v for k, v in self._prefixed().items() if k.startswith("module__")}
        unknown = set(head_kwargs) - {"hidden", "dropout"}
        if unknown:
            raise ValueError(f"module__ parameters configure the new head: hidden, dropout; got {sorted(unknown)}.")
        head = rt.Head(backbone.output_dim(), n_outputs, **head_kwargs)
        n_blocks = backbone.n_blocks
        first = self.trainable_schedule_[0]
        if self.cached_blocks_ == n_blocks:
            return rt.CachedHeadNet(head)
        net = copy.deepcopy(backbone.net).to("cpu")
        start = self.cached_blocks_
        if self._modality == "text":
            if start:
                return rt.CachedTextNet(net.drop_blocks(start), head, n_frozen=n_blocks - start - first)
            return rt.TextTransferNet(net, head, n_frozen=n_blocks - first)
        blocks = list(net.blocks)[start:]
        norm = None
        if start == 0:
            p = backbone.preprocess
            norm = rt.InputNorm(p.mean, p.std)
        return rt.ImageTransferNet(blocks, net.pool, head, n_frozen=len(blocks) - first, norm=norm,
                                   freeze_batchnorm=self._freeze_batchnorm())

    def _param_groups(self, module, prefix=""):
        """Layer-wise learning rates for the blocks the module may train.

        ``prefix`` is where the transfer network sits in the trained module
        ("net." inside the domain-adaptation wrapper). Everything else (the
        head, a domain classifier) learns at ``lr``.
        """
        n = len(module.blocks)
        scale = self.backbone_lr_scale
        if scale == "auto":
            scale = 1.0 if self._weights() is None else 0.03
        scales = _freeze.block_lr_scales(n, scale, self.layer_decay)
        groups = [(f"{prefix}blocks.{i}.*", {"lr": self.lr * s}) for i, s in enumerate(scales)]
        if n:
            groups.append((f"{prefix}pool.*", {"lr": self.lr * scale}))
            groups.append((f"{prefix}encoder.*", {"lr": self.lr * scales[0]}))
        return groups

    def _callbacks(self):
        rt = require("sktransfer._torch_finetune")
        skorch = require("skorch")
        cbs = [("warmup_cosine", rt.WarmupCosine(self.warmup_fraction))]
        first, last = self.trainable_schedule_
        if self.unfreeze_every is not None and last > first:
            cbs.append(("unfreeze", rt.GradualUnfreezing(first, last, self.unfreeze_every)))
        if self.train_split_ is not None and self.early_stopping_:
            cbs.append(("early_stopping", skorch.callbacks.EarlyStopping(
                patience=self.patience, load_best=True, sink=_silent)))
        if self.verbose:
            cbs.append(("progress", skorch.callbacks.ProgressBar()))
        for i, cb in enumerate(self.callbacks or []):
            cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return cbs

    # -- fit / predict -----------------------------------------------------------
    def _fit(self, X, column, y_fit, n_outputs, criterion, extra_net_kwargs, target=None):
        torch = require("torch")
        if target is not None and self.domain_loss is None:
            # Source-only (skada's SourceOnly): the rows come in skada's
            # layout, and without a domain loss the target rows teach nothing.
            keep = np.flatnonzero(~target)
            column, y_fit, target = column.take(keep), y_fit[keep], None
        rt_adapt = None
        if target is not None:
            require("skada", purpose=f"{type(self).__name__}(domain_loss={self.domain_loss!r})")
            rt_adapt = require("sktransfer._torch_adapt")
        self.domain_rows_ = None if target is None else (int((~target).sum()), int(target.sum()))
        device = resolve_device(self.device)
        backbone = get_backbone(self.model, weights=self._weights(), device=device)
        self.backbone_identity_ = backbone.identity
        self.block_names_ = list(backbone.block_names)
        _freeze.n_trainable(self.n_trainable_blocks, backbone.n_blocks)  # parameter errors before data errors
        # The validation loss is the task loss on labelled rows: with target
        # rows, only the source ones count towards "auto", and "auto" is off
        # (below).
        self.early_stopping_ = self._early_stopping(len(column) if target is None else int((~target).sum()),
                                                    adapting=target is not None)
        self.train_split_ = self._train_split(len(column), y_fit)
        self.max_epochs_ = self._max_epochs(len(column))
        first, last, cached = self._plan(backbone)
        if rt_adapt is not None and last == 0 and set(_domain_loss_parts(self.domain_loss)) & set(_FEATURE_LOSSES):
            raise ValueError(
                f"{type(self).__name__}: domain_loss={self.domain_loss!r} aligns the backbone's features of the "
                "two domains by training the blocks that produce them, and n_trainable_blocks=0 trains none. "
                "Set n_trainable_blocks >= 1, or align frozen features with one of skada's shallow adapters: "
                "make_da_pipeline(Encoder(), CORALAdapter(), LogisticRegression())."
            )
        self.trainable_schedule_ = (first, last)
        self.n_trainable_blocks_ = first
        self.cached_blocks_ = cached
        self.n_features_in_ = 1
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)

        seed = None if self.random_state is None else int(np.random.RandomState(self.random_state).randint(2**31))
        devices = [torch.cuda.current_device()] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            module = self._build_module(backbone, n_outputs)
            if self._probe_first():
                labelled = np.arange(len(column)) if target is None else np.flatnonzero(~target)
                module.head = self._fit_probe_head(backbone, column.take(labelled), y_fit[labelled], n_outputs,
                                                   criterion, extra_net_kwargs, device)
            inputs = self._inputs(backbone, column, training=True)
            collate = self._collate(module)
            if rt_adapt is None:
                net = self._skorch_net(module, criterion, extra_net_kwargs, device, collate=collate)
                if not isinstance(inputs, np.ndarray):
                    inputs.y = y_fit
            else:
                module, criterion, extra_net_kwargs = self._domain_setup(
                    rt_adapt, module, backbone, criterion, extra_net_kwargs)
                net = self._skorch_net(module, criterion, extra_net_kwargs, device,
                                       collate=rt_adapt.DomainCollate(collate), adapt=rt_adapt)
                if isinstance(inputs, np.ndarray):
                    inputs = rt_adapt.ArrayDataset(inputs)
                inputs = rt_adapt.DomainDataset(inputs, np.where(target, -2, 1), y_fit)
            net.fit(inputs, y_fit)
        self.net_ = net
        self.history_ = net.history
        return self

    def _forward(self, X, sample_domain=None):
        check_is_fitted(self, "net_")
        column = self._validate_X(X)
        if sample_domain is not None:
            from .adapt import check_domain_arrays

            check_domain_arrays(X, None, sample_domain)
        order = None
        if self.cached_blocks_:
            backbone = get_backbone(self.model, weights=self._weights(), device=resolve_device(self.device))
            if backbone.identity != self.backbone_identity_:
                raise RuntimeError(f"The weights of {self.model!r} differ from those {type(self).__name__} was fitted with.")
        else:
            backbone = get_backbone(self.model, weights=self._weights(), device="cpu") if self._modality == "image" else None
        rt = require("sktransfer._torch_finetune")
        if self.cached_blocks_:
            inputs = self._inputs(backbone, column, training=False)
        else:
            samples = samples_for(column, self._modality)
            transform = rt.ImageTransform(backbone.preprocess, False) if backbone is not None else None
            inputs = rt.SampleDataset(samples, image_transform=transform)
        if isinstance(inputs, (rt.SampleDataset, rt.StatesDataset)) and self._modality == "text":
            # Longest first, as when the cache is filled: batches of similar
            # length pad fewer tokens. The output order is restored below.
            if isinstance(inputs, rt.SampleDataset):
                order = np.argsort([-len(s.text) for s in inputs.samples], kind="stable")
                inputs.samples = [inputs.samples[i] for i in order]
            else:
                order = np.argsort([-len(s) for s in inputs.states], kind="stable")
                inputs.states = inputs.states[order]
        torch = require("torch")
        # torch's DataLoader draws a seed from the global RNG even when it
        # does not shuffle: predicting must not change the user's RNG state.
        with torch.random.fork_rng(devices=[]):
            out = self.net_.predict_proba(inputs)
        if order is not None:
            restored = np.empty_like(out)
            restored[order] = out
            out = restored
        return out

    def _check_y_given(self, y):
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")

    def _target_rows(self, X, y, sample_domain):
        """Which rows are unlabelled target rows (skada's layout), or None without ``sample_domain``."""
        name = type(self).__name__
        if sample_domain is None:
            if self.domain_loss is not None:
                raise ValueError(
                    f"{name}: domain_loss={self.domain_loss!r} adapts to unlabelled target rows, and fit got "
                    "none: pass sample_domain (positive on source rows, negative on target rows) with X and y "
                    "holding both, e.g. X, y, sample_domain = sktransfer.adapt.domain_arrays(X_source, y_source, "
                    "X_target)."
                )
            return None
        from .adapt import check_domain_arrays

        check_domain_arrays(X, None, sample_domain)
        if len(y) != len(sample_domain):
            raise ValueError(f"{name}: y has {len(y)} entries but sample_domain has {len(sample_domain)}; "
                             "they must have the same length.")
        target = np.asarray(sample_domain) < 0
        if target.all():
            raise ValueError(f"{name}: sample_domain has no source row (>= 0); labelled source rows are needed.")
        if self.domain_loss is not None and not target.any():
            raise ValueError(
                f"{name}: sample_domain has no target row (< 0); domain_loss={self.domain_loss!r} needs "
                "unlabelled target rows to adapt to."
            )
        y_source = y[~target]
        if y_source.dtype.kind in "iuf":
            unlabelled = np.isnan(y_source) if y_source.dtype.kind == "f" else np.zeros(y_source.shape, bool)
            if self._is_classifier:
                unlabelled |= y_source == -1
            unlabelled = unlabelled.reshape(len(y_source), -1).any(axis=1)
            if unlabelled.any():
                rows = np.flatnonzero(~target)[unlabelled]
                raise ValueError(
                    f"{name}: source rows {rows[:5].tolist()}{' ...' if len(rows) > 5 else ''} of y are "
                    f"unlabelled ({'-1 or ' if self._is_classifier else ''}NaN, skada's mark for target rows); "
                    "every source row needs a label."
                )
        return target

    def _collate(self, module):
        """How batches of text inputs are put together (None: default collation)."""
        rt = require("sktransfer._torch_finetune")
        if self._modality != "text" or self.cached_blocks_ == len(self.block_names_):
            return None
        return rt.collate_states if self.cached_blocks_ else rt.TextCollate(module.encoder)

    def _domain_setup(self, rt_adapt, module, backbone, criterion, extra_net_kwargs):
        """The module, criterion and net arguments that add the domain loss."""
        dann = "dann" in _domain_loss_parts(self.domain_loss)
        classifier = rt_adapt.DomainClassifier(backbone.output_dim()) if dann else None
        module = rt_adapt.DomainAdaptNet(module, classifier)
        extra = dict(extra_net_kwargs)
        base_kwargs = {k[len("criterion__"):]: v for k, v in {**self._prefixed(), **extra}.items()
                       if k.startswith("criterion__")}
        for key in list(extra):
            if key.startswith("criterion__"):
                del extra[key]
        base = criterion(**base_kwargs)
        if self._is_classifier:
            # skorch infers softmax from a CrossEntropyLoss criterion only.
            extra["predict_nonlinearity"] = rt_adapt.softmax
        # skorch takes a criterion instance as is.
        return module, rt_adapt.make_criterion(self.domain_loss, self.domain_loss_weight, base), extra

    def _skorch_net(self, module, criterion, extra_net_kwargs, device, collate=None, adapt=None):
        torch = require("torch")
        rt = require("sktransfer._torch_finetune")
        kwargs = {k: v for k, v in self._prefixed().items() if not k.startswith("module__")}
        if adapt is not None:
            # The task criterion was built with these, inside skada's criterion.
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith("criterion__")}
            kwargs.setdefault("iterator_train", adapt.BalancedLoader)
            if self._is_classifier:
                # Accuracy on validation rows that include unlabelled target rows means nothing.
                kwargs.setdefault("callbacks__valid_acc", None)
        prefix = "net." if adapt is not None else ""
        kwargs.setdefault("optimizer__param_groups", self._param_groups(module, prefix))
        if self._optimizer_class() is torch.optim.AdamW:
            kwargs.setdefault("optimizer__weight_decay", 0.01)
        kwargs.setdefault("iterator_train__shuffle", True)
        if device.startswith("cuda"):
            kwargs.setdefault("iterator_train__pin_memory", True)
            kwargs.setdefault("iterator_valid__pin_memory", True)
        if collate is not None:
            kwargs.setdefault("iterator_train__collate_fn", collate)
            kwargs.setdefault("iterator_valid__collate_fn", collate)
        net_cls = rt.TransferNetClassifier if self._is_classifier else rt.TransferNetRegressor
        callbacks = self._callbacks()
        if adapt is not None:
            net_cls = adapt.DomainNetClassifier if self._is_classifier else adapt.DomainNetRegressor
            callbacks.insert(1, ("gradient_reversal", adapt.GradientReversalSchedule()))
        net = net_cls(
            module=module, criterion=criterion, optimizer=self._optimizer_class(), lr=self.lr,
            max_epochs=self.max_epochs_, batch_size=self.batch_size, train_split=self.train_split_,
            callbacks=callbacks, device=device, verbose=int(bool(self.verbose)),
            **extra_net_kwargs, **kwargs,
        )
        net.amp_ = device.startswith("cuda")
        return net

    def _probe_first(self):
        return (self.head_init == "probe" and self._weights() is not None and bool(self.cache)
                and self.cached_blocks_ < len(self.block_names_) and self.trainable_schedule_[1] > 0)

    def _fit_probe_head(self, backbone, column, y_fit, n_outputs, criterion, extra_net_kwargs, device):
        """LP-FT's first stage: the head trained alone on frozen, cached features."""
        features = compute_features(backbone, column, layer=backbone.n_blocks - 1, batch_size=self.batch_size,
                                    cache=self.cache, verbose=self.verbose, estimator=type(self).__name__)
        probe = copy.copy(self)
        probe.n_trainable_blocks, probe.unfreeze_every, probe.head_init = 0, None, "random"
        probe.cached_blocks_ = backbone.n_blocks
        probe.trainable_schedule_ = (0, 0)
        module = probe._build_module(backbone, n_outputs)
        net = probe._skorch_net(module, criterion, extra_net_kwargs, device)
        net.fit(features, y_fit)
        return net.module_.head

    def _fit_checks(self, X, y):
        """Validate X and its length against y; return X as a Column."""
        column = self._validate_X(X)
        if len(y) != len(column):
            raise ValueError(f"{type(self).__name__}: X has {len(column)} rows but y has {len(y)} entries; they must have the same length.")
        return column


class _ClassifierMixin(ClassifierMixin):
    _is_classifier = True

    def fit(self, X, y, sample_domain=None):
        """Fine-tune on texts or images X with labels y.

        Parameters
        ----------
        X : texts or images (see the class docstring)
        y : array-like of shape (n_samples,) with any label type, or a 2-D
            binary indicator matrix (n_samples, n_labels) for multi-label.
        sample_domain : array-like of int, shape (n_samples,), optional
            skada's layout for domain adaptation: positive on labelled
            source rows, negative on unlabelled target rows (whose ``y`` is
            ignored; skada marks it -1). With ``domain_loss`` the target rows
            are adapted to; without, they are left out (source-only).
            :func:`sktransfer.adapt.domain_arrays` builds X, y and this.

        Returns
        -------
        self
        """
        torch = require("torch")
        # y's own problems first: they are clearer than anything about X.
        self._check_y_given(y)
        y_all = np.asarray(y)
        target = self._target_rows(X, y_all, sample_domain)
        y_arr = y_all if target is None else y_all[~target]
        kind = type_of_target(y_arr)
        if kind.startswith("continuous"):
            raise ValueError(f"Unknown label type: {kind}. {type(self).__name__} needs class labels; use the Regressor for numbers.")
        self.multilabel_ = kind == "multilabel-indicator"
        if self.multilabel_ and target is not None:
            raise ValueError(f"{type(self).__name__}: domain adaptation (sample_domain) takes 1-D class labels, "
                             "not a multi-label indicator matrix.")
        if not self.multilabel_:
            if y_arr.ndim != 1:
                raise ValueError(f"{type(self).__name__}: y must be 1-D labels or a 2-D binary indicator matrix; got shape {y_arr.shape} ({kind}).")
            self._label_encoder = LabelEncoder().fit(y_arr)
            self.classes_ = self._label_encoder.classes_
            if len(self.classes_) == 0:
                raise ValueError(f"{type(self).__name__}: y is empty; at least 2 samples of 2 classes are needed.")
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__}: y has a single class ({str(self.classes_[0])!r}); at least 2 are needed.")
        column = self._fit_checks(X, y_all)
        if self.multilabel_:
            self.classes_ = np.arange(y_arr.shape[1])
            y_fit = y_arr.astype(np.float32)
            criterion = torch.nn.BCEWithLogitsLoss
            # One independent probability per label (skorch's default for
            # this loss stacks [1 - p, p], meant for a single binary label).
            extra = {"predict_nonlinearity": torch.sigmoid}
            n_out = y_arr.shape[1]
        else:
            y_src = self._label_encoder.transform(y_arr).astype(np.int64)
            y_fit = y_src
            if target is not None:
                y_fit = np.full(len(y_all), -1, dtype=np.int64)
                y_fit[~target] = y_src
            criterion = torch.nn.CrossEntropyLoss
            extra = {"classes": list(range(len(self.classes_)))}
            n_out = len(self.classes_)
            weight = self._class_weights(y_src)
            if weight is not None:
                extra["criterion__weight"] = torch.tensor(weight, dtype=torch.float32)
        return self._fit(X, column, y_fit, n_out, criterion, extra, target)

    def _class_weights(self, y_fit):
        from sklearn.utils.class_weight import compute_class_weight

        cw = getattr(self, "class_weight", None)
        if cw is None:
            return None
        if cw != "balanced" and not isinstance(cw, dict):
            raise ValueError(f'class_weight must be None, "balanced" or a dict, got {cw!r}.')
        if isinstance(cw, dict):
            unknown = set(cw) - set(self.classes_)
            if unknown:
                raise ValueError(f"class_weight has labels {sorted(map(str, unknown))} that are not in y.")
        return compute_class_weight(cw, classes=self.classes_, y=self.classes_[y_fit])

    def predict_proba(self, X, sample_domain=None, allow_source=None):
        """Class probabilities, columns in the order of ``classes_``.

        ``sample_domain`` and ``allow_source`` are accepted, as skada's
        scorers and pipelines pass them; predictions do not depend on them.
        """
        check_is_fitted(self, "net_")
        return self._forward(X, sample_domain).astype(np.float64)

    def predict(self, X, sample_domain=None, allow_source=None):
        """Predicted labels (a binary indicator matrix for multi-label y)."""
        proba = self.predict_proba(X, sample_domain)
        if self.multilabel_:
            return (proba >= 0.5).astype(int)
        return self.classes_[proba.argmax(axis=1)]


class _RegressorMixin(RegressorMixin):
    def fit(self, X, y, sample_domain=None):
        """Fine-tune on texts or images X with real-valued targets y.

        Parameters
        ----------
        X : texts or images (see the class docstring)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Scaled to zero mean and unit variance inside; predictions are on
            the original scale.
        sample_domain : array-like of int, shape (n_samples,), optional
            skada's layout for domain adaptation: positive on labelled
            source rows, negative on unlabelled target rows (whose ``y`` is
            ignored; skada marks it NaN). With ``domain_loss`` the target
            rows are adapted to; without, they are left out (source-only).

        Returns
        -------
        self
        """
        torch = require("torch")
        self._check_y_given(y)
        if np.iscomplexobj(np.asarray(y)):
            raise ValueError(f"{type(self).__name__}: Complex data not supported in y.")
        y_all = np.asarray(y, dtype=np.float64)
        target = self._target_rows(X, y_all, sample_domain)
        y_arr = y_all if target is None else y_all[~target]
        if y_arr.ndim not in (1, 2) or not np.isfinite(y_arr).all():
            raise ValueError(f"{type(self).__name__}: y must be finite numbers of shape (n,) or (n, n_outputs); got shape {y_arr.shape}.")
        column = self._fit_checks(X, y_all)
        self._y_1d = y_arr.ndim == 1
        y2 = y_arr.reshape(len(y_arr), -1)
        self._y_scaler = StandardScaler().fit(y2)
        y_fit = self._y_scaler.transform(y2).astype(np.float32)
        if target is not None:
            y_full = np.full((len(y_all), y2.shape[1]), np.nan, dtype=np.float32)
            y_full[~target] = y_fit
            y_fit = y_full
        return self._fit(X, column, y_fit, y2.shape[1], torch.nn.MSELoss, {}, target)

    def predict(self, X, sample_domain=None, allow_source=None):
        """Predictions on the scale of the training targets.

        ``sample_domain`` and ``allow_source`` are accepted, as skada's
        scorers and pipelines pass them; predictions do not depend on them.
        """
        check_is_fitted(self, "net_")
        out = self._y_scaler.inverse_transform(self._forward(X, sample_domain).astype(np.float64))
        return out[:, 0] if self._y_1d else out


_DOC_COMMON = """
    Parameters
    ----------
    model : str
        Model name, as for the encoders (torchvision names, ``"efficientnet_lite0"``,
        sentence-transformers names or folders, ``"all-MiniLM-L6-v2"``).
    weights : str, path or None, default="DEFAULT"
        Pretrained weights ("DEFAULT"; image models also take torchvision
        weights names and local files). None gives the same architecture from
        scratch (one fixed random initialisation): the baseline that shows
        what pretraining adds.
    head_init : {"probe", "random"}, default="probe"
        When blocks are trained from pretrained weights, "probe" first fits
        the new head on the frozen features (cheap: they come from the
        cache), then fine-tunes from there (LP-FT: Kumar et al., "Fine-Tuning
        can Distort Pretrained Features and Underperform Out-of-Distribution",
        ICLR 2022): a random head's early gradients would otherwise disturb
        the pretrained blocks. "random" starts from a random head.
    n_trainable_blocks : int or "all", default=0
        Freeze depth, counted from the top: 0 trains only the new head (a linear
        probe), k the top k blocks and the head, "all" every block (weight
        initialisation). Frozen blocks stay in eval mode (BatchNorm statistics
        untouched). When the frozen blocks' input is not augmented, their
        outputs are computed once through the shared cache.
    max_epochs : int or "auto", default="auto"
        "auto": at least 10 epochs and about 300 optimiser steps (few-shot
        data gets more epochs), at most 100; early stopping usually ends
        training sooner. The value used is ``max_epochs_``.
    lr, batch_size, optimizer, callbacks, train_split, device
        As in skorch. ``lr`` (default 3e-3) is the head's learning rate; ``optimizer`` is
        "adamw" (default, weight decay 0.01), "adam", "sgd", "rmsprop" or a
        torch.optim class. ``train_split="auto"`` holds out
        ``validation_fraction`` (stratified for classifiers) when
        ``early_stopping_``. ``device="auto"`` picks CUDA, MPS, then CPU; on
        CUDA training uses bfloat16 autocast and pinned memory.
    backbone_lr_scale : float or "auto", default="auto"
        The top trainable block's learning rate relative to ``lr``. "auto":
        0.03 from pretrained weights (about 1e-4 with the default ``lr``, so
        fine-tuning refines rather than overwrites them), 1.0 from scratch
        (``weights=None``), where there is nothing to preserve.
    layer_decay : float, default=0.8
        Each block below trains at ``layer_decay`` times the rate of the one
        above (layer-wise learning-rate decay).
    warmup_fraction : float, default=0.1
        Linear warm-up over this fraction of the steps, then cosine decay.
    unfreeze_every : int or None, default=None
        Gradual unfreezing: one more block becomes trainable every this many epochs.
    early_stopping : bool or "auto", default="auto"
        Stop when the validation loss has not improved for ``patience``
        epochs and restore the best weights. "auto" turns it on when the
        validation split holds at least 50 samples (500 samples at the
        default ``validation_fraction``) or a ``train_split`` is given: on
        fewer, the validation loss is too noisy to choose an epoch, and
        few-shot fits stopped too early. Off with a ``domain_loss``: the
        source rows' validation loss cannot see the target. The value used
        is ``early_stopping_``.
    patience : int, default=3
    validation_fraction : float, default=0.1
    domain_loss : {None, "dann", "deepcoral", "dan", "mcc"} or str, default=None
        Domain adaptation while fine-tuning, with skada.deep's losses. Give
        ``fit`` a ``sample_domain`` (skada's layout: X and y hold labelled
        source rows and unlabelled target rows) and every batch pairs source
        and target rows; the loss adds, to the task loss on the source rows,
        ``domain_loss_weight`` times a divergence between the two domains'
        features at the backbone's feature layer (the pooled output that
        the new head reads), which the trainable blocks learn to shrink:
        "dann" a domain classifier behind a gradient reversal layer
        (Ganin et al., JMLR 2016), "deepcoral" the distance between the
        features' covariances (Sun & Saenko, ECCV-W 2016), "dan" a
        multi-kernel MMD (Long et al., ICML 2015); these three need
        ``n_trainable_blocks >= 1``. "mcc" (classifiers) instead lowers the
        confusion between classes in the predictions on target rows
        (Jin et al., ECCV 2020), so it also adapts a head on frozen
        features. Several joined by "+" add up, each with the same weight:
        "dann+mcc" is the pairing the MCC paper reports as a regulariser
        on top of DANN. Needs ``pip install "sktransfer[adapt]"``.
        None with a ``sample_domain`` trains on the source rows only.
    domain_loss_weight : float, default=1.0
        The domain loss's weight (skada's ``reg``): a hyperparameter to
        choose with skada's scorers, which need no target labels.
    cache : bool or str, default=True
        The shared feature cache (see the encoders).
    random_state : int or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation
        split, without touching the global RNG.
    verbose : bool, default=False
        Epoch table and progress bar.
    **kwargs
        skorch's prefixed parameters: ``module__hidden`` / ``module__dropout``
        (the new head's hidden units and dropout), ``optimizer__*``,
        ``criterion__*``, ``iterator_train__*``, ``iterator_valid__*``,
        ``callbacks__*``.
"""


class ImageClassifier(_ClassifierMixin, _FineTuner):
    __doc__ = """Fine-tune a pretrained image network to classify images.

    X takes what :class:`~sktransfer.ImageEncoder` takes (paths, PIL images,
    uint8 arrays). Training images are augmented (``augment``); evaluation
    uses the weights' own preprocessing.
""" + _DOC_COMMON + """    augment : bool or "flip", default=True
        Random resized crops and colour jitter on training images; "flip"
        adds horizontal flips; False turns augmentation off (and lets frozen
        blocks be cached).
    class_weight : None, "balanced" or dict, default=None

    Attributes
    ----------
    classes_ : ndarray
    net_ : skorch.NeuralNetClassifier
    history_ : skorch.History
    n_trainable_blocks_ : int
    cached_blocks_ : int
        How many lower blocks ran once, through the cache, instead of every epoch.
    domain_rows_ : tuple of (int, int) or None
        (source rows, target rows) when fitted with a ``domain_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer import ImageClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (40, 20, 20), dtype=np.uint8)
    >>> y = np.array(["cat", "dog"] * 20)
    >>> clf = ImageClassifier(model="sktransfer/tiny-cnn", n_trainable_blocks=1, augment=False,
    ...                       max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape, clf.cached_blocks_
    ((3, 2), 2)
    """
    _modality = "image"

    def __init__(self, model="efficientnet_lite0", *, weights="DEFAULT", n_trainable_blocks=0, head_init="probe", augment=True,
                 freeze_batchnorm="auto", class_weight=None, max_epochs="auto", lr=3e-3, batch_size=32, optimizer="adamw", backbone_lr_scale="auto",
                 layer_decay=0.8, warmup_fraction=0.1, unfreeze_every=None, early_stopping="auto", patience=3,
                 validation_fraction=0.1, train_split="auto", callbacks=None, domain_loss=None, domain_loss_weight=1.0,
                 cache=True, device="auto", random_state=None, verbose=False, **kwargs):
        _store_params(self, locals())


class ImageRegressor(_RegressorMixin, _FineTuner):
    __doc__ = """Fine-tune a pretrained image network to predict numbers.
""" + _DOC_COMMON + """    augment : bool or "flip", default=True

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer import ImageRegressor
    >>> X = np.random.default_rng(0).integers(0, 255, (30, 20, 20), dtype=np.uint8)
    >>> reg = ImageRegressor(model="sktransfer/tiny-cnn", max_epochs=2, random_state=0)
    >>> reg.fit(X, X.mean(axis=(1, 2))).predict(X[:2]).shape
    (2,)
    """
    _modality = "image"

    def __init__(self, model="efficientnet_lite0", *, weights="DEFAULT", n_trainable_blocks=0, head_init="probe",
                 augment=True, freeze_batchnorm="auto", max_epochs="auto", lr=3e-3, batch_size=32, optimizer="adamw", backbone_lr_scale="auto", layer_decay=0.8,
                 warmup_fraction=0.1, unfreeze_every=None, early_stopping="auto", patience=3, validation_fraction=0.1,
                 train_split="auto", callbacks=None, domain_loss=None, domain_loss_weight=1.0, cache=True, device="auto",
                 random_state=None, verbose=False, **kwargs):
        _store_params(self, locals())


class TextClassifier(_ClassifierMixin, _FineTuner):
    __doc__ = """Fine-tune a pretrained sentence-transformers model to classify texts.

    Texts are tokenised per batch with dynamic padding and the model's
    truncation length.
""" + _DOC_COMMON + """    class_weight : None, "balanced" or dict, default=None

    Examples
    --------
    >>> from sktransfer import TextClassifier
    >>> X = ["loved it", "hated it", "great film", "awful film"] * 5
    >>> y = ["pos", "neg", "pos", "neg"] * 5
    >>> clf = TextClassifier(model="sktransfer/tiny-text", max_epochs=2, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(["loved it"]).shape
    (['neg', 'pos'], (1,))
    """
    _modality = "text"

    def __init__(self, model="all-MiniLM-L6-v2", *, weights="DEFAULT", n_trainable_blocks=0, head_init="probe", class_weight=None, max_epochs="auto", lr=3e-3,
                 batch_size=32, optimizer="adamw", backbone_lr_scale="auto", layer_decay=0.8, warmup_fraction=0.1,
                 unfreeze_every=None, early_stopping="auto", patience=3, validation_fraction=0.1, train_split="auto",
                 callbacks=None, domain_loss=None, domain_loss_weight=1.0, cache=True, device="auto",
                 random_state=None, verbose=False, **kwargs):
        _store_params(self, locals())


class TextRegressor(_RegressorMixin, _FineTuner):
    __doc__ = """Fine-tune a pretrained sentence-transformers model to predict numbers.
""" + _DOC_COMMON + """
    Examples
    --------
    >>> from sktransfer import TextRegressor
    >>> X = ["one", "two two", "three three three"] * 5
    >>> reg = TextRegressor(model="sktransfer/tiny-text", max_epochs=2, random_state=0)
    >>> reg.fit(X, [len(t) for t in X]).predict(["two two"]).shape
    (1,)
    """
    _modality = "text"

    def __init__(self, model="all-MiniLM-L6-v2", *, weights="DEFAULT", n_trainable_blocks=0, head_init="probe", max_epochs="auto", lr=3e-3, batch_size=32,
                 optimizer="adamw", backbone_lr_scale="auto", layer_decay=0.8, warmup_fraction=0.1,
                 unfreeze_every=None, early_stopping="auto", patience=3, validation_fraction=0.1, train_split="auto",
                 callbacks=None, domain_loss=None, domain_loss_weight=1.0, cache=True, device="auto",
                 random_state=None, verbose=False, **kwargs):
        _store_params(self, locals())
