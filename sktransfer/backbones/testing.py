"""Tiny deterministic backbones for tests and examples.

``"sktransfer/tiny-text"`` and ``"sktransfer/tiny-cnn"`` are random networks
with a fixed seed, small enough to run scikit-learn's estimator checks in
seconds. They carry no pretrained knowledge: never use them for real work.
"""

from .._deps import require
from .base import Backbone, ImagePreprocess

TINY_TEXT = "sktransfer/tiny-text"
TINY_CNN = "sktransfer/tiny-cnn"


def build_tiny_text(weights="DEFAULT", device="cpu"):
    m = require("sktransfer.backbones._modules")
    net = m.TinyTextNet(seed=0 if weights is not None else 1).to(device).eval()
    return Backbone(name=TINY_TEXT, family="testing", modality="text", net=net,
                    block_names=["embed", "proj"], device=device)


def build_tiny_cnn(weights="DEFAULT", device="cpu"):
    """``weights``: "DEFAULT" (seed 0), None (seed 1), or a saved state dict of the net."""
    torch = require("torch")
    m = require("sktransfer.backbones._modules")
    net = m.tiny_cnn(seed=1 if weights is None else 0)
    if weights not in (None, "DEFAULT"):
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    return Backbone(name=TINY_CNN, family="testing", modality="image", net=net,
                    block_names=["stem", "stage1", "stage2"], weights_tag=None if weights is None else str(weights),
                    preprocess=ImagePreprocess(20, 16, (0.5,) * 3, (0.25,) * 3), device=device)
