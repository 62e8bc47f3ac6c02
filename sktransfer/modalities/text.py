"""Text: one string per row."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .base import (
    Modality,
    Rows,
    Sample,
    as_list,
    check_not_empty,
    digest,
    is_missing,
    list_rows,
    one_column,
)


def _bad_unicode(text):
    """Where ``text`` cannot be encoded as UTF-8 (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


class TextModality(Modality):
    """Texts: a list / array of str, a pandas Series or a one-column DataFrame.

    Examples
    --------
    >>> from sktransfer.modalities import get_modality
    >>> text = get_modality("text")
    >>> text.check_X(["good film", "bad film"], "TextEncoder").values
    ['good film', 'bad film']
    >>> text.check_X(["ok", None], "TextEncoder")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: TextEncoder needs a str in every row, but found missing or non-text values in 1
    row(s): row 1: None (missing). Fill or drop them first, e.g. X.fillna('').
    """

    name = "text"
    noun = "texts"
    input_tags = {"two_d_array": False, "string": True}
    priority = 20

    def check_X(self, X, estimator):
        values, index, names = one_column(X, "str", estimator)
        if values is None:
            if isinstance(X, np.ndarray):
                if X.ndim == 2 and X.shape[1] == 1:
                    X = X[:, 0]
                elif X.ndim != 1:
                    raise ValueError(
                        f"{estimator} expects a 1-D sequence of str or a single column; "
                        f"got an array of shape {X.shape}."
                    )
            values = as_list(X, "str", estimator, rows=(list, tuple, np.ndarray))
        check_not_empty(values, estimator)
        values = [str(v) if isinstance(v, np.str_) else v for v in values]
        bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
        if bad:

            def describe(pos):
                v = values[pos]
                if is_missing(v):
                    return f"{v!r} (missing)"
                return f"{type(v).__name__} {str(v)[:30]!r}, expected str"

            raise ValueError(
                f"{estimator} needs a str in every row, but found missing or non-text values in "
                f"{len(bad)} row(s): {list_rows(bad, index, describe)}. Fill or drop them first, "
                "e.g. X.fillna('')."
            )
        unencodable = {i: p for i, v in enumerate(values) if (p := _bad_unicode(v)) is not None}
        if unencodable:
            bad = list(unencodable)
            raise ValueError(
                f"{estimator} needs valid Unicode text, but {len(bad)} row(s) hold a lone "
                "surrogate (half of a UTF-16 pair, often from text decoded with "
                "errors='surrogateescape'): "
                + list_rows(bad, index, lambda p: f"at character {unencodable[p]}")
                + ". Re-decode the source bytes, or drop the surrogates: "
                "text.encode('utf-8', 'replace').decode('utf-8')."
            )
        return Rows(values, index, names)

    def looks_like(self, X):
        values = X.iloc[:, 0] if hasattr(X, "columns") else X
        try:
            sample = list(values[:20])
        except TypeError:
            return False
        return bool(sample) and all(isinstance(v, str) for v in sample)

    def samples(self, rows, estimator):
        return [Sample(t, digest(t.encode("utf-8"))) for t in rows.values]

    def batch_order(self, samples):
        # Longest first, like sentence-transformers: batches of similar length
        # pad fewer tokens.
        return np.argsort([-len(s.value) for s in samples], kind="stable")

    def prepare(self, items, backbone):
        return backbone.net.tokenize(items)

    def to_device(self, batch, backbone):
        return {k: v.to(backbone.device) if hasattr(v, "to") else v for k, v in batch.items()}

    def row_lengths(self, samples, backbone):
        out = []
        for start in range(0, len(samples), 256):
            texts = [s.value for s in samples[start : start + 256]]
            batch = self.prepare(texts, backbone)
            if "attention_mask" not in batch:  # a tokenizer without padding
                return np.asarray([len(s.value) for s in samples])
            out.append(batch["attention_mask"].sum(dim=1).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=int)

    def dummy_batch(self, backbone):
        return self.prepare(["a"], backbone)

    def baseline(self, **options):
        return "TF-IDF", [TfidfBaseline()]


class TfidfBaseline(TransformerMixin, BaseEstimator):
    """TF-IDF of word 1-2 grams seen in at least two texts: the non-neural baseline for text.

    On a tiny set where no term appears twice, terms seen once are kept
    instead (a vocabulary of nothing would fail).
    """

    def fit(self, X, y=None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = TextModality().check_X(X, "TF-IDF baseline").values
        for min_df in (2, 1):
            self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=min_df)
            try:
                self.vectorizer_.fit(texts)
                break
            except ValueError:
                if min_df == 1:
                    raise
        return self

    def transform(self, X):
        return self.vectorizer_.transform(TextModality().check_X(X, "TF-IDF baseline").values)
