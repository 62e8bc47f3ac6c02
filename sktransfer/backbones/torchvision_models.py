"""torchvision classification models as Backbones.

Weights follow torchvision's own terms: ``"DEFAULT"``, a weights-enum name
(``"IMAGENET1K_V1"`` or ``"ResNet18_Weights.IMAGENET1K_V1"``), ``None`` (random
initialisation, the from-scratch baseline) or a path to a local state dict.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

from .._deps import require
from .base import Backbone, ImagePreprocess, WeightsUnavailableError, can_reach

# Keys of each architecture's classification heads (GoogLeNet's and
# Inception-v3's auxiliary ones too): dropped from local state dicts whose
# head was trained for another number of classes.
_HEAD_PREFIXES = ("fc.", "classifier.", "heads.", "head.", "aux1.", "aux2.", "AuxLogits.")

# GoogLeNet and Inception-v3 warn that their default random initialisation
# will change; asking for the current one keeps weights=None the same baseline.
_RANDOM_INIT = {"googlenet": {"init_weights": True}, "inception_v3": {"init_weights": True}}

_IMAGENET = ImagePreprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def available_models():
    """torchvision's classification model names (e.g. ``resnet18``)."""
    models = require("torchvision.models", "torchvision backbones")
    return sorted(models.list_models(module=models))


def is_torchvision_model(name):
    try:
        return name in available_models()
    except ImportError:
        return False


def is_local_weights(weights):
    """Whether ``weights`` names a file rather than a torchvision weights enum."""
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (
        os.sep in weights or "/" in weights or Path(weights).suffix in (".pth", ".pt", ".bin", ".ckpt")
    )


def resolve_weights(arch, weights):
    """Map ``weights`` to a torchvision weights enum member, or None."""
    models = require("torchvision.models", "torchvision backbones")
    if weights is None or is_local_weights(weights):
        return None
    try:
        enum = models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise ValueError(f"torchvision has no pretrained weights for {arch!r}; use weights=None or a local file.") from None
    name = str(weights)
    if "." in name:
        cls_name, _, name = name.partition(".")
        if cls_name != enum.__name__:
            raise ValueError(f"weights={weights!r} are for another model; {arch!r} takes {enum.__name__} members.")
    if name == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[name]
    except KeyError:
        choices = ["DEFAULT"] + [m.name for m in enum]
        raise ValueError(f"weights={weights!r} is not a weights name of {arch!r}; choose one of {choices}, None, or a local file path.") from None


def checkpoint_path(weights_enum):
    """Where torchvision keeps (or would download) these weights."""
    torch = require("torch")
    filename = os.path.basename(urlparse(weights_enum.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _unavailable(arch, member, path):
    return WeightsUnavailableError(
        f"Pretrained weights for {arch!r} ({type(member).__name__}.{member.name}) are not on this machine "
        f"and cannot be downloaded now. Looked for {path} (torchvision's cache; set TORCH_HOME to move it) "
        f"and could not reach {urlparse(member.url).hostname}. To fix: on a machine with internet run "
        f"`python -c \"import torchvision; torchvision.models.get_model('{arch}', weights='{member.name}')\"` "
        f"and copy {path.name} to {path.parent}; or pass weights='/path/to/{path.name}'; "
        "or weights=None for random initialisation (a from-scratch baseline)."
    )


def _load_local_state_dict(path, arch):
    torch = require("torch")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} for {arch!r} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds here
        raise ValueError(f"Could not read {str(path)!r} as a torch state dict for {arch!r}: {exc}") from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} does not hold a state dict (got {type(state).__name__}); save model.state_dict().")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_into(model, state, arch, source):
    own = model.state_dict()
    kept = {}
    for key, value in state.items():
        if key.startswith(_HEAD_PREFIXES) and (key not in own or own[key].shape != value.shape):
            continue  # a head trained for another task; the backbone drops it anyway
        kept[key] = value
    missing, unexpected = model.load_state_dict(kept, strict=False)
    missing = [k for k in missing if not k.startswith(_HEAD_PREFIXES)]
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match torchvision's {arch!r}: missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}."
        )


def split_blocks(arch, model):
    """Cut a torchvision classifier into ordered (name, block) pairs and a pool."""
    nn = require("torch.nn")
    tvm = require("torchvision.models")
    m = require("sktransfer.backbones._modules")

    if isinstance(model, tvm.ResNet):
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        blocks = [("stem", stem)] + [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.RegNet):
        blocks = [("stem", model.stem)] + list(model.trunk_output.named_children())
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.VisionTransformer):
        layers = list(model.encoder.layers.named_children())
        return [("stem", m.ViTStem(model))] + layers, m.ClassTokenPool(model.encoder.ln)
    if isinstance(model, tvm.ConvNeXt):
        feats = list(model.features.children())
        blocks = [("stem", feats[0])]
        # Group each downsampling layer with the stage it feeds.
        blocks.append(("stage1", feats[1]))
        for i, j in enumerate(range(2, len(feats), 2), start=2):
            blocks.append((f"stage{i}", nn.Sequential(feats[j], feats[j + 1])))
        return blocks, m.NormPool(model.classifier[0])
    if isinstance(model, tvm.SwinTransformer):
        feats = list(model.features.children())
        # Patch embedding, then each stage with the patch merging that feeds it; NHWC throughout.
        blocks = [("stem", feats[0]), ("stage1", feats[1])]
        for i, j in enumerate(range(2, len(feats), 2), start=2):
            blocks.append((f"stage{i}", nn.Sequential(feats[j], feats[j + 1])))
        return blocks, m.ChannelsLastNormPool(model.norm)
    if isinstance(model, tvm.DenseNet):
        feats = list(model.features.named_children())
        stem = nn.Sequential(*[mod for _, mod in feats[:4]])
        rest = feats[4:]
        final = rest[-1]  # norm5: the head applies ReLU after it
        blocks = [("stem", stem)] + rest[:-1] + [(final[0], nn.Sequential(final[1], nn.ReLU()))]
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.VGG):
        blocks, current, stage = [], [], 1
        for layer in model.features:
            current.append(layer)
            if isinstance(layer, nn.MaxPool2d):
                blocks.append((f"stage{stage}", nn.Sequential(*current)))
                current, stage = [], stage + 1
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.MNASNet):
        layers = list(model.layers.children())
        blocks = [("stem", nn.Sequential(*layers[:8]))]
        blocks += [(f"stage{i}", layers[8 + i]) for i in range(6)]
        blocks.append(("head", nn.Sequential(*layers[14:])))
        return blocks, m.GlobalPool()
    if isinstance(model, (tvm.GoogLeNet, tvm.Inception3)):
        # Each downsampling max-pool opens the stage it feeds; the auxiliary
        # classifiers (training-time only in torchvision) are left out.
        def seq(names, *first):
            return nn.Sequential(*first, *(getattr(model, n) for n in names))

        if isinstance(model, tvm.GoogLeNet):
            stem = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"]
            stages = [("inception3", ["inception3a", "inception3b"]),
                      ("inception4", ["maxpool3"] + [f"inception4{c}" for c in "abcde"]),
                      ("inception5", ["maxpool4", "inception5a", "inception5b"])]
        else:
            stem = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                    "Conv2d_4a_3x3", "maxpool2"]
            stages = [("mixed5", [f"Mixed_5{c}" for c in "bcd"]), ("mixed6", [f"Mixed_6{c}" for c in "abcde"]),
                      ("mixed7", [f"Mixed_7{c}" for c in "abc"])]
        blocks = [("stem", seq(stem, m.InceptionInput(model.transform_input, device=next(model.parameters()).device)))]
        blocks += [(name, seq(parts)) for name, parts in stages]
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.ShuffleNetV2):
        blocks = [("stem", nn.Sequential(model.conv1, model.maxpool))]
        blocks += [(f"stage{i}", getattr(model, f"stage{i}")) for i in (2, 3, 4)] + [("head", model.conv5)]
        return blocks, m.GlobalPool()
    if isinstance(model, tvm.MaxVit):
        blocks = [("stem", model.stem)] + [(f"stage{i}", b) for i, b in enumerate(model.blocks, start=1)]
        # The head up to its pre-logits layer (pool, LayerNorm, Linear, Tanh), as timm's pre_logits.
        return blocks, nn.Sequential(*list(model.classifier.children())[:-1])
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        # MobileNet v2/v3, EfficientNet v1/v2, SqueezeNet, AlexNet.
        children = list(features.children())
        names = ["stem"] + [f"features.{i}" for i in range(1, len(children) - 1)] + ["head"]
        return list(zip(names, children)), m.GlobalPool()
    raise ValueError(
        f"sktransfer does not know how to cut torchvision's {arch!r} into blocks yet; "
        "supported: ResNet/ResNeXt/Wide-ResNet, RegNet, MobileNet v2/v3, EfficientNet v1/v2, "
        "MNASNet, ConvNeXt, DenseNet, VGG, ViT, Swin, GoogLeNet, Inception-v3, ShuffleNet v2, MaxViT, "
        "SqueezeNet, AlexNet."
    )


def build(arch, weights="DEFAULT", device="cpu"):
    """Build a torchvision model as a :class:`Backbone` (see module docstring)."""
    torch = require("torch")
    models = require("torchvision.models", "torchvision backbones")
    m = require("sktransfer.backbones._modules")

    member = resolve_weights(arch, weights)
    if member is not None:
        path = checkpoint_path(member)
        if not path.is_file() and not can_reach(member.url):
            raise _unavailable(arch, member, path)
        model = models.get_model(arch, weights=member)
        preprocess = ImagePreprocess.from_torchvision(member.transforms())
        tag = f"{type(member).__name__}.{member.name}"
    else:
        # Random initialisation is deterministic so that "random weights" is
        # one reproducible baseline (and a valid cache identity), without
        # touching the global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = models.get_model(arch, weights=None, **_RANDOM_INIT.get(arch, {}))
        try:
            preprocess = ImagePreprocess.from_torchvision(models.get_model_weights(arch).DEFAULT.transforms())
        except (ValueError, KeyError, AttributeError):
            preprocess = _IMAGENET
        tag = None
        if weights is not None:
            _load_into(model, _load_local_state_dict(weights, arch), arch, f"weights file {str(weights)!r}")
            tag = f"file:{os.fspath(weights)}"
    blocks, pool = split_blocks(arch, model)
    net = m.BlockNet([b for _, b in blocks], pool).to(device).eval()
    return Backbone(
        name=arch,
        family="torchvision",
        modality="image",
        net=net,
        block_names=[n for n, _ in blocks],
        preprocess=preprocess,
        device=device,
        arch=arch,
        weights_tag=tag,
    )
