"""The encoders with the real offline models on real data, inside scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktransfer
from sktransfer import ImageEncoder, TextEncoder
from sktransfer.backbones import get_backbone

pytestmark = pytest.mark.slow

CV = StratifiedKFold(5, shuffle=True, random_state=0)


def minilm():
    return get_backbone("all-MiniLM-L6-v2", device="cpu")


def test_minilm_matches_sentence_transformers_encode(reviews):
    from sentence_transformers import SentenceTransformer

    from sktransfer.backbones.sentence_transformers_models import minilm_path

    texts = reviews["text"][:40].tolist()
    ours = TextEncoder(device="cpu").fit_transform(texts)
    raw = SentenceTransformer(str(minilm_path()), device="cpu").encode(texts, batch_size=32)
    np.testing.assert_allclose(ours, raw, rtol=1e-4, atol=1e-5)
    assert ours.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_text_pipeline_beats_majority_on_real_reviews(reviews):
    X, y = reviews["text"], reviews["label"]
    scores = cross_val_score(
        make_pipeline(TextEncoder(device="cpu"), LogisticRegression(max_iter=1000)), X, y, cv=CV
    )
    majority = cross_val_score(DummyClassifier(), X, y, cv=CV).mean()
    assert scores.mean() > majority + 0.12, (scores.mean(), majority)


def test_cross_validation_embeds_each_text_once(reviews):
    """5 folds fit and score 10 clones; each distinct text goes through MiniLM once."""
    X = pd.concat([reviews["text"], reviews["text"][:20]], ignore_index=True)  # 20 duplicates
    y = pd.concat([reviews["label"], reviews["label"][:20]], ignore_index=True)
    backbone = minilm()
    before = backbone.n_forwarded
    cross_val_score(
        make_pipeline(TextEncoder(device="cpu"), LogisticRegression(max_iter=1000)), X, y, cv=CV
    )
    assert backbone.n_forwarded - before == X.nunique() == len(reviews)

    before = backbone.n_forwarded
    search = GridSearchCV(
        make_pipeline(TextEncoder(device="cpu"), LogisticRegression(max_iter=1000)),
        {"logisticregression__C": [0.1, 1.0, 10.0]},
        cv=CV,
    ).fit(X, y)
    assert backbone.n_forwarded == before  # 16 fits, all from the cache
    assert search.best_score_ > 0.6

    # cache=False: nothing shared between calls, but a text repeated within
    # one call is still computed once.
    uncached = TextEncoder(device="cpu", cache=False).fit(X)
    for _ in range(2):
        before = backbone.n_forwarded
        uncached.transform(X)
        assert backbone.n_forwarded - before == X.nunique()


def test_disk_cache_survives_the_process_cache(tmp_path, reviews):
    texts = reviews["text"][:30].tolist()
    folder = tmp_path / "features"
    first = TextEncoder(device="cpu", cache=str(folder)).fit_transform(texts)
    assert len(list(folder.rglob("*.npy"))) == 30
    sktransfer.clear_cache()
    backbone = minilm()
    before = backbone.n_forwarded
    again = TextEncoder(device="cpu", cache=str(folder)).fit_transform(texts)
    assert backbone.n_forwarded == before
    np.testing.assert_array_equal(first, again)


def test_text_encoder_and_tfidf_side_by_side(reviews):
    """Both pipelines on the same splits; the encoder is not worse than TF-IDF on 300 snippets."""
    X, y = reviews["text"], reviews["label"]
    enc = cross_val_score(
        make_pipeline(TextEncoder(device="cpu"), LogisticRegression(max_iter=1000)), X, y, cv=CV
    )
    tfidf = cross_val_score(
        make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)), X, y, cv=CV
    )
    assert enc.mean() >= tfidf.mean() - 0.02, (enc.mean(), tfidf.mean())


def test_image_encoder_on_digits_with_shipped_efficientnet(digit_images):
    images, target = digit_images
    images, target = images[:250], target[:250]
    pipe = make_pipeline(ImageEncoder(device="cpu"), LogisticRegression(max_iter=2000))
    scores = cross_val_score(
        pipe, images, target, cv=StratifiedKFold(3, shuffle=True, random_state=0)
    )
    assert scores.mean() > 0.75, scores  # chance is 0.10


def test_image_layers_and_inputs_agree(photo_files):
    from PIL import Image

    enc = ImageEncoder(device="cpu").fit(photo_files)
    assert enc.embedding_dim_ == 1280 and enc.layer_ == 8
    from_paths = enc.transform(photo_files)
    from_pil = enc.transform([Image.open(p) for p in photo_files])
    from_arrays = enc.transform([np.asarray(Image.open(p)) for p in photo_files])
    np.testing.assert_allclose(from_pil, from_paths, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(from_arrays, from_paths, rtol=1e-5, atol=1e-5)
    # A JPEG and a PNG of the same photo (different bytes, so different cache
    # keys) are closer to each other than to the other photo.
    corr = np.corrcoef(from_paths)
    assert corr[0, 1] > 0.9 and corr[3, 4] > 0.9  # files: p0.jpg p0.png p0_gray p1.jpg p1.png ...
    assert corr[0, 1] > corr[0, 3] and corr[3, 4] > corr[1, 3]
    mid = ImageEncoder(layer="stage4", device="cpu").fit(photo_files)
    assert mid.layer_ == 4 and mid.transform(photo_files).shape == (len(photo_files), 80)
    assert ImageEncoder(layer=-1, device="cpu").fit(photo_files).layer_ == 8


def test_column_transformer_grid_search_with_text_image_and_numbers(reviews, photo_files):
    n = 60
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "review": reviews["text"][:n].to_numpy(),
            "photo_path": [photo_files[i % len(photo_files)] for i in range(n)],
            "price": rng.normal(10, 3, n),
        }
    )
    y = reviews["label"][:n].to_numpy()
    ct = make_column_transformer(
        (TextEncoder(model="all-MiniLM-L6-v2", device="cpu"), "review"),
        (ImageEncoder(model="efficientnet_lite0", device="cpu"), "photo_path"),
        (StandardScaler(), ["price"]),
    )
    search = GridSearchCV(
        make_pipeline(ct, LogisticRegression(max_iter=2000)),
        {"logisticregression__C": [0.1, 1, 10]},
        cv=3,
    ).fit(df, y)
    features = search.best_estimator_[0].get_feature_names_out()
    assert len(features) == 384 + 1280 + 1
    assert features[0] == "textencoder__review_0" and features[-1] == "standardscaler__price"
    assert "imageencoder__photo_path_1279" in features
    assert search.predict(df).shape == (n,)
    out = search.best_estimator_[0].set_output(transform="pandas").transform(df)
    assert list(out.columns) == list(features) and out.shape == (n, 1665)


def test_verbose_shows_progress(capsys, reviews):
    TextEncoder(device="cpu", verbose=True, batch_size=8).fit_transform(reviews["text"][:20])
    err = capsys.readouterr().err
    assert "TextEncoder(all-MiniLM-L6-v2)" in err and "20/20" in err


def test_bfloat16_precision_is_close_and_cached_apart(reviews):
    texts = reviews["text"][:100].tolist()
    sktransfer.clear_cache()
    full = TextEncoder(device="cpu").fit_transform(texts)
    backbone = minilm()
    before = backbone.n_forwarded
    half = TextEncoder(device="cpu", precision="bfloat16").fit_transform(texts)
    assert backbone.n_forwarded - before == len(set(texts))  # not served float32 rows
    assert half.dtype == np.float32
    cos = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cos.min() > 0.999, cos.min()
    assert not np.array_equal(full, half)  # it did run in bfloat16
    with pytest.raises(ValueError, match="precision"):
        TextEncoder(precision="float16").fit(texts)


def test_image_network_runs_cpu_batches_in_chunks(photo_files, monkeypatch):
    from PIL import Image

    from sktransfer.modalities.image import ImageModality

    assert ImageModality.cpu_chunk == 4
    backbone = get_backbone("efficientnet_lite0", device="cpu")
    batch = backbone.prepare([Image.open(p).convert("RGB") for p in (photo_files * 2)[:7]])
    calls = []
    forward = backbone.net.forward

    def counted(x, **kwargs):
        calls.append(len(x))
        return forward(x, **kwargs)

    monkeypatch.setattr(backbone.net, "forward", counted)
    chunked = backbone.embed(batch)
    raw = backbone.embed(batch, layer=4, pooled=False)
    assert calls == [4, 3]  # pooled: 7 images as 4 + 3
    monkeypatch.setattr(ImageModality, "cpu_chunk", None)
    calls.clear()
    whole = backbone.embed(batch)
    assert calls == [7]
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(raw, backbone.embed(batch, layer=4, pooled=False), atol=1e-5)
    assert raw.shape[0] == 7 and raw.ndim == 4
    # Chunked, a row's features do not depend on the rows batched with it, to
    # the bit: a lone row (a batch of 1, or of 5 = 4 + 1) is run doubled.
    monkeypatch.setattr(ImageModality, "cpu_chunk", 4)
    for n in (1, 2, 5):
        np.testing.assert_array_equal(backbone.embed(batch[:n]), chunked[:n])
        np.testing.assert_array_equal(backbone.embed(batch[:n], layer=4, pooled=False), raw[:n])
