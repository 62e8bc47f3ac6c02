"""Backbones: loading through the real weights APIs, blocks, identity, errors."""

import time

import numpy as np
import pytest
import torch
import torchvision

from sktransfer import ImageEncoder, TextEncoder, WeightsUnavailableError
from sktransfer.backbones import efficientnet_lite, get_backbone, model_modality
from sktransfer.backbones.sentence_transformers_models import minilm_path
from sktransfer.backbones.torchvision_models import _RANDOM_INIT, checkpoint_path, resolve_weights


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache (TORCH_HOME) for this test only."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def cached_resnet18(torch_home):
    """Weights for resnet18 put where torchvision's weights API looks for them.

    No hub is reachable here, so the fixture makes the checkpoint itself (a
    seeded network) and saves it under the exact file name torchvision uses.
    """
    member = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    path = checkpoint_path(member)
    path.parent.mkdir(parents=True)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(123)
    model = torchvision.models.resnet18()
    torch.random.set_rng_state(gen_state)
    torch.save(model.state_dict(), path)
    return model.eval(), path


def _penultimate(model, x):
    """torchvision's own forward with the classifier removed."""
    with torch.inference_mode():
        return model(x)


def test_default_weights_load_through_torchvision_cache(cached_resnet18):
    model, path = cached_resnet18
    bb = get_backbone("resnet18", weights="DEFAULT", device="cpu")
    assert bb.weights_tag == "ResNet18_Weights.IMAGENET1K_V1"
    assert bb.block_names == ["stem", "layer1", "layer2", "layer3", "layer4"]
    x = torch.randn(2, 3, 224, 224)
    model.fc = torch.nn.Identity()
    with torch.inference_mode():
        ours = bb.net(x)
    np.testing.assert_allclose(ours.numpy(), _penultimate(model, x).numpy(), rtol=1e-4, atol=1e-5)
    # Named weights resolve to the same file.
    for name in ("IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        assert get_backbone("resnet18", weights=name, device="cpu").identity == bb.identity


def test_missing_weights_fail_fast_with_fix(torch_home, monkeypatch):
    monkeypatch.delenv("SKTRANSFER_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        ImageEncoder(model="resnet50", weights="IMAGENET1K_V2", device="cpu").fit(
            np.zeros((1, 8, 8), np.uint8)
        )
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "'resnet50'" in message and "IMAGENET1K_V2" in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "weights=None" in message and "TORCH_HOME" in message


def test_missing_text_model_fails_fast(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(
        WeightsUnavailableError, match=r"'someorg/not-a-real-model'.*Hugging Face cache"
    ):
        TextEncoder(model="someorg/not-a-real-model").fit(["a"])
    assert time.perf_counter() - start < 10


def test_weight_names_are_checked():
    with pytest.raises(
        ValueError,
        match=r"not a weights name of 'resnet18'; choose one of \['DEFAULT', 'IMAGENET1K_V1'\]",
    ):
        resolve_weights("resnet18", "IMAGENET1K_V9")
    with pytest.raises(ValueError, match="are for another model"):
        resolve_weights("resnet18", "ResNet50_Weights.IMAGENET1K_V2")
    assert resolve_weights("resnet50", "DEFAULT").name == "IMAGENET1K_V2"


def test_unknown_model_lists_close_matches():
    with pytest.raises(
        ValueError, match=r"Unknown model 'resnet19'. Did you mean 'resnet1d', 'resnet18'"
    ):
        model_modality("resnet19")
    with pytest.raises(ValueError, match=r"Did you mean 'efficientnet_lite0'"):
        ImageEncoder(model="efficientnet_lite").fit(np.zeros((1, 8, 8), np.uint8))


def test_local_weights_file_from_another_task(tmp_path):
    """A checkpoint fine-tuned elsewhere (10-class head) loads as a backbone."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / "finetuned.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    bb = get_backbone("resnet18", weights=str(path), device="cpu")
    model.fc = torch.nn.Identity()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        np.testing.assert_allclose(bb.net(x).numpy(), model.eval()(x).numpy(), rtol=1e-4, atol=1e-5)
    assert bb.identity != get_backbone("resnet18", weights=None, device="cpu").identity

    wrong = tmp_path / "wrong.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(ValueError, match="does not match torchvision's 'resnet18': missing keys"):
        get_backbone("resnet18", weights=str(wrong), device="cpu")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_backbone("resnet18", weights=str(tmp_path / "absent.pth"), device="cpu")


def test_fitted_encoder_refuses_changed_weights(tmp_path):
    path = tmp_path / "w.pth"
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    images = np.zeros((2, 32, 32), np.uint8)
    enc = ImageEncoder(model="resnet18", weights=str(path), device="cpu").fit(images)
    torch.manual_seed(2)
    time.sleep(0.01)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(RuntimeError, match="differ from those ImageEncoder was fitted with"):
        enc.transform(images)


def test_random_init_is_deterministic_and_leaves_global_rng_alone():
    from sktransfer.backbones import clear_backbones

    state = torch.random.get_rng_state()
    a = get_backbone("mobilenet_v3_small", weights=None, device="cpu").identity
    clear_backbones()
    b = get_backbone("mobilenet_v3_small", weights=None, device="cpu").identity
    assert a == b
    assert torch.equal(state, torch.random.get_rng_state())


ARCHS = [
    ("mobilenet_v3_small", lambda m: setattr(m, "classifier", torch.nn.Identity()), None),
    ("efficientnet_b0", lambda m: setattr(m, "classifier", torch.nn.Identity()), None),
    ("regnet_y_400mf", lambda m: setattr(m, "fc", torch.nn.Identity()), None),
    ("densenet121", lambda m: setattr(m, "classifier", torch.nn.Identity()), None),
    ("mnasnet0_5", lambda m: setattr(m, "classifier", torch.nn.Identity()), None),
    ("convnext_tiny", lambda m: m.classifier.__setitem__(2, torch.nn.Identity()), pytest.mark.slow),
    ("vit_b_16", lambda m: setattr(m, "heads", torch.nn.Identity()), pytest.mark.slow),
    ("swin_t", lambda m: setattr(m, "head", torch.nn.Identity()), pytest.mark.slow),
    ("googlenet", lambda m: setattr(m, "fc", torch.nn.Identity()), None),
    ("shufflenet_v2_x0_5", lambda m: setattr(m, "fc", torch.nn.Identity()), None),
    ("inception_v3", lambda m: setattr(m, "fc", torch.nn.Identity()), pytest.mark.slow),
    # MaxViT's features are its pre-logits (the head's Linear + Tanh), as in timm.
    ("maxvit_t", lambda m: m.classifier.__setitem__(5, torch.nn.Identity()), pytest.mark.slow),
]


@pytest.mark.parametrize(
    "arch, strip_head",
    [pytest.param(a, s, marks=m or ()) for a, s, m in ARCHS],
)
def test_blocks_reproduce_torchvision_features(arch, strip_head):
    """Running our blocks + pool equals torchvision's forward minus its classifier."""
    bb = get_backbone(arch, weights=None, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        # The same initialisation arguments as the Backbone (GoogLeNet's and Inception-v3's
        # init_weights).
        model = torchvision.models.get_model(
            arch, weights=None, **_RANDOM_INIT.get(arch, {})
        ).eval()
    strip_head(model)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        expected = model(x).numpy()
        ours = bb.net(x).numpy()
    assert ours.shape == expected.shape == (1, bb.output_dim())
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4)
    assert len(bb.block_names) >= 4 and bb.block_names[0] in ("stem", "stage1")
    # Every block is a feature layer; CNN channels grow with depth.
    dims = [bb.output_dim(i) for i in range(len(bb.block_names))]
    assert dims[-1] == bb.output_dim()
    assert dims[0] < dims[-1] or arch.startswith("vit")  # ViTs keep one width


@pytest.mark.parametrize("arch", ["googlenet", "inception_v3"])
def test_inception_input_transform_is_kept(arch):
    """With ImageNet weights torchvision rescales the input (transform_input); so do the blocks."""
    from sktransfer.backbones._nets import BlockNet
    from sktransfer.backbones.torchvision_models import split_blocks

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.get_model(
            arch, weights=None, init_weights=True, transform_input=True
        ).eval()
    model.fc = torch.nn.Identity()
    blocks, pool = split_blocks(arch, model)
    x = torch.randn(1, 3, 160, 160)
    with torch.inference_mode():
        expected = model(x)
        ours = BlockNet([b for _, b in blocks], pool).eval()(x)
        model.transform_input = False
        without = model(x)
    scale = float(expected.abs().max())
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5 * scale)
    assert float((ours - without).abs().max()) > 0.01 * scale  # the transform matters
    # Off for random weights: the input passes through unchanged.
    assert get_backbone(arch, weights=None, device="cpu").net.blocks[0][0](x).equal(x)


def test_efficientnet_lite0_ships_and_recognises_a_photo():
    from PIL import Image
    from sklearn.datasets import load_sample_images

    lite = pytest.importorskip("efficientnet_lite_pytorch")
    bb = get_backbone("efficientnet_lite0", device="cpu")
    assert bb.block_names == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]
    net = lite.EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(efficientnet_lite.weights_path(), weights_only=True))
    net.eval()
    temple = Image.fromarray(load_sample_images().images[0])
    x = bb.preprocess.normalize(bb.prepare([temple]))
    with torch.inference_mode():
        ours = bb.net(x)
        expected = net.extract_features(x).mean(dim=(2, 3))
        logits = net._fc(ours)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    top5 = [categories[i] for i in logits[0].topk(5).indices]
    assert "palace" in top5 or "bell cote" in top5, top5


def test_minilm_aliases_share_identity_and_cache():
    a = get_backbone("all-MiniLM-L6-v2", device="cpu")
    b = get_backbone("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    assert a.identity == b.identity
    assert a.block_names == ["embeddings"] + [f"layer{i}" for i in range(6)]
    local = get_backbone(str(minilm_path()), device="cpu")
    assert local.identity == a.identity


def test_text_weights_none_is_a_fixed_random_initialisation():
    """weights=None: the MiniLM architecture, randomly initialised alike in every process."""
    from sktransfer.backbones import clear_backbones

    pretrained = get_backbone("all-MiniLM-L6-v2", device="cpu")
    scratch = get_backbone("all-MiniLM-L6-v2", weights=None, device="cpu")
    assert scratch.identity != pretrained.identity
    assert scratch.block_names == pretrained.block_names
    layer = scratch.net.blocks[1].attention.self.query.weight
    # BERT's own initialisation: normal with std initializer_range (0.02).
    assert abs(float(layer.std()) - 0.02) < 0.002
    identity = scratch.identity
    clear_backbones()
    assert get_backbone("all-MiniLM-L6-v2", weights=None, device="cpu").identity == identity
    with pytest.raises(ValueError, match=r'takes "DEFAULT" \(its pretrained weights\) or None'):
        get_backbone("all-MiniLM-L6-v2", weights="IMAGENET1K_V1")
