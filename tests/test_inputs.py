"""Every kind of bad input gets a clear error naming the row and what was expected."""

import numpy as np
import pandas as pd
import pytest

from sktransfer import ImageEncoder, TextEncoder, cache_info
from sktransfer.backbones import get_backbone


def text_enc(**kw):
    return TextEncoder(**{"model": "sktransfer/tiny-text", "device": "cpu", **kw})


def image_enc(**kw):
    return ImageEncoder(**{"model": "sktransfer/tiny-cnn", "device": "cpu", **kw})


def test_missing_text_names_row():
    with pytest.raises(ValueError, match=r"row 2: None \(missing\)"):
        text_enc().fit(["a", "b", None, "d"])
    s = pd.Series(["a", np.nan, "c"], index=["x", "y", "z"])
    with pytest.raises(ValueError, match=r"row 1 \(index 'y'\): nan \(missing\).*fillna"):
        text_enc().fit(s)
    with pytest.raises(ValueError, match=r"row 0: <NA> \(missing\)"):
        text_enc().fit(pd.Series([pd.NA, "b"], dtype="string"))
    enc = text_enc().fit(["fine"])
    with pytest.raises(ValueError, match=r"row 1: None"):
        enc.transform(["ok", None])


def test_non_text_values_name_rows_and_types():
    with pytest.raises(
        ValueError, match=r"row 1: int '42', expected str; row 3: float '1.5', expected str"
    ):
        text_enc().fit(["a", 42, "b", 1.5])
    many = [None] * 12
    with pytest.raises(ValueError, match=r"in 12 row\(s\).*and 7 more row\(s\)"):
        text_enc().fit(many)


def test_empty_and_scalar_inputs():
    with pytest.raises(ValueError, match="empty X"):
        text_enc().fit([])
    with pytest.raises(ValueError, match="empty X"):
        image_enc().fit([])
    with pytest.raises(TypeError, match=r"single str .*Wrap it in a list"):
        text_enc().fit("just one text")
    with pytest.raises(TypeError, match="X=None"):
        image_enc().fit(None)


def test_dataframe_with_several_columns_is_refused():
    df = pd.DataFrame({"review": ["a", "b"], "title": ["c", "d"]})
    with pytest.raises(
        ValueError,
        match=r"exactly one column of str, got a DataFrame with 2 columns \['review', 'title'\]",
    ):
        text_enc().fit(df)


def test_wrong_shapes():
    with pytest.raises(ValueError, match=r"shape \(5, 64\) and dtype float64.*reshape\(-1, 8, 8\)"):
        image_enc().fit(np.zeros((5, 64)))
    with pytest.raises(ValueError, match=r"shape \(2, 8, 8, 5\)"):
        image_enc().fit(np.zeros((2, 8, 8, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"dtype float32.*astype\(np.uint8\)"):
        image_enc().fit(np.zeros((2, 8, 8), dtype=np.float32))
    images = [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 2), np.uint8)]
    with pytest.raises(ValueError, match=r"row 1 has shape \(8, 8, 2\)"):
        image_enc().fit(images)
    with pytest.raises(
        ValueError, match=r"1-D sequence of str or a single column; got an array of shape \(3, 2\)"
    ):
        text_enc().fit(np.array([["a", "b"]] * 3))
    with pytest.raises(TypeError, match="sparse input is not supported"):
        import scipy.sparse

        text_enc().fit(scipy.sparse.csr_matrix(np.eye(3)))


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 entries"):
        text_enc().fit(["a", "b", "c"], [0, 1])


def test_missing_image_file_names_path_and_row(tmp_path, photo_files):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(
        FileNotFoundError, match=rf"1 image file\(s\) do not exist: row 1: {missing}"
    ):
        image_enc().fit([photo_files[0], str(missing)])
    enc = image_enc().fit(photo_files[:1])
    with pytest.raises(FileNotFoundError, match=r"row 0 \(index 'b'\)"):
        enc.transform(pd.Series([str(missing)], index=["b"]))


@pytest.mark.parametrize("content", [b"not an image at all", b"\xff\xd8\xff\xe0" + b"\0" * 40])
def test_corrupt_or_non_image_file(tmp_path, photo_files, content):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(content)
    enc = image_enc().fit(photo_files[:1] + [str(bad)])  # fit checks existence only
    with pytest.raises(ValueError, match=rf"row 1 \({bad}\) is not a readable image"):
        enc.transform(photo_files[:1] + [str(bad)])


def test_other_values_in_image_column():
    with pytest.raises(TypeError, match=r"row 1: NoneType 'None' \(missing\)"):
        image_enc().fit([np.zeros((8, 8), np.uint8), None])
    with pytest.raises(TypeError, match=r"row 0: int '3'"):
        image_enc().fit([3])


def test_error_midway_keeps_finished_work(tmp_path, photo_files):
    """A corrupt file late in a long job: the rows before it are not lost."""
    bad = tmp_path / "zzz.png"
    bad.write_bytes(b"garbage")
    images = list(np.random.default_rng(0).integers(0, 256, (300, 16, 16), dtype=np.uint8))
    enc = image_enc(batch_size=4, cache=str(tmp_path / "cache")).fit(images)
    backbone = get_backbone("sktransfer/tiny-cnn", device="cpu")
    with pytest.raises(ValueError, match="row 300"):
        enc.transform(images + [str(bad)])
    assert cache_info()["entries"] >= 256  # the first chunk finished before the bad row
    before = backbone.n_forwarded
    enc.transform(images + [photo_files[0]])
    assert backbone.n_forwarded - before <= 300 - 256 + 1
