"""Run samples through a frozen backbone, through the content-addressed cache.

Shared by the encoders (pooled features) and the fine-tuners (the frozen
prefix's outputs), so a sample goes through a frozen block once per process
whichever estimator asks.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _cache
from ._inputs import ImageSample, text_digest


class TextSample:
    __slots__ = ("text", "key")

    def __init__(self, text):
        self.text = text
        self.key = text_digest(text)


def samples_for(column, modality):
    """Hashable samples (content key + loader) for every row of a Column."""
    if modality == "text":
        return [TextSample(t) for t in column.values]
    return [ImageSample(v, column.row(i)) for i, v in enumerate(column.values)]


def _batches(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _prefetch(func, chunks, depth=2):
    """Yield ``func(chunk)`` for each chunk, computing up to ``depth`` ahead.

    Decoding and resizing images (PIL releases the GIL) overlaps with the
    network's forward pass on the previous batch.
    """
    chunks = list(chunks)
    if len(chunks) <= 1:
        for chunk in chunks:
            yield func(chunk)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = [pool.submit(func, c) for c in chunks[:depth]]
        for i in range(len(chunks)):
            result = pending.pop(0).result()
            if i + depth < len(chunks):
                pending.append(pool.submit(func, chunks[i + depth]))
            yield result


def _compute(backbone, todo, layer, pooled, batch_size, estimator):
    keys = list(todo)
    if backbone.modality == "text":
        # Longest first, like sentence-transformers: batches of similar
        # length waste less padding.
        keys.sort(key=lambda k: -len(todo[k].text))
        for batch_keys in _batches(keys, batch_size):
            features = backbone.tokenize([todo[k].text for k in batch_keys])
            yield batch_keys, backbone.embed(features, layer=layer, pooled=pooled)
        return

    def prepare(batch_keys):
        return batch_keys, backbone.prepare_images([todo[k].load(estimator) for k in batch_keys])

    for batch_keys, batch in _prefetch(prepare, _batches(keys, batch_size)):
        yield batch_keys, backbone.embed(batch, layer=layer, pooled=pooled)


def compute_features(backbone, column, *, layer, pooled=True, batch_size=32, cache=True,
                     verbose=False, estimator="ImageEncoder", rows_in_memory=None):
    """Features of every row of ``column``, each distinct sample computed once.

    Parameters
    ----------
    backbone : Backbone
    column : Column
        Validated input (see ``_inputs``).
    layer : int
        Index of the block whose output is returned.
    pooled : bool
        Globally pool the block's output (encoders) or return it whole (the
        input of the trainable top blocks when fine-tuning).
    cache : bool or str
        The estimator's ``cache`` parameter.
    rows_in_memory : int, optional
        Rows hashed and decoded at a time (bounds memory for image files).

    Returns
    -------
    ndarray of shape (n_samples, ...) float32
        For text with ``pooled=False``, an object array of (tokens, dim)
        float32 arrays: texts have different numbers of tokens.
    """
    from tqdm.auto import tqdm

    stores = _cache.stores_for(cache)
    n = len(column)
    prefix = f"{backbone.identity}:{layer}:{'pooled' if pooled else 'raw'}:"
    if rows_in_memory is None:
        rows_in_memory = n if backbone.modality == "text" else max(batch_size * 8, 256)
    ragged = backbone.modality == "text" and not pooled
    out = None
    bar = tqdm(total=n, disable=not verbose, desc=f"{estimator}({backbone.name})", unit=backbone.modality)
    try:
        for start in range(0, n, rows_in_memory):
            rows = range(start, min(n, start + rows_in_memory))
            samples = samples_for(_Slice(column, rows), backbone.modality)
            keys = [prefix + s.key for s in samples]
            found = _cache.lookup(stores, list(dict.fromkeys(keys)))
            todo = {}
            for key, sample in zip(keys, samples):
                if key not in found and key not in todo:
                    todo[key] = sample
            bar.update(len(keys) - len(todo))
            for batch_keys, feats in _compute(backbone, todo, layer, pooled, batch_size, estimator):
                for key, row in zip(batch_keys, feats):
                    found[key] = row
                    _cache.store(stores, key, row)
                bar.update(len(batch_keys))
            for i, key in zip(rows, keys):
                value = found[key]
                if out is None:
                    out = np.empty(n, dtype=object) if ragged else np.empty((n,) + value.shape, dtype=np.float32)
                out[i] = value
    finally:
        bar.close()
    return out


class _Slice:
    """Rows ``rows`` of a Column, keeping their original row labels."""

    def __init__(self, column, rows):
        self.values = [column.values[i] for i in rows]
        self._rows = list(rows)
        self._column = column

    def row(self, pos):
        return self._column.row(self._rows[pos])
