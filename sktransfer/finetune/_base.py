"""The fine-tuners' shared fit and predict; classifier and regressor as hooks (as skorch's nets).

``fit`` validates the parameters, then X and the length of y, the domain
rows and y's values, encodes the target (the subclass hook),
plans the fit (:mod:`._plan`, torch-free), lets the trainer train
(:mod:`._trainer`), then sets every fitted attribute at once.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .. import _contract
from .._deps import require
from ..modalities import get_modality, register_estimator
from ..modalities.base import is_missing, list_rows
from . import _domain, _floor, _params, _plan
from ._netstate import NetStateMixin


@dataclass
class Encoded:
    """The target as the network trains on it."""

    y: np.ndarray  # one entry per row; target rows: -1 (classes) or NaN
    n_outputs: int
    loss: str  # "cross_entropy", "bce" or "mse"
    classifier: bool
    multilabel: bool = False
    class_weight: object = None
    attributes: dict = field(default_factory=dict)  # fitted attributes that describe y


class _FineTuner(
    _contract.EmbeddingNamesMixin,
    TransformerMixin,
    NetStateMixin,
    _contract.StateMixin,
    BaseEstimator,
):
    """Fit, predict and transform of every fine-tuning estimator; subclasses add the target hooks.

    ``transform`` gives the fine-tuned network's pooled features (what the
    head reads), so a fitted fine-tuner is also an encoder, as
    ``LinearDiscriminantAnalysis`` is a classifier and a transformer.
    """

    _modality = None
    _role = None
    _parameter_constraints = dict(_params.FINE_TUNE_CONSTRAINTS)

    # Like skada's own estimators: inside skada's pipelines and GridSearchCV,
    # sample_domain reaches fit (all rows, target rows included) and predict.
    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__predict = {"sample_domain": True, "allow_source": True}
    __metadata_request__predict_proba = {"sample_domain": True, "allow_source": True}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "{parameters}" in (cls.__doc__ or ""):
            _params.document(cls)
        if "_modality" in cls.__dict__:
            register_estimator(cls, cls._role)

    # -- parameters: the signature's, plus skorch's prefixed ones --------------
    def get_params(self, deep=True):
        return {**super().get_params(deep=deep), **_params.extra_params(self)}

    def set_params(self, **params):
        names = set(_params.signature_names(type(self)))
        extra = set(_params.extra_params(self))
        passthrough = {
            k: v
            for k, v in params.items()
            if k not in names and (k in extra or k.startswith(_params.SKORCH_PREFIXES))
        }
        for key, value in passthrough.items():
            setattr(self, key, value)
        return super().set_params(**{k: v for k, v in params.items() if k not in passthrough})

    # -- hooks ------------------------------------------------------------------
    def _encode_target(self, y, target):
        raise NotImplementedError

    # -- fit / predict ----------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_domain=None):
        """Fine-tune on X with targets y.

        Parameters
        ----------
        X : what the estimator's modality takes (see the class docstring)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (any type; a 2-D binary indicator matrix for
            multi-label) for classifiers, numbers for regressors.
        sample_domain : array-like of int, shape (n_samples,), optional
            skada's layout for domain adaptation: positive on labelled
            source rows, negative on unlabelled target rows (whose ``y`` is
            ignored; skada marks it -1 for classes, NaN for numbers). With
            ``domain_loss`` the target rows are adapted to; without, they are
            left out (source-only). :func:`sktransfer.adapt.domain_arrays`
            builds X, y and this.

        Returns
        -------
        self
        """
        name = type(self).__name__
        classifier = self._role == "classifier"
        params = self.get_params(deep=False)
        _params.check_extra_params(self)
        _domain.check_task(name, self.domain_loss, classifier)
        _contract.check_model(self)
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        if np.iscomplexobj(np.asarray(y)):
            raise ValueError(f"{name}: Complex data not supported in y.")
        rows = _contract.check_rows(self, X, reset=True)
        _contract.check_length(self, len(rows), y)
        target = _domain.target_rows(name, X, y, sample_domain, self.domain_loss, classifier)
        encoded = self._encode_target(y, target)
        if target is not None and self.domain_loss is None:
            # Source-only (skada's SourceOnly): without a domain loss the
            # target rows teach nothing.
            keep = np.flatnonzero(~target)
            rows, encoded.y, target = rows.take(keep), encoded.y[keep], None
        if target is not None:
            require("skada", purpose=f"{name}(domain_loss={self.domain_loss!r})")
        backbone = _contract.load_backbone(self)
        plan = _plan.make(
            params,
            name=name,
            backbone=backbone,
            y_fit=encoded.y,
            target=target,
            classifier=classifier,
            multilabel=encoded.multilabel,
            rows=rows,
        )
        from . import _trainer

        trainer = _trainer.Trainer(params, plan, backbone, encoded, name)
        net = trainer.fit(rows, target)
        outcome = trainer.outcome
        if outcome is not None and not outcome["helped"]:
            _warn_probe_kept(name, outcome, classifier)
        self.__dict__.pop("_net_weights", None)  # a loaded estimator's, not yet rebuilt
        _contract.set_attributes(
            self,
            {
                **encoded.attributes,
                **_contract.input_attributes(rows),
                "fit_plan_": plan,
                "n_trainable_blocks_": plan.first,
                "trainable_schedule_": (plan.first, plan.last),
                "cached_blocks_": plan.cached,
                "max_epochs_": plan.max_epochs,
                "resumed_at_epoch_": trainer.resumed_at_epoch,
                "early_stopping_": plan.early_stopping,
                "validation_rows_": trainer.validation_rows,
                **_floor.attributes(outcome),
                "domain_rows_": plan.domain_rows,
                "backbone_identity_": backbone.identity,
                "block_names_": list(backbone.block_names),
                "preprocess_": backbone.preprocess,
                "embedding_dim_": backbone.output_dim(channels=plan.channels),
                "_n_fit_rows": len(rows),
                "_net_outputs": (encoded.n_outputs, encoded.loss),
                "net_": net,
                "history_": net.history,
            },
        )
        return self

    def _backbone(self):
        """The backbone this estimator was fitted on; an error if its weights changed since."""
        backbone = _contract.load_backbone(self)
        if backbone.identity != self.backbone_identity_:
            raise RuntimeError(
                f"The weights of {self.model!r} differ from those {type(self).__name__} was "
                "fitted with."
            )
        return backbone

    def _forward(self, X, sample_domain=None, features=False):
        """The trained net's outputs (probabilities, or standardised predictions) for X.

        With ``features``, the pooled features the head reads instead.
        """
        check_is_fitted(self, "net_")
        rows = _contract.check_rows(self, X, reset=False)
        if sample_domain is not None:
            from ..adapt import check_domain_arrays

            check_domain_arrays(X, None, sample_domain)
        backbone = self._backbone() if self.cached_blocks_ else None
        from . import _trainer

        modality = get_modality(self._modality)
        data = _trainer.inputs(
            self.get_params(deep=False),
            self.fit_plan_,
            backbone,
            rows,
            type(self).__name__,
            training=False,
            preprocess=self.preprocess_,
            modality=modality,
        )
        run = _trainer.embed if features else _trainer.predict
        return run(self.net_, data, modality).astype(np.float32 if features else np.float64)

    def transform(self, X):
        """The fine-tuned network's pooled features: what its head reads, one row per sample.

        Use them as an encoder's output (a linear model, clustering, a
        second task). On the rows it was fitted on they carry what the
        network learnt of those very labels: for stacking, fit it on other
        rows (``cross_val_predict``-style).

        Parameters
        ----------
        X : what the estimator's modality takes (see the class docstring)

        Returns
        -------
        ndarray of shape (n_samples, ``embedding_dim_``), dtype float32
        """
        return self._forward(X, features=True)

    def fit_transform(self, X, y=None, **fit_params):
        """Fine-tune on X, y, then :meth:`transform` X (see its note on fitted rows)."""
        return self.fit(X, y, **fit_params).transform(X)

    def save_backbone(self, path, *, overwrite=False):
        """Save the fine-tuned network (without its head) as a backbone folder.

        Every estimator, :func:`sktransfer.zoo.model_info` and
        :func:`sktransfer.selection.rank_encoders` then take ``path`` as
        ``model=``: fine-tune it on another task, or encode with it
        (chained transfer). The folder is in the family's own format (a
        sentence-transformers folder for text; the architecture's name, a
        state dict and the preprocessing for images) plus
        ``sktransfer_backbone.json``, which records what was done.

        Parameters
        ----------
        path : str or path
            The folder to write.
        overwrite : bool, default=False
            Replace a backbone saved there before.

        Returns
        -------
        pathlib.Path
        """
        check_is_fitted(self, "net_")
        from ..backbones import saved
        from . import _trainer

        backbone = self._backbone()
        net = saved.full_net(backbone, _trainer.transfer_module(self.net_))
        task = f"{len(self.classes_)} classes" if self._role == "classifier" else "regression"
        step = {
            "step": "fine-tuned",
            "by": type(self).__name__,
            "n_rows": int(self._n_fit_rows),
            "task": task,
            "n_trainable_blocks": self.n_trainable_blocks,
            "weights": None if self.weights is None else str(self.weights),
        }
        return saved.write(path, net, backbone, step, overwrite=overwrite)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = []
        return _contract.apply_input_tags(tags, self._modality)


class FineTuningWarning(UserWarning):
    """Fine-tuning did not beat the linear probe on the held-out rows; the probe was kept."""


def _warn_probe_kept(name, outcome, classifier):
    metric = "accuracy" if classifier else "R^2"
    probe, tuned = outcome["probe"][0], outcome["fine_tuned"][0]
    warnings.warn(
        f"{name}: fine-tuning did not beat the linear probe on the {outcome['n_valid']} "
        f"held-out rows ({metric} {tuned:.3f} fine-tuned, {probe:.3f} probe), so the probe "
        "was kept: the pretrained blocks unchanged, with the head fitted on their features "
        "(fine_tuning_helped_ is False). More rows, more epochs or fewer trainable blocks may "
        "let fine-tuning help.",
        FineTuningWarning,
        stacklevel=4,  # the caller of fit, past scikit-learn's _fit_context wrapper
    )


def _bad_rows(values):
    """Positions of missing or non-finite entries of a 1-D array of labels or numbers."""
    if values.dtype.kind == "f":
        return np.flatnonzero(~np.isfinite(values))
    if values.dtype.kind == "O":
        return np.asarray(
            [
                i
                for i, v in enumerate(values)
                if is_missing(v) or (isinstance(v, (float, np.floating)) and not np.isfinite(v))
            ],
            dtype=int,
        )
    return np.zeros(0, dtype=int)


def _numbers(values):
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _value(v):
    return repr(v.item() if isinstance(v, np.generic) else v)


def _raise_bad_rows(name, values, bad, what):
    raise ValueError(
        f"{name}: y has {what} in {len(bad)} row(s): "
        + list_rows(bad.tolist(), None, lambda p: _value(values[p]))
        + ". Drop those rows or fill them first; nothing is dropped silently."
    )


class _Classifier(ClassifierMixin, _FineTuner):
    """Classes, or a multi-label indicator matrix, through cross-entropy (or per-label BCE)."""

    _role = "classifier"
    _parameter_constraints = {**_FineTuner._parameter_constraints, **_params.CLASSIFIER_CONSTRAINTS}

    def _encode_target(self, y, target):
        name = type(self).__name__
        y_all = np.asarray(y)
        if y_all.ndim == 2 and y_all.shape[1] == 1:
            y_all = column_or_1d(y_all, warn=True)
        y_arr = y_all if target is None else y_all[~target]
        if y_arr.ndim == 1:
            bad = _bad_rows(y_arr)
            if len(bad):
                positions = bad if target is None else np.flatnonzero(~target)[bad]
                _raise_bad_rows(
                    name, y_all, positions, "missing or non-finite labels (None, NaN or inf)"
                )
        kind = type_of_target(y_arr)
        if kind.startswith("continuous"):
            raise ValueError(
                f"Unknown label type: {kind}. {name} needs class labels; use the Regressor for "
                "numbers."
            )
        multilabel = kind == "multilabel-indicator"
        if multilabel:
            if target is not None:
                raise ValueError(
                    f"{name}: domain adaptation (sample_domain) takes 1-D class labels, "
                    "not a multi-label indicator matrix."
                )
            classes = np.arange(y_arr.shape[1])
            return Encoded(
                y_arr.astype(np.float32),
                y_arr.shape[1],
                "bce",
                True,
                multilabel=True,
                attributes={"classes_": classes, "multilabel_": True},
            )
        if y_arr.ndim != 1:
            raise ValueError(
                f"{name}: y must be 1-D labels or a 2-D binary indicator matrix; got shape "
                f"{y_arr.shape} ({kind})."
            )
        encoder = LabelEncoder().fit(y_arr)
        classes = encoder.classes_
        if len(classes) == 0:
            raise ValueError(f"{name}: y is empty; at least 2 samples of 2 classes are needed.")
        if len(classes) < 2:
            raise ValueError(
                f"{name}: y has only one class ({str(classes[0])!r}); at least 2 classes are "
                "needed."
            )
        y_src = encoder.transform(y_arr).astype(np.int64)
        y_fit = y_src
        if target is not None:
            y_fit = np.full(len(y_all), -1, dtype=np.int64)
            y_fit[~target] = y_src
        return Encoded(
            y_fit,
            len(classes),
            "cross_entropy",
            True,
            class_weight=self._class_weights(classes, y_src),
            attributes={"classes_": classes, "multilabel_": False},
        )

    def _class_weights(self, classes, y_codes):
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, dict):
            unknown = set(cw) - set(classes)
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(map(str, unknown))} that are not in y."
                )
            bad = {
                k: v
                for k, v in cw.items()
                if isinstance(v, bool)
                or not isinstance(v, (int, float, np.integer, np.floating))
                or not np.isfinite(v)
                or v <= 0
            }
            if bad:
                raise ValueError(f"class_weight values must be finite numbers > 0; got {bad}.")
        return compute_class_weight(cw, classes=classes, y=classes[y_codes])

    def predict_proba(self, X, sample_domain=None, allow_source=None):
        """Class probabilities, columns in the order of ``classes_``.

        ``sample_domain`` and ``allow_source`` are accepted, as skada's
        scorers and pipelines pass them; predictions do not depend on them.
        """
        return self._forward(X, sample_domain)

    def predict(self, X, sample_domain=None, allow_source=None):
        """Predicted labels (a binary indicator matrix for multi-label y)."""
        proba = self.predict_proba(X, sample_domain)
        if self.multilabel_:
            return (proba >= 0.5).astype(int)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class _Regressor(RegressorMixin, _FineTuner):
    """Numbers (one or several outputs), standardised inside, through the mean squared error."""

    _role = "regressor"

    def _encode_target(self, y, target):
        name = type(self).__name__
        y_raw = np.asarray(y)
        if y_raw.dtype.kind in "mM":
            raise ValueError(
                f"{name}: y has dtype {y_raw.dtype} (dates or durations); convert it to numbers "
                "first."
            )
        try:
            y_all = y_raw.astype(np.float64)
        except (TypeError, ValueError):
            rows = y_raw.reshape(len(y_raw), -1) if y_raw.ndim else y_raw.reshape(1, 1)
            bad = [i for i, row in enumerate(rows) if not _numbers(row)]
            raise ValueError(
                f"{name}: y must hold numbers; found other values (dtype {y_raw.dtype}) in "
                f"{len(bad)} row(s): " + list_rows(bad, None, lambda p: _value(y_raw[p])) + "."
            ) from None
        y_arr = y_all if target is None else y_all[~target]
        if y_arr.ndim not in (1, 2):
            raise ValueError(
                f"{name}: y must be finite numbers of shape (n,) or (n, n_outputs); got shape "
                f"{y_arr.shape}."
            )
        bad = np.flatnonzero(~np.isfinite(y_arr.reshape(len(y_arr), -1)).all(axis=1))
        if len(bad):
            positions = bad if target is None else np.flatnonzero(~target)[bad]
            rows = list_rows(positions.tolist(), None, lambda p: _value(y_raw[p]))
            raise ValueError(
                f"{name}: y must be finite numbers; found NaN or inf in {len(bad)} row(s): {rows}."
            )
        y2 = y_arr.reshape(len(y_arr), -1)
        with np.errstate(over="ignore", invalid="ignore"):
            scaler = StandardScaler().fit(y2)
            y_fit = scaler.transform(y2).astype(np.float32)
        if not (np.isfinite(scaler.var_).all() and np.isfinite(y_fit).all()):
            raise ValueError(
                f"{name}: y is too large to standardise (its variance overflows float64); rescale "
                "it first."
            )
        if target is not None:
            y_full = np.full((len(y_all), y2.shape[1]), np.nan, dtype=np.float32)
            y_full[~target] = y_fit
            y_fit = y_full
        return Encoded(
            y_fit,
            y2.shape[1],
            "mse",
            False,
            attributes={"_y_scaler": scaler, "_y_1d": y_arr.ndim == 1},
        )

    def predict(self, X, sample_domain=None, allow_source=None):
        """Predictions on the scale of the training targets.

        ``sample_domain`` and ``allow_source`` are accepted, as skada's
        scorers and pipelines pass them; predictions do not depend on them.
        """
        check_is_fitted(self, "net_")
        out = self._y_scaler.inverse_transform(self._forward(X, sample_domain))
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
