"""Run samples through a frozen backbone, through the content-addressed cache.

Shared by the encoders (pooled features) and the fine-tuners (the frozen
prefix's outputs), so a sample goes through a frozen block once per process
whichever estimator asks. What depends on the kind of input (content keys,
loading, batch order) is asked of the backbone's modality.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _cache


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


def _compute(backbone, todo, layer, pooled, batch_size, precision="float32"):
    keys = list(todo)
    order = backbone.modality.batch_order([todo[k] for k in keys])
    keys = [keys[i] for i in order]

    def prepare(batch_keys):
        return batch_keys, backbone.prepare([todo[k].load() for k in batch_keys])

    chunks = _batches(keys, batch_size)
    prepared = _prefetch(prepare, chunks) if backbone.modality.prefetch else map(prepare, chunks)
    for batch_keys, batch in prepared:
        yield batch_keys, backbone.embed(batch, layer=layer, pooled=pooled, precision=precision)


def compute_features(
    backbone,
    rows,
    *,
    layer,
    pooled=True,
    batch_size=32,
    cache=True,
    verbose=False,
    estimator="ImageEncoder",
    rows_in_memory=None,
    precision="float32",
):
    """Features of every row of ``rows``, each distinct sample computed once.

    Parameters
    ----------
    backbone : Backbone
    rows : Rows
        Validated input (see :mod:`sktransfer.modalities`).
    layer : int
        Index of the block whose output is returned.
    pooled : bool
        Globally pool the block's output (encoders) or return it whole (the
        input of the trainable top blocks when fine-tuning).
    cache : bool or str
        The estimator's ``cache`` parameter.
    estimator : str
        Named in errors about a sample that cannot be loaded.
    rows_in_memory : int, optional
        Rows hashed and loaded at a time (bounds memory for image files);
        the modality's default otherwise.
    precision : {"float32", "bfloat16"}
        The network's arithmetic (bfloat16: under autocast); part of the
        cache key, as bfloat16 features differ in their last digits.

    Returns
    -------
    ndarray of shape (n_samples, ...) float32
        When the block's raw output has a different length per sample
        (text, ``pooled=False``), an object array of (tokens, dim) arrays.
    """
    from tqdm.auto import tqdm

    stores = _cache.stores_for(cache)
    modality = backbone.modality
    n = len(rows)
    prefix = f"{backbone.identity}:{layer}:{'pooled' if pooled else 'raw'}:"
    if precision != "float32":
        prefix += f"{precision}:"
    if rows_in_memory is None:
        rows_in_memory = modality.rows_in_memory(n, batch_size)
    ragged = backbone.ragged and not pooled
    out = None
    bar = tqdm(
        total=n, disable=not verbose, desc=f"{estimator}({backbone.name})", unit=modality.noun
    )
    try:
        for start in range(0, n, rows_in_memory):
            samples = modality.samples(
                rows.take(range(start, min(n, start + rows_in_memory))), estimator
            )
            keys = [prefix + s.key for s in samples]
            found = _cache.lookup(stores, list(dict.fromkeys(keys)))
            todo = {}
            for key, sample in zip(keys, samples):
                if key not in found and key not in todo:
                    todo[key] = sample
            bar.update(len(keys) - len(todo))
            for batch_keys, feats in _compute(backbone, todo, layer, pooled, batch_size, precision):
                for key, row in zip(batch_keys, feats):
                    found[key] = row
                    _cache.store(stores, key, row)
                bar.update(len(batch_keys))
            for i, key in enumerate(keys, start=start):
                value = found[key]
                if out is None:
                    out = (
                        np.empty(n, dtype=object)
                        if ragged
                        else np.empty((n,) + value.shape, dtype=np.float32)
                    )
                out[i] = value
    finally:
        bar.close()
    return out
