"""A test-only modality: numeric 2-D X (rows of numbers), with a tiny MLP backbone family.

This module is all that a new kind of input costs: the modality object, its
backbone family, and one line per public estimator to build it on this
modality. No estimator, cache or selection code changes for it. scikit-learn's
estimator checks run for real on every public estimator built on it
(``test_estimator_checks.py``), because its X is the numeric matrix they feed.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.validation import _get_feature_names, check_array

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)
from sktransfer.backbones import Backbone, register_backbone
from sktransfer.backbones._nets import BlockNet, GlobalPool
from sktransfer.backbones.base import ModelFacts
from sktransfer.modalities import Modality, Rows, Sample, digest, register_modality

TINY_MLP = "tests/tiny-mlp"


@dataclass(frozen=True)
class ArrayPreprocess:
    """Rows are zero-padded to the network's input width."""

    width: int

    def pad(self, rows):
        rows = np.asarray(rows, dtype=np.float32)
        out = np.zeros((len(rows), self.width), dtype=np.float32)
        out[:, : rows.shape[1]] = rows
        return out


class PadRow:
    """One row -> a padded float tensor; with ``augment``, a little Gaussian noise (training)."""

    def __init__(self, preprocess, augment):
        self.preprocess = preprocess
        self.augment = augment

    def __call__(self, row):
        x = torch.from_numpy(self.preprocess.pad(row[None])[0])
        return x + 0.05 * torch.randn_like(x) if self.augment else x


class ArrayModality(Modality):
    """Numbers: a 2-D array-like (n_samples, n_features), checked by scikit-learn's check_array."""

    name = "array"
    noun = "rows"
    input_tags = {"two_d_array": True}
    augmentations = (True, "flip")
    priority = 90

    def check_X(self, X, estimator):
        names = _get_feature_names(X)
        values = check_array(X, dtype=[np.float64, np.float32], input_name="X", estimator=estimator)
        return Rows(values.astype(np.float32), getattr(X, "index", None), names, values.shape[1])

    def looks_like(self, X):
        return isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf"

    def samples(self, rows, estimator):
        return [Sample(v, digest(np.ascontiguousarray(v).tobytes())) for v in rows.values]

    def prepare(self, items, backbone):
        width = backbone.preprocess.width
        if len(items[0]) > width:
            raise ValueError(
                f"{backbone.name} takes at most {width} features; got {len(items[0])}."
            )
        return torch.from_numpy(backbone.preprocess.pad(np.stack(items)))

    def dummy_batch(self, backbone):
        return torch.zeros(1, backbone.preprocess.width)

    def item_transform(self, preprocess, augment):
        return PadRow(preprocess, augment)

    def baseline(self):
        from sklearn.preprocessing import StandardScaler

        return "the numbers themselves", [StandardScaler()]


def build_tiny_mlp(name=TINY_MLP, *, weights="DEFAULT", device="cpu"):
    """Two tanh layers of width 32 (seed 0; ``weights=None``: seed 1)."""
    if weights not in ("DEFAULT", None):
        raise ValueError(f"weights={weights!r} for {name!r} must be 'DEFAULT' or None.")
    gen = torch.Generator().manual_seed(0 if weights is not None else 1)
    layers = []
    for _ in range(2):
        linear = torch.nn.Linear(32, 32)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(32, 32, generator=gen) / 32**0.5 * 1.5)
            linear.bias.zero_()
        layers.append(torch.nn.Sequential(linear, torch.nn.Tanh()))
    net = BlockNet(layers, GlobalPool()).to(device).eval()
    return Backbone(
        name=name,
        family="testing",
        modality="array",
        net=net,
        block_names=["layer1", "layer2"],
        preprocess=ArrayPreprocess(32),
        device=device,
    )


register_modality(ArrayModality())
register_backbone(
    TINY_MLP,
    build_tiny_mlp,
    "array",
    facts=ModelFacts(
        TINY_MLP,
        "array",
        family="testing",
        params=2 * (32 * 32 + 32),
        input_size=32,
        output_dim=32,
        n_blocks=2,
        pretraining_data="none (random weights)",
        licence="BSD-3-Clause",
        source="test",
    ),
)


# Every public estimator, on this modality: nothing but the modality changes.
class ArrayTextEncoder(TextEncoder):
    _modality = "array"


class ArrayImageEncoder(ImageEncoder):
    _modality = "array"


class ArrayTextClassifier(TextClassifier):
    _modality = "array"


class ArrayTextRegressor(TextRegressor):
    _modality = "array"


class ArrayImageClassifier(ImageClassifier):
    _modality = "array"


class ArrayImageRegressor(ImageRegressor):
    _modality = "array"
