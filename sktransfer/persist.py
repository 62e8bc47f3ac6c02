"""Save and load estimators safely with skops (``pip install "sktransfer[persist]"``).

``pickle.load`` runs whatever code the file names, so a pickle from someone
else is a program you run. ``skops.io`` files hold a tree of known types and
numpy arrays instead, and loading one builds only the types you trust.
Every sktransfer estimator, fitted or not, is stored that way:

- its parameters and fitted attributes as Python values and numpy arrays
  (a fine-tuner's trained network as one array per weight, never a pickled
  tensor, so a file saved on a GPU machine loads on a CPU-only one);
- the backbone it was fitted on by name and content hash, as with pickle:
  the pretrained weights are not copied into the file, and they are checked
  against that hash when the estimator is first used;
- sktransfer's version (a file from another version is refused, with the
  version to install) and, for a fine-tuner, a SHA-256 of its trained
  weights (a file whose weights were changed is refused).

:func:`trusted_types` lists sktransfer's own types; :func:`load` trusts
those and nothing else unless told. Pickle keeps working the same way.

Examples
--------
>>> import numpy as np
>>> from sktransfer import ImageClassifier
>>> from sktransfer.persist import dump, load
>>> images = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
>>> clf = ImageClassifier(model="sktransfer/tiny-cnn", max_epochs=1, random_state=0)
>>> clf = clf.fit(images, np.arange(16) % 2)
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
>>> dump(clf, path)
>>> loaded = load(path)
>>> bool((loaded.predict_proba(images) == clf.predict_proba(images)).all())
True
"""

from ._deps import require

__all__ = ["dump", "load", "trusted_types"]

# Internal types that fitted estimators hold; each is plain data (frozen
# dataclasses of numbers and strings, or skorch's validation split).
_INTERNAL = [
    "sktransfer.finetune._plan.FitPlan",
    "sktransfer.modalities.image.ImagePreprocess",
    "skorch.dataset.ValidSplit",
]


def trusted_types():
    """The type names a file of sktransfer estimators may hold besides skops' defaults.

    Pass them to ``skops.io.load(file, trusted=...)``; :func:`load` does.
    They are sktransfer's public estimators (and those of modalities
    registered since) and the plain-data types their fitted state holds.

    Returns
    -------
    list of str

    Examples
    --------
    >>> "sktransfer.encoders.TextEncoder" in trusted_types()
    True
    """
    from .modalities import _ESTIMATORS
    from .selection import EncoderSelector

    classes = [*_ESTIMATORS.values(), EncoderSelector]
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
    return sorted(names | set(_INTERNAL))


def dump(estimator, file):
    """Write ``estimator`` (fitted or not, or a pipeline holding some) to a skops file.

    Parameters
    ----------
    estimator : estimator
    file : str, path or file object
    """
    sio = require("skops.io", purpose="saving with skops")
    sio.dump(estimator, file)


def load(file, trusted=None):
    """Read a skops file, trusting sktransfer's types and ``trusted``.

    Parameters
    ----------
    file : str, path or file object
    trusted : list of str, optional
        More type names to trust (e.g. those of your own steps in a
        pipeline); ``skops.io.get_untrusted_types(file=...)`` lists what a
        file holds. A type that is neither trusted nor skops' default is an
        error that names it, and nothing is built.

    Returns
    -------
    The estimator.
    """
    sio = require("skops.io", purpose="loading with skops")
    return sio.load(file, trusted=trusted_types() + list(trusted or []))
