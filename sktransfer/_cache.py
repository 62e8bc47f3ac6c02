"""Content-addressed cache of pooled features.

A key is (backbone identity, layer, sample content hash): the same image or
text run through the same weights and preprocessing always gives the same
features, so the cache is shared by every estimator and every clone in the
process. Cross-validation and grid search therefore pass each distinct sample
through a frozen network once per process.
"""

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

DEFAULT_MAX_BYTES = int(os.environ.get("SKTRANSFER_CACHE_BYTES", 2 * 1024**3))


class MemoryCache:
    """A thread-safe LRU dict of float32 rows bounded in bytes.

    Examples
    --------
    >>> import numpy as np
    >>> c = MemoryCache(max_bytes=16)
    >>> c.put("a", np.zeros(2, np.float32)); c.put("b", np.ones(2, np.float32))
    >>> c.put("c", np.ones(2, np.float32))  # over 16 bytes: "a" is evicted
    >>> sorted(c.get_many(["a", "b", "c"]))
    ['b', 'c']
    """

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._data = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys):
        found = {}
        with self._lock:
            for key in keys:
                value = self._data.get(key)
                if value is not None:
                    self._data.move_to_end(key)
                    found[key] = value
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def put(self, key, value):
        # A copy: a row of a batch array would keep the whole batch alive
        # while the byte bound counts only the row.
        value = np.array(value, dtype=np.float32, copy=True)
        if value.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = value
            self._bytes += value.nbytes
            self._evict()

    def _evict(self):
        while self._bytes > self.max_bytes:
            _, evicted = self._data.popitem(last=False)
            self._bytes -= evicted.nbytes

    def set_max_bytes(self, max_bytes):
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self):
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def info(self):
        with self._lock:
            return {
                "entries": len(self._data),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }


class DiskCache:
    """One ``.npy`` file per key under a folder; writes are atomic.

    Each finished row is on disk as soon as it is computed, so an interrupted
    job resumes where it stopped.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key):
        return self.directory / key[:2] / f"{key}.npy"

    def get_many(self, keys):
        found = {}
        for key in keys:
            path = self._path(key)
            if path.is_file():
                try:
                    found[key] = np.load(path)
                except (OSError, ValueError):
                    continue  # a damaged entry is recomputed and rewritten
        return found

    def put(self, key, value):
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(value, dtype=np.float32))
        os.replace(tmp, path)


_MEMORY = MemoryCache()
_DISK = {}
_DISK_LOCK = threading.Lock()


def is_folder_path(cache):
    """Whether ``cache`` can be the disk cache's folder: a non-empty path that is not a file."""
    if not isinstance(cache, (str, os.PathLike)) or not os.fspath(cache):
        return False
    return not os.path.exists(cache) or os.path.isdir(cache)


def validate_cache_param(cache):
    """Check an estimator's ``cache`` parameter (True, False, or a folder that is not a file)."""
    if cache is None or isinstance(cache, (bool, np.bool_)):
        return
    if isinstance(cache, (str, os.PathLike)) and os.fspath(cache):
        if not is_folder_path(cache):
            raise ValueError(
                f"cache={os.fspath(cache)!r} is a file; give a folder path for the disk cache (it "
                "is created if missing)."
            )
        return
    raise ValueError(
        f"cache must be True (shared in-memory cache), False (no cache) or a folder path "
        f"(memory + disk), got {cache!r}."
    )


def stores_for(cache):
    """The stores an estimator's ``cache`` parameter asks for, fastest first."""
    validate_cache_param(cache)
    if not cache:
        return []
    if cache is True or isinstance(cache, np.bool_):
        return [_MEMORY]
    path = os.path.abspath(os.fspath(cache))
    with _DISK_LOCK:
        disk = _DISK.get(path)
        if disk is None:
            disk = _DISK[path] = DiskCache(path)
    return [_MEMORY, disk]


def lookup(stores, keys):
    """Values found for ``keys``; disk hits are promoted to memory."""
    found = {}
    remaining = list(keys)
    for i, store in enumerate(stores):
        if not remaining:
            break
        hits = store.get_many(remaining)
        for key, value in hits.items():
            for faster in stores[:i]:
                faster.put(key, value)
        found.update(hits)
        remaining = [k for k in remaining if k not in hits]
    return found


def store(stores, key, value):
    for s in stores:
        s.put(key, value)


def clear_cache():
    """Empty the shared in-memory feature cache (disk caches are left alone).

    Examples
    --------
    >>> clear_cache()
    >>> cache_info()["entries"]
    0
    """
    _MEMORY.clear()


def cache_info():
    """Entries, bytes, bound and hit/miss counts of the in-memory cache."""
    return _MEMORY.info()


def set_cache_limit(max_bytes):
    """Bound the shared in-memory cache to ``max_bytes`` (evicting LRU rows)."""
    _MEMORY.set_max_bytes(max_bytes)
