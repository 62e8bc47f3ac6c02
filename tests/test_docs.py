"""Every public estimator documents its parameters (in signature order) and its attributes."""

import inspect
import re

import numpy as np
import pandas as pd
import pytest

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
    TimeSeriesClassifier,
    TimeSeriesEncoder,
    TimeSeriesRegressor,
)
from sktransfer.backbones.testing import TINY_SERIES
from sktransfer.selection import EncoderSelector

ESTIMATORS = [
    TextEncoder,
    ImageEncoder,
    TextClassifier,
    TextRegressor,
    ImageClassifier,
    ImageRegressor,
    TimeSeriesEncoder,
    TimeSeriesClassifier,
    TimeSeriesRegressor,
]


def _section(doc, title):
    """Names documented in a numpydoc section; "a, b, c" entries document several."""
    match = re.search(
        rf"\n    {title}\n    -+\n(.*?)(\n\n    [A-Z][a-z]+\n    -+|\Z)", doc, flags=re.S
    )
    assert match, f"no {title} section"
    names = []
    for entry in re.finditer(r"^    (\*{0,2}\w+(?:, \w+)*)(?: :|$)", match.group(1), flags=re.M):
        names += entry.group(1).split(", ")
    return names


@pytest.mark.parametrize("cls", [*ESTIMATORS, EncoderSelector])
def test_parameters_are_documented_in_signature_order(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    signature = [
        p.name if p.kind is not p.VAR_KEYWORD else f"**{p.name}" for p in params if p.name != "self"
    ]
    assert _section(cls.__doc__, "Parameters") == signature


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fitted_attributes_are_documented(cls):
    kind = cls.__name__[:4]
    X, model = {
        "Text": (["a b", "c d", "e f", "g h"] * 3, "sktransfer/tiny-text"),
        "Imag": (list(np.zeros((12, 8, 8), np.uint8)), "sktransfer/tiny-cnn"),
        "Time": (list(np.random.default_rng(0).random((12, 9))), TINY_SERIES),
    }[kind]
    est = cls(model=model, device="cpu")
    if "max_epochs" in est.get_params():
        est.set_params(max_epochs=1)
    est.fit(pd.DataFrame({"col": X}), np.arange(12) % 2)
    fitted = {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}
    assert fitted <= set(_section(cls.__doc__, "Attributes"))
