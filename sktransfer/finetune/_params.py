"""The fine-tuners' parameters, declared once: constraints, documentation, skorch's prefixed extras.

Each public estimator spreads the dicts below into its ``_parameter_constraints``
(as ``HistGradientBoostingClassifier`` does), so every out-of-range value is
scikit-learn's ``InvalidParameterError`` naming the parameter. Its docstring's
``{parameters}`` is filled from :data:`DOCS` in the order of its signature, so
the signature is the one place the order lives. Keyword arguments outside the
signature may only be skorch's prefixed parameters (``module__hidden``,
``optimizer__weight_decay``...); anything else is an error at fit with the
closest parameter name.
"""

import difflib
import inspect
from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints

from .. import _contract
from .._contract import COMMON_CONSTRAINTS, CacheFolder, Constraint, IntInterval
from ._domain import DomainLoss

SKORCH_PREFIXES = (
    "module__",
    "optimizer__",
    "criterion__",
    "iterator_train__",
    "iterator_valid__",
    "callbacks__",
    "dataset__",
)
OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


class _OptimizerClass(Constraint):
    """A torch.optim.Optimizer subclass (checked without importing torch unless one is given)."""

    def is_satisfied_by(self, val):
        if not isinstance(val, type):
            return False
        import torch

        return issubclass(val, torch.optim.Optimizer)

    def __str__(self):
        return "a torch.optim.Optimizer subclass"


FINE_TUNE_CONSTRAINTS = {
    **COMMON_CONSTRAINTS,
    "n_trainable_blocks": [IntInterval(0, None, closed="left"), StrOptions({"all"})],
    "head_init": [StrOptions({"probe", "random"})],
    "max_epochs": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "optimizer": [StrOptions(set(OPTIMIZERS) | set(OPTIMIZERS.values())), _OptimizerClass()],
    "backbone_lr_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
    "layer_decay": [Interval(Real, 0, 1, closed="right")],
    "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
    "unfreeze_every": [None, IntInterval(1, None, closed="left")],
    "early_stopping": ["boolean", StrOptions({"auto"})],
    "patience": [IntInterval(1, None, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "train_split": [StrOptions({"auto"}), None, callable],
    "callbacks": [None, list],
    "domain_loss": [None, DomainLoss()],
    "domain_loss_weight": [Interval(Real, 0, None, closed="left")],
    "checkpoint_dir": [None, CacheFolder()],
    "random_state": ["random_state"],
}
CLASSIFIER_CONSTRAINTS = {"class_weight": [None, StrOptions({"balanced"}), dict]}
IMAGE_CONSTRAINTS = {
    "augment": ["boolean", StrOptions({"flip", "auto"})],
    "freeze_batchnorm": ["boolean", StrOptions({"auto"})],
}
TEXT_CONSTRAINTS = {
    "objective": [StrOptions({"task", "contrastive"})],
    **_contract.OOV_CONSTRAINTS,
}
FORECAST_HEAD_INIT = {"head_init": [StrOptions({"probe", "random", "forecast"})]}
SERIES_CONSTRAINTS = {
    **_contract.SERIES_CONSTRAINTS,
    "freeze_batchnorm": IMAGE_CONSTRAINTS["freeze_batchnorm"],
}
AUDIO_CONSTRAINTS = _contract.AUDIO_CONSTRAINTS
#: The new head's parameters, given with skorch's ``module__`` prefix.
HEAD_CONSTRAINTS = {
    "module__hidden": [None, IntInterval(1, None, closed="left")],
    "module__dropout": [Interval(Real, 0, 1, closed="left")],
}

# name -> (type, description); the default comes from the signature.
DOCS = {
    "model": (
        "str",
        """Model name, as for the encoders: torchvision names and ``"efficientnet_lite0"``
        for images, sentence-transformers hub names or local folders and
        ``"all-MiniLM-L6-v2"`` for text, ``"fracast"`` (pretrained) and
        ``"fcn"``, ``"resnet1d"``, ``"lstm"``, ``"gru"`` (your own weights) for
        time series, ``"resemblyzer-ge2e"`` for speech; a folder written by
        ``save_backbone`` for any of them.""",
    ),
    "weights": (
        "str, path or None",
        """Pretrained weights ("DEFAULT"; image and time-series models also take
        local state-dict files, image models torchvision weights names). None
        gives the same architecture from scratch (one fixed random
        initialisation): the baseline that shows what pretraining adds.""",
    ),
    "n_trainable_blocks": (
        'int or "all"',
        """Freeze depth, counted from the top: 0 trains only the new head (a linear
        probe), k the top k blocks and the head, "all" every block (weight
        initialisation). Frozen blocks stay in eval mode (BatchNorm statistics
        untouched). When the frozen blocks' input is not augmented, their
        outputs are computed once through the shared cache.""",
    ),
    "head_init": (
        '{"probe", "random"}',
        """When blocks are trained from pretrained weights, "probe" first fits
        the new head on the frozen features (cheap: they come from the
        cache), then fine-tunes from there (LP-FT: Kumar et al., "Fine-Tuning
        can Distort Pretrained Features and Underperform Out-of-Distribution",
        ICLR 2022): a random head's early gradients would otherwise disturb
        the pretrained blocks. "random" starts from a random head.""",
    ),
    "objective": (
        '{"task", "contrastive"}',
        """How the trainable blocks learn. "task": with the head, on the task's
        loss (cross-entropy, or squared error for numbers). "contrastive":
        SetFit's two stages, for few labels: first the blocks alone learn to
        give rows of the same class (for numbers: close targets) embeddings
        of high cosine similarity, from every pair of rows inside each batch
        of ``batch_size`` (so memory never grows with the number of pairs);
        then the head is fitted on the new embeddings, as the probe is.
        ``max_epochs`` counts the first stage's epochs ("auto": about 40
        steps, at least 5 epochs). Needs ``n_trainable_blocks >= 1``; no
        ``domain_loss`` or ``unfreeze_every``.""",
    ),
    "augment": (
        'bool, "flip" or "auto"',
        """Random resized crops that keep at least 80 % of the image (near its
        own shape), and colour jitter on colour images (not on grey ones);
        "flip" adds horizontal flips; False turns augmentation off (and lets
        frozen blocks be cached). "auto": on for colour images when blocks
        train; off for grey images and for a linear probe
        (``n_trainable_blocks=0``), whose frozen features are then computed
        once. On the fine-tuning panel, augmenting k=1 helped the colour set
        (+3.6 points) and hurt each grey one (-1.0 to -3.2), at 4-10x the fit
        time; an augmented probe scored 82 % against 90 % on digits (47x the
        time) and the same 99 % on LFW faces (200x).""",
    ),
    "freeze_batchnorm": (
        'bool or "auto"',
        """Keep the pretrained BatchNorm running statistics of the trainable
        blocks, in training as in evaluation (as Keras recommends for
        fine-tuning). "auto": on from pretrained weights, off from scratch
        (``weights=None``), where the statistics must be learnt.""",
    ),
    "oov": _contract.OOV_DOC,
    **_contract.SERIES_DOCS,
    **_contract.AUDIO_DOCS,
    "class_weight": (
        'None, "balanced" or dict',
        """Weights of the classes in the loss: "balanced" (inversely
        proportional to their frequency, as scikit-learn computes it) or a
        dict ``{label: positive weight}``; unlisted labels weigh 1.""",
    ),
    "max_epochs": (
        'int or "auto"',
        """"auto": at least 10 epochs and about 300 optimiser steps (few-shot
        data gets more epochs), at most 100; early stopping usually ends
        training sooner. With a ``domain_loss``, whose steps carry source
        and target rows, about 150 steps and at least 5 epochs. The value
        used is ``max_epochs_``.""",
    ),
    "lr": ("float", "The head's learning rate (> 0); the blocks learn at fractions of it."),
    "batch_size": ("int", "Samples per optimiser step (and per forward pass when predicting)."),
    "optimizer": (
        "str or torch.optim.Optimizer subclass",
        """"adamw" (weight decay 0.01 unless
        ``optimizer__weight_decay`` says otherwise), "adam", "sgd", "rmsprop",
        or a torch.optim class.""",
    ),
    "backbone_lr_scale": (
        'float or "auto"',
        """The top trainable block's learning rate relative to ``lr`` (>= 0).
        "auto": 0.03 from pretrained weights (about 1e-4 with the default
        ``lr``, so fine-tuning refines rather than overwrites them), 1.0 from
        scratch (``weights=None``), where there is nothing to preserve.""",
    ),
    "layer_decay": (
        "float",
        """Each block below trains at ``layer_decay`` times the rate of the one
        above (layer-wise learning-rate decay), in (0, 1].""",
    ),
    "warmup_fraction": (
        "float",
        "Linear warm-up over this fraction of the steps, in [0, 1), then cosine decay.",
    ),
    "unfreeze_every": (
        "int or None",
        "Gradual unfreezing: one more block becomes trainable every this many epochs.",
    ),
    "early_stopping": (
        'bool or "auto"',
        """Stop when the validation loss has not improved for ``patience``
        epochs and restore the best weights. "auto" turns it on when the
        validation split holds at least 50 samples (500 samples at the
        default ``validation_fraction``) or a ``train_split`` is given: on
        fewer, the validation loss is too noisy to choose an epoch, and
        few-shot fits stopped too early. Off with a ``domain_loss``: the
        source rows' validation loss cannot see the target. The value used
        is ``early_stopping_``.""",
    ),
    "patience": ("int", "Epochs without improvement of the validation loss before early stopping."),
    "validation_fraction": (
        "float",
        """The share of the rows held out (stratified for classifiers) for
        early stopping, in (0, 1).""",
    ),
    "train_split": (
        '"auto", None or callable',
        """As in skorch: "auto" holds out ``validation_fraction`` when
        ``early_stopping_``; None trains on every row; a callable such as
        ``skorch.dataset.ValidSplit(5)`` splits as it says.""",
    ),
    "callbacks": ("list or None", "More skorch callbacks (instances, or (name, instance) pairs)."),
    "domain_loss": (
        '{None, "dann", "deepcoral", "dan", "mcc"} or str',
        """Domain adaptation while fine-tuning, with skada.deep's losses. Give
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
        None with a ``sample_domain`` trains on the source rows only.""",
    ),
    "domain_loss_weight": (
        "float",
        """The domain loss's weight (skada's ``reg``, >= 0): a hyperparameter to
        choose with skada's scorers, which need no target labels.""",
    ),
    "cache": (
        "bool or str",
        """True: the shared in-memory feature cache; False: none; a folder path:
        memory plus that disk folder.""",
    ),
    "checkpoint_dir": (
        "str, path or None",
        """A folder where the fit saves its state after every epoch (atomically):
        fitted again with the same data and parameters, a fit that was
        interrupted (even killed) resumes from its last finished epoch and ends
        as the uninterrupted fit would have (``resumed_at_epoch_`` says
        where), and a finished one is loaded, not trained again. Each fit
        has its own file there (named by a hash of the estimator, the
        parameters, the samples' content and y), so clones in a grid search
        share the folder. With ``cache=True`` the frozen blocks' outputs
        are kept in ``checkpoint_dir/features`` too. Without
        ``random_state``, the seed drawn at the first attempt is reused.""",
    ),
    "device": (
        '{"auto", "cpu", "cuda", "cuda:N", "mps"}',
        """"auto" picks CUDA, then MPS, then CPU; on CUDA
        training uses bfloat16 autocast and pinned memory.""",
    ),
    "random_state": (
        "int, RandomState or None",
        """Seeds weight initialisation, shuffling, dropout and the validation
        split, without touching the global RNG.""",
    ),
    "verbose": ("bool", "Epoch table and progress bar."),
    "kwargs": (
        "",
        """skorch's prefixed parameters: ``module__hidden`` / ``module__dropout``
        (the new head's hidden units and dropout), ``optimizer__*``,
        ``criterion__*``, ``iterator_train__*``, ``iterator_valid__*``,
        ``callbacks__*``, ``dataset__*``. Any other name is an error at fit.""",
    ),
}


#: TimeSeriesRegressor's head_init: also Fracast's pretrained forecasting head.
FORECAST_HEAD_DOC = {
    "head_init": (
        '{"probe", "random", "forecast"}',
        DOCS["head_init"][1]
        + """ "forecast" (a forecasting model such as
        ``"fracast"``): start from its pretrained forecasting head, which gives
        the median forecast of the next values; y holds each window's next 1
        to 48 values (one output each) and ``normalize=None`` keeps the
        windows' own scale, which the head reads. The head learns at the
        blocks' rate (``lr * backbone_lr_scale``); no cache, no probe.""",
    )
}

ATTRIBUTES = {
    "classifier": [
        (
            "classes_",
            "ndarray",
            "The class labels (for multi-label y: the label columns 0..n_labels-1).",
        ),
        ("multilabel_", "bool", "Whether y was a multi-label indicator matrix."),
    ],
    "common": [
        (
            "net_",
            "skorch.NeuralNet",
            "The trained skorch net (its ``module_`` holds the trained blocks and head).",
        ),
        ("history_", "skorch.History", "Per-epoch losses and durations."),
        (
            "fit_plan_",
            "FitPlan",
            "Every decision ``fit`` took: freeze schedule, cache, epochs, validation.",
        ),
        (
            "n_trainable_blocks_",
            "int",
            "Blocks trained from the first epoch (counted from the top).",
        ),
        (
            "trainable_schedule_",
            "tuple of (int, int)",
            "Trainable blocks at the first and the last epoch.",
        ),
        (
            "cached_blocks_",
            "int",
            "How many lower blocks ran once, through the cache, instead of every epoch.",
        ),
        ("max_epochs_", "int", 'The epoch budget used (``max_epochs="auto"`` resolved).'),
        (
            "resumed_at_epoch_",
            "int or None",
            """With ``checkpoint_dir``: how many epochs were loaded from a checkpoint
        instead of trained (0: none; every epoch: the fit had finished
        before). None without ``checkpoint_dir``.""",
        ),
        (
            "early_stopping_",
            "bool",
            'Whether early stopping was on (``early_stopping="auto"`` resolved).',
        ),
        (
            "validation_rows_",
            "ndarray of int or None",
            """Positions of the rows held out for early stopping and for the
        probe floor (None without a split, or with a ``train_split`` callable).""",
        ),
        (
            "fine_tuning_helped_",
            "bool or None",
            """Whether the fine-tuned network beat the linear probe on the held-out
        rows (a strictly higher ``score``; a tie keeps the probe). When it did not, fit
        keeps the probe (the pretrained blocks unchanged, the head fitted on
        their features) and warns with :class:`~sktransfer.FineTuningWarning`.
        None when nothing was compared: no blocks trained, no held-out split
        (few rows: see ``early_stopping``; a ``train_split`` callable), or a
        ``domain_loss`` (its held-out rows are source rows, which cannot
        judge adaptation).""",
        ),
        (
            "validation_scores_",
            "dict or None",
            """``{"probe": s, "fine_tuned": s}``, the two ``score`` values (accuracy,
        or R^2 for regressors) on the held-out rows, when they were compared.""",
        ),
        (
            "domain_rows_",
            "tuple of (int, int) or None",
            "(source rows, target rows) when fitted with a ``domain_loss``.",
        ),
        ("block_names_", "list of str", "The backbone's blocks in forward order."),
        (
            "backbone_identity_",
            "str",
            "Content hash of the weights and preprocessing used (checked when cached blocks run).",
        ),
        ("preprocess_", "object or None", "The backbone's input preprocessing, for prediction."),
        (
            "embedding_dim_",
            "int",
            "Number of features :meth:`transform` returns (what the head reads).",
        ),
        ("n_features_in_", "int", "Columns of X seen at fit (1: one column of texts or images)."),
        ("feature_names_in_", "ndarray of str", "The column name, when X was a DataFrame."),
    ],
}


def document(cls):
    """Fill ``{parameters}`` and ``{attributes}`` in ``cls.__doc__``.

    Parameters come from :data:`DOCS` in the order of ``cls.__init__``'s
    signature (a parameter without a doc is a KeyError at import); the
    attributes from :data:`ATTRIBUTES` for the class's role.
    """
    attributes = ["Attributes", "    ----------"]
    for name, kind, text in ATTRIBUTES.get(cls._role, []) + ATTRIBUTES["common"]:
        attributes += [f"    {name} : {kind}", f"        {text}"]
    lines = ["Parameters", "    ----------"]
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        # A KeyError here is an undocumented parameter.
        kind, text = getattr(cls, "_doc_overrides", {}).get(name) or DOCS[name]
        if param.kind is param.VAR_KEYWORD:
            lines.append(f"    **{name}")
        else:
            lines.append(f"    {name} : {kind}, default={param.default!r}")
        lines.append(f"        {text}")
    cls.__doc__ = cls.__doc__.replace("{parameters}", "\n".join(lines)).replace(
        "{attributes}", "\n".join(attributes)
    )


def signature_names(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD]


def extra_params(estimator):
    """Keyword arguments stored outside the signature (skorch's prefixed parameters, or typos)."""
    names = set(signature_names(type(estimator)))
    return {
        k: v
        for k, v in vars(estimator).items()
        if k not in names and not k.startswith("_") and not k.endswith("_")
    }


def _suggestion(key, names):
    for prefix in SKORCH_PREFIXES:
        stem = prefix[:-2]
        if key.startswith(stem + "_") and not key.startswith(prefix):
            return f" Did you mean {prefix + key[len(stem) + 1 :]!r}?"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_extra_params(estimator):
    """Raise for a keyword that is neither a parameter nor skorch-prefixed; validate the head's."""
    name = type(estimator).__name__
    names = signature_names(type(estimator))
    extra = extra_params(estimator)
    for key in sorted(extra):
        if not any(key.startswith(p) and len(key) > len(p) for p in SKORCH_PREFIXES):
            raise ValueError(
                f"{name} got an unexpected keyword argument {key!r}.{_suggestion(key, names)} Its "
                f"parameters are {sorted(names)}, and skorch's prefixed parameters start with one "
                f"of {list(SKORCH_PREFIXES)}."
            )
    head = {k: v for k, v in extra.items() if k.startswith("module__")}
    unknown = sorted(set(head) - set(HEAD_CONSTRAINTS))
    if unknown:
        raise ValueError(
            f"module__ parameters configure the new head: hidden, dropout; got {unknown}."
        )
    validate_parameter_constraints(HEAD_CONSTRAINTS, head, caller_name=name)
    _check_callbacks(name, estimator.callbacks)
    return extra


def _check_callbacks(name, callbacks):
    from skorch.callbacks import Callback

    for i, cb in enumerate(callbacks or []):
        item = cb[1] if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str) else cb
        if not isinstance(item, Callback):
            raise ValueError(
                f"{name}: callbacks[{i}] is {cb!r}; each callback must be a skorch Callback "
                "instance or a (name, Callback) pair."
            )
