"""The public fine-tuners: modality, signature and documentation (the work is in ``_base``)."""

from . import _params
from ._base import _Classifier, _Regressor

__all__ = [
    "AudioClassifier",
    "ImageClassifier",
    "ImageRegressor",
    "TextClassifier",
    "TextRegressor",
    "TimeSeriesClassifier",
    "TimeSeriesRegressor",
]


class ImageClassifier(_Classifier):
    """Fine-tune a pretrained image network to classify images.

    X takes what :class:`~sktransfer.ImageEncoder` takes (paths, PIL images,
    uint8 arrays). Training images are augmented (``augment``); evaluation
    uses the weights' own preprocessing. y holds labels of any type, or a
    2-D binary indicator matrix for multi-label.

    {parameters}

    {attributes}

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
    _parameter_constraints = {**_Classifier._parameter_constraints, **_params.IMAGE_CONSTRAINTS}

    def __init__(
        self,
        model="efficientnet_lite0",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        augment="auto",
        freeze_batchnorm="auto",
        class_weight=None,
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.augment = augment
        self.freeze_batchnorm = freeze_batchnorm
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class ImageRegressor(_Regressor):
    """Fine-tune a pretrained image network to predict numbers (one or several outputs).

    X takes what :class:`~sktransfer.ImageEncoder` takes. y is standardised
    inside; predictions are on its original scale.

    {parameters}

    {attributes}

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
    _parameter_constraints = {**_Regressor._parameter_constraints, **_params.IMAGE_CONSTRAINTS}

    def __init__(
        self,
        model="efficientnet_lite0",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        augment="auto",
        freeze_batchnorm="auto",
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.augment = augment
        self.freeze_batchnorm = freeze_batchnorm
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class TextClassifier(_Classifier):
    """Fine-tune a pretrained sentence-transformers model to classify texts.

    X takes what :class:`~sktransfer.TextEncoder` takes. Texts are tokenised
    per batch with dynamic padding and the model's truncation length. y holds
    labels of any type, or a 2-D binary indicator matrix for multi-label.

    {parameters}

    {attributes}

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
    _parameter_constraints = {**_Classifier._parameter_constraints, **_params.TEXT_CONSTRAINTS}

    def __init__(
        self,
        model="all-MiniLM-L6-v2",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        objective="task",
        oov="ignore",
        class_weight=None,
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.objective = objective
        self.oov = oov
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class TextRegressor(_Regressor):
    """Fine-tune a pretrained sentence-transformers model to predict numbers (one or more).

    X takes what :class:`~sktransfer.TextEncoder` takes. y is standardised
    inside; predictions are on its original scale.

    {parameters}

    {attributes}

    Examples
    --------
    >>> from sktransfer import TextRegressor
    >>> X = ["one", "two two", "three three three"] * 5
    >>> reg = TextRegressor(model="sktransfer/tiny-text", max_epochs=2, random_state=0)
    >>> reg.fit(X, [len(t) for t in X]).predict(["two two"]).shape
    (1,)
    """

    _modality = "text"
    _parameter_constraints = {**_Regressor._parameter_constraints, **_params.TEXT_CONSTRAINTS}

    def __init__(
        self,
        model="all-MiniLM-L6-v2",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        objective="task",
        oov="ignore",
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.objective = objective
        self.oov = oov
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class TimeSeriesClassifier(_Classifier):
    """Fine-tune a pretrained sequence network to classify time series.

    X takes what :class:`~sktransfer.TimeSeriesEncoder` takes; each channel
    of a series goes through the network alone and their features meet in
    the head. y holds labels of any type, or a 2-D binary indicator matrix
    for multi-label.

    {parameters}

    {attributes}

    Examples
    --------
    >>> from sktransfer import TimeSeriesClassifier
    >>> from sktransfer.datasets import load_ucr
    >>> X, y = load_ucr("ItalyPowerDemand", split="train")
    >>> clf = TimeSeriesClassifier(model="fracast", random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:3]).shape
    (['1', '2'], (3,))
    """

    _modality = "timeseries"
    _parameter_constraints = {**_Classifier._parameter_constraints, **_params.SERIES_CONSTRAINTS}

    def __init__(
        self,
        model="fracast",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        normalize="zscore",
        length=None,
        missing="error",
        freeze_batchnorm="auto",
        class_weight=None,
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.normalize = normalize
        self.length = length
        self.missing = missing
        self.freeze_batchnorm = freeze_batchnorm
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class TimeSeriesRegressor(_Regressor):
    """Fine-tune a pretrained sequence network to predict numbers from time series.

    X takes what :class:`~sktransfer.TimeSeriesEncoder` takes. y is one
    number per series or several (forecasting: the next values of each
    window, one output each); it is standardised inside and predictions are
    on its original scale. For forecasting, keep each window's level
    (``normalize=None``) so the head can read it.

    {parameters}

    {attributes}

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer import TimeSeriesRegressor
    >>> from sktransfer.datasets import load_ucr
    >>> X, y = load_ucr("Covid3Month", split="train")
    >>> reg = TimeSeriesRegressor(model="fracast", random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _modality = "timeseries"
    _parameter_constraints = {
        **_Regressor._parameter_constraints,
        **_params.SERIES_CONSTRAINTS,
        **_params.FORECAST_HEAD_INIT,
    }
    _doc_overrides = _params.FORECAST_HEAD_DOC

    def __init__(
        self,
        model="fracast",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        normalize="zscore",
        length=None,
        missing="error",
        freeze_batchnorm="auto",
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.normalize = normalize
        self.length = length
        self.missing = missing
        self.freeze_batchnorm = freeze_batchnorm
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)


class AudioClassifier(_Classifier):
    """Fine-tune a pretrained speech network to classify audio clips (speakers, words...).

    X takes what :class:`~sktransfer.AudioEncoder` takes (file paths,
    waveforms with ``sample_rate``, ``(waveform, rate)`` pairs, Hugging Face
    audio dicts). The network embeds each 1.6 s window of a clip; the head
    reads their mean. y holds labels of any type, or a 2-D binary indicator
    matrix for multi-label.

    {parameters}

    {attributes}

    Examples
    --------
    >>> from sktransfer import AudioClassifier
    >>> from sktransfer.datasets import make_speech
    >>> waves, speakers, _ = make_speech(4, voices=("en-us+m1", "en-us+f2"))
    >>> clf = AudioClassifier(sample_rate=16000, random_state=0).fit(waves, speakers)
    >>> clf.predict(waves[:2]).tolist()
    ['en-us+m1', 'en-us+m1']
    """

    _modality = "audio"
    _parameter_constraints = {**_Classifier._parameter_constraints, **_params.AUDIO_CONSTRAINTS}

    def __init__(
        self,
        model="resemblyzer-ge2e",
        *,
        weights="DEFAULT",
        n_trainable_blocks=0,
        head_init="probe",
        sample_rate=None,
        class_weight=None,
        max_epochs="auto",
        lr=3e-3,
        batch_size=32,
        optimizer="adamw",
        backbone_lr_scale="auto",
        layer_decay=0.8,
        warmup_fraction=0.1,
        unfreeze_every=None,
        early_stopping="auto",
        patience=3,
        validation_fraction=0.1,
        train_split="auto",
        callbacks=None,
        domain_loss=None,
        domain_loss_weight=1.0,
        cache=True,
        checkpoint_dir=None,
        device="auto",
        random_state=None,
        verbose=False,
        **kwargs,
    ):
        self.model = model
        self.weights = weights
        self.n_trainable_blocks = n_trainable_blocks
        self.head_init = head_init
        self.sample_rate = sample_rate
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.backbone_lr_scale = backbone_lr_scale
        self.layer_decay = layer_decay
        self.warmup_fraction = warmup_fraction
        self.unfreeze_every = unfreeze_every
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.train_split = train_split
        self.callbacks = callbacks
        self.domain_loss = domain_loss
        self.domain_loss_weight = domain_loss_weight
        self.cache = cache
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.__dict__.update(kwargs)
