"""Each family of bad input found by generated inputs: a clear error, or the right value.

T is the tiny text network, CNN the tiny CNN (see sktransfer.backbones.testing).
"""

import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.utils._param_validation import InvalidParameterError

from sktransfer import (
    ImageClassifier,
    ImageEncoder,
    ImageRegressor,
    TextClassifier,
    TextEncoder,
    TextRegressor,
)
from sktransfer.selection import EncoderSelector, rank_encoders, transfer_report

T, CNN = "sktransfer/tiny-text", "sktransfer/tiny-cnn"
X6 = ["good", "bad", "fine", "awful", "nice", "poor"]
FAST = dict(max_epochs=1, device="cpu", random_state=0)
IMAGES = np.random.default_rng(0).integers(0, 256, (12, 20, 20, 3), dtype=np.uint8)


def _png(width, height, rows=None):
    """A greyscale PNG whose header says width x height, holding ``rows`` rows of pixel data."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = b"".join(b"\0" + b"\xff" * width for _ in range(height if rows is None else rows))
    idat = chunk(b"IDAT", zlib.compress(body)) if rows != 0 else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- y


@pytest.mark.parametrize("bad", [None, np.nan, float("inf"), pd.NA])
def test_missing_or_infinite_labels_are_not_classes(bad):
    y = [0, 1, bad, 1, 0, 1]
    with pytest.raises(
        ValueError,
        match=r"TextClassifier: y has missing or non-finite labels \(None, NaN or inf\) in 1 "
        r"row\(s\): row 2: ",
    ):
        TextClassifier(model=T, **FAST).fit(X6, y)
    with pytest.raises(ValueError, match=r"row 2"):
        TextClassifier(model=T, **FAST).fit(X6, pd.Series(y, dtype=object))


def test_regressor_y_that_is_not_finite_numbers():
    with pytest.raises(
        ValueError, match=r"y must be finite numbers; found NaN or inf in 1 row\(s\): row 1"
    ):
        TextRegressor(model=T, **FAST).fit(X6, [1.0, np.inf, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"too large to standardise"):
        TextRegressor(model=T, **FAST).fit(X6, [1e308, -1e308] * 3)
    with pytest.raises(ValueError, match=r"dates or durations"):
        TextRegressor(model=T, **FAST).fit(X6, pd.date_range("2020", periods=6).to_numpy())
    with pytest.raises(
        ValueError,
        match=r"y must hold numbers; found other values \(dtype <U1\) in 6 row\(s\): row 0: 'a'",
    ):
        TextRegressor(model=T, **FAST).fit(X6, ["a", "b"] * 3)
    with pytest.raises(ValueError, match=r"Complex data not supported in y"):
        ImageRegressor(model=CNN, **FAST).fit(IMAGES[:6], np.arange(6) + 1j)
    # Huge but finite targets are fine: they are standardised inside.
    pred = TextRegressor(model=T, **FAST).fit(X6, [1e150, -1e150] * 3).predict(X6)
    assert np.isfinite(pred).all()


# --------------------------------------------------------------------------- text


def test_lone_surrogates_name_the_row():
    X = ["fine", "bad \ud800 text", "ok"]
    for est in (
        TextEncoder(model=T),
        TextEncoder(model="all-MiniLM-L6-v2"),
        TextClassifier(model=T, **FAST),
    ):
        with pytest.raises(ValueError, match=r"lone surrogate.*row 1: at character 4"):
            est.fit(X, [0, 1, 0])


def test_a_dict_is_not_read_as_its_keys():
    with pytest.raises(TypeError, match=r"got a dict \(keys \['a', 'b'\]\)"):
        TextEncoder(model=T).fit({"a": "x", "b": "y"})
    with pytest.raises(TypeError, match="got a dict"):
        ImageEncoder(model=CNN).fit({"a": IMAGES[0]})


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "param, value",
    [
        ("layer_decay", -3),
        ("layer_decay", 0),
        ("layer_decay", 1.5),
        ("backbone_lr_scale", -1),
        ("backbone_lr_scale", "fast"),
        ("backbone_lr_scale", float("inf")),
        ("warmup_fraction", 5),
        ("warmup_fraction", None),
        ("warmup_fraction", -0.1),
        ("lr", -1),
        ("lr", "fast"),
        ("lr", float("inf")),
        ("lr", float("nan")),
        ("lr", 0),
        ("validation_fraction", None),
        ("validation_fraction", 1.0),
        ("callbacks", "nope"),
        ("train_split", "nope"),
        ("optimizer", 42),
        ("optimizer", "adamm"),
        ("random_state", "x"),
        ("n_trainable_blocks", True),
        ("n_trainable_blocks", -1),
        ("n_trainable_blocks", "most"),
        ("max_epochs", 0),
        ("max_epochs", 2.5),
        ("batch_size", True),
        ("patience", 0),
        ("unfreeze_every", 0),
        ("head_init", "zeros"),
        ("class_weight", "auto"),
        ("augment", "rotate"),
        ("device", "tpu"),
        ("domain_loss", 3),
    ],
)
def test_bad_parameter_values_name_the_parameter(param, value):
    est = ImageClassifier(model=CNN, **FAST).set_params(**{param: value})
    with pytest.raises(
        InvalidParameterError, match=rf"The '{param}' parameter of ImageClassifier must be"
    ):
        est.fit(IMAGES[:6], [0, 1] * 3)


@pytest.mark.parametrize(
    "class_weight, match",
    [
        ({0: -1}, r"class_weight values must be finite numbers > 0; got \{0: -1\}"),
        ({0: np.nan}, r"class_weight values must be finite numbers > 0"),
        ({0: "heavy"}, r"class_weight values must be finite numbers > 0"),
        ({7: 2.0}, r"class_weight has labels \['7'\] that are not in y"),
    ],
)
def test_bad_class_weights(class_weight, match):
    with pytest.raises(ValueError, match=match):
        TextClassifier(model=T, class_weight=class_weight, **FAST).fit(X6, [0, 1] * 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"module__hidden": -1},
            r"The 'module__hidden' parameter of TextClassifier must be None or an int in the "
            r"range \[1, inf\)",
        ),
        (
            {"module__dropout": 1.5},
            r"The 'module__dropout' parameter of TextClassifier must be a float in the range "
            r"\[0.0, 1.0\)",
        ),
        (
            {"module__width": 3},
            r"module__ parameters configure the new head: hidden, dropout; got \['module__width'\]",
        ),
        (
            {"n_trainable_blockz": 3},
            r"unexpected keyword argument 'n_trainable_blockz'. "
            r"Did you mean 'n_trainable_blocks'\?",
        ),
        ({"checkpoint_dirr": "/tmp/x"}, r"unexpected keyword argument 'checkpoint_dirr'"),
        ({"iterator_train_shuffle": False}, r"Did you mean 'iterator_train__shuffle'\?"),
        (
            {"callbacks": ["nope"]},
            r"callbacks\[0\] is 'nope'; each callback must be a skorch Callback",
        ),
    ],
)
def test_misspelt_and_prefixed_keywords(kwargs, match):
    est = TextClassifier(
        model=T, **FAST, **kwargs
    )  # storing never raises (scikit-learn's contract)
    with pytest.raises(ValueError, match=match):
        est.fit(X6, [0, 1] * 3)


def test_typos_survive_clone_and_set_params_only_takes_known_names():
    from sklearn.base import clone

    est = ImageClassifier(model=CNN, n_trainable_blockz=3, optimizer__weight_decay=0.0)
    assert clone(est).get_params()["n_trainable_blockz"] == 3  # kept, so fit still says so
    est.set_params(module__hidden=8)
    assert est.module__hidden == 8
    with pytest.raises(ValueError, match="Invalid parameter 'n_trainable_blocs'"):
        est.set_params(n_trainable_blocs=1)


def test_a_learning_rate_that_diverges_is_an_error():
    with pytest.raises(
        ValueError, match=r"training diverged: the training loss is (nan|inf) at epoch 1. Lower lr"
    ):
        ImageRegressor(model=CNN, n_trainable_blocks="all", augment=False, lr=1e30, **FAST).fit(
            IMAGES, np.arange(12.0)
        )


# --------------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def deep_images(tmp_path_factory):
    """One gradient as 16-bit PNG and TIFF, 32-bit int TIFF, float TIFF; and the 8-bit truth."""
    folder = tmp_path_factory.mktemp("deep")
    ramp = np.linspace(0, 1, 64 * 48).reshape(48, 64)
    truth = np.round(ramp * 255).astype(np.uint8)
    a16 = np.round(ramp * 65535).astype(np.uint16)
    paths = {}
    for name, array, fmt in [
        ("png16", a16, "PNG"),
        ("tif16", a16, "TIFF"),
        ("tif32", a16.astype(np.int32), "TIFF"),
        ("tiff", ramp.astype(np.float32), "TIFF"),
    ]:
        paths[name] = str(folder / f"{name}.{fmt.lower()}")
        Image.fromarray(array).save(paths[name], fmt)
    return paths, truth, folder


def _decoded(path):
    from sktransfer.modalities import get_modality

    image = get_modality("image")
    return np.asarray(image.samples(image.check_X([path], "test"), "test")[0].load())


def test_high_bit_depth_and_float_images_keep_their_range(deep_images):
    paths, truth, _ = deep_images
    for name, path in paths.items():
        decoded = _decoded(path)
        assert decoded.shape == truth.shape + (3,), name
        assert np.abs(decoded[..., 0].astype(int) - truth).max() <= 1, name
    encoder = ImageEncoder(model=CNN).fit(list(paths.values()))
    features = encoder.transform(list(paths.values()))
    reference = encoder.transform(np.stack([truth] * 3, axis=-1)[None])
    np.testing.assert_allclose(features, np.repeat(reference, len(paths), axis=0), atol=0.05)
    mode_f = Image.fromarray((truth / 255.0).astype(np.float32), mode="F")
    np.testing.assert_allclose(encoder.transform([mode_f]), reference, atol=0.05)


def test_images_out_of_their_range_are_refused(deep_images):
    _, _, folder = deep_images
    hot = str(folder / "hot.tiff")
    Image.fromarray(np.full((8, 8), 3.5, np.float32)).save(hot)
    big = str(folder / "big.tiff")
    Image.fromarray(np.full((8, 8), 10**7, np.int32)).save(big)
    encoder = ImageEncoder(model=CNN).fit(IMAGES)
    with pytest.raises(
        ValueError,
        match=r"row 1 \(.*hot.tiff\) is a floating-point image with values in \[3.5, 3.5\]",
    ):
        encoder.transform([IMAGES[0], hot])
    with pytest.raises(
        ValueError, match=r"row 0 \(.*big.tiff\) is a 32-bit integer image with values in"
    ):
        encoder.transform([big])


def test_exif_orientation_is_applied(tmp_path):
    upright = IMAGES[0][:, :12]
    img = Image.fromarray(
        np.ascontiguousarray(np.rot90(upright, -1))
    )  # stored turned 90 degrees clockwise
    exif = img.getexif()
    exif[0x0112] = 8  # "rotate 90 CW to view", i.e. the viewer turns it back
    path = tmp_path / "turned.png"
    img.save(path, exif=exif)
    np.testing.assert_array_equal(_decoded(str(path)), upright)


def test_degenerate_and_huge_images(tmp_path):
    encoder = ImageEncoder(model=CNN).fit(IMAGES)
    with pytest.raises(ValueError, match=r"row 0 is an empty image \(0x0\)"):
        encoder.transform([Image.new("RGB", (0, 0))])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(30000, 30000, rows=0))
    with pytest.raises(ValueError, match=r"row 1 \(.*bomb.png\) is too large to decode safely"):
        encoder.transform([IMAGES[0], str(bomb)])
    short = tmp_path / "short.png"
    short.write_bytes(_png(10000, 10000, rows=10))
    with pytest.raises(
        ValueError,
        match=r"row 0 \(.*short.png\) is not a readable image: its pixel data ends "
        r"after 10 of the 10000 rows",
    ):
        encoder.transform([str(short)])
    complete = tmp_path / "complete.png"
    complete.write_bytes(_png(40, 30))
    assert encoder.transform([str(complete)]).shape == (1, 32)


def test_paths_in_a_numpy_string_array_and_folders(tmp_path, photo_files):
    encoder = ImageEncoder(model=CNN)
    np.testing.assert_array_equal(
        encoder.fit_transform(np.array(photo_files[:2])), encoder.fit_transform(photo_files[:2])
    )
    with pytest.raises(
        ValueError, match=rf"1 row\(s\) name a folder, not an image file: row 1: {tmp_path}"
    ):
        encoder.fit([photo_files[0], str(tmp_path)])


def test_decode_errors_name_the_fine_tuner(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(
        ValueError, match=rf"^ImageClassifier: row 2 \({bad}\) is not a readable image"
    ):
        ImageClassifier(model=CNN, **FAST).fit(list(IMAGES[:2]) + [str(bad)], [0, 1, 0])


@pytest.mark.parametrize(
    "make",
    [
        lambda w: ImageEncoder(model=CNN, weights=w),
        lambda w: ImageEncoder(model="efficientnet_lite0", weights=w),
        lambda w: TextEncoder(model=T, weights=w),
    ],
)
def test_weights_that_are_not_weights(make, tmp_path):
    with pytest.raises(ValueError, match=r"weights='nope' .*must be"):
        make("nope").fit(IMAGES[:2] if not isinstance(make(None), TextEncoder) else ["a"])
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    est = make(str(junk))
    if isinstance(est, TextEncoder):
        return
    with pytest.raises(ValueError, match=r"Could not read .*junk.pth' as a torch state dict"):
        est.fit(IMAGES[:2])
    import torch

    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(ValueError, match=r"other.pth' does not match"):
        make(str(other)).fit(IMAGES[:2])


# --------------------------------------------------------------------------- model choice


def test_knn_score_with_few_samples_per_class():
    X = np.concatenate([IMAGES[:6], 255 - IMAGES[:6]])
    y = np.repeat([0, 1], 6)
    for per_class in (2, 3, 4):
        keep = np.r_[0:per_class, 6 : 6 + per_class]
        table = rank_encoders(X[keep], y[keep], [CNN], scores=["knn"])
        assert 0 <= table["knn"].iloc[0] <= 1
        EncoderSelector([CNN], scoring="knn").fit(X[keep], y[keep])


def test_transfer_report_on_a_tiny_text_set():
    X = ["one fine day", "two bad nights", "red apples", "blue cars", "green tea", "dark rooms"]
    report = transfer_report(X * 2, [0, 1] * 6, T, cv=2, fine_tune=False, scratch=False)
    assert list(report.index) == ["pretrained features + linear", "baseline: TF-IDF + linear model"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"iterator_train__shufle": False},
            r"iterator_train__shufle is not an argument of DataLoader.*"
            r"Did you mean iterator_train__shuffle\?",
        ),
        (
            {"optimizer__weight_decy": 0.1},
            r"optimizer__weight_decy is not an argument of AdamW.*weight_decay",
        ),
        ({"criterion__wieght": None}, r"criterion__wieght is not an argument of CrossEntropyLoss"),
    ],
)
def test_prefixed_parameters_are_arguments_of_what_they_configure(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TextClassifier(model=T, **FAST, **kwargs).fit(X6, [0, 1] * 3)
    TextClassifier(
        model=T, iterator_train__drop_last=False, optimizer__weight_decay=0.0, **FAST
    ).fit(X6, [0, 1] * 3)


def test_random_state_may_be_a_random_state_instance():
    a = TextClassifier(model=T, random_state=np.random.RandomState(3), max_epochs=1, device="cpu")
    b = TextClassifier(model=T, random_state=3, max_epochs=1, device="cpu")
    np.testing.assert_array_equal(
        a.fit(X6, [0, 1] * 3).predict_proba(X6), b.fit(X6, [0, 1] * 3).predict_proba(X6)
    )
