"""Content-addressed cache of pooled features.

A key is (backbone identity, layer, sample content hash): the same image or
text run through the same weights and preprocessing always gives the same
features, so the cache is shared by every estimator and every clone in the
process. Cross-validation and grid search therefore pass each distinct sample
through a frozen network once per process.
"""

import contextlib
import hashlib
import json
import os
import threading
import time
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
    """One ``.npy`` file per key under a folder, shared by processes and machines, bounded in size.

    Safe with many readers and writers at once (processes of one machine, or
    nodes that mount the folder):

    - a row is written to a temporary file, then renamed over its key
      (:func:`os.replace`, atomic on POSIX file systems): a reader sees the
      whole old file, the whole new one, or none, never part of one; a
      writer killed mid-write leaves only a temporary file, which eviction
      removes later;
    - each finished row is on disk as soon as it is computed, so an
      interrupted job resumes where it stopped, and another worker (or the
      next job) reads it instead of computing it;
    - the folder is bounded: every ``max_bytes / 20`` written by a process,
      it totals the folder and, above the bound, deletes the least recently
      used rows (a read refreshes a file's modification time) down to 90 %
      of it. A row deleted while another process reads it is a miss there:
      it is computed again, never read torn.

    Two workers that reach the same new row at the same moment both compute
    it (the same values; one rename wins): rows are not locked, because a
    lock held by a killed worker would stall the others.

    The bound is the folder's own (:func:`set_disk_cache_limit` writes it
    in the folder, so every process and machine that uses the folder
    obeys the same one); without one, ``SKTRANSFER_DISK_CACHE_BYTES`` or 10 GiB.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._written = 0
        self._limit = None  # (bytes, when read)
        self._lock = threading.Lock()

    def path(self, key):
        """Where ``key``'s row lies: named by a hash of the key, in 256 x 256 subfolders.

        A key starts with the backbone's identity, so the key itself would put
        every row of a model in one folder (millions of files for a large
        job); its hash spreads them, and holds no characters a file system
        may refuse.
        """
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return self.directory / digest[:2] / digest[2:4] / f"{digest}.npy"

    @property
    def max_bytes(self):
        # Read from the folder at most every few seconds: another process
        # may change it, but not every row written needs to look.
        now = time.monotonic()
        if self._limit is None or now - self._limit[1] > 5:
            self._limit = (disk_limit(self.directory), now)
        return self._limit[0]

    def get_many(self, keys):
        found = {}
        for key in keys:
            path = self.path(key)
            try:
                found[key] = np.load(path)
            except (OSError, ValueError, EOFError):
                continue  # missing, evicted, or damaged: computed again and rewritten
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: evicted last
        return found

    def put(self, key, value):
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        value = np.asarray(value, dtype=np.float32)
        with open(tmp, "wb") as fh:
            np.save(fh, value)
        os.replace(tmp, path)
        with self._lock:
            self._written += value.nbytes
            due = self._written >= self.max_bytes // 20
            if due:
                self._written = 0
        if due:
            self.evict()

    def files(self):
        """(modification time, size, path) of every row file; temporary files are not rows."""
        out = []
        for folder in self._leaf_folders():
            with contextlib.suppress(OSError):  # removed by another process meanwhile
                for entry in os.scandir(folder):
                    if entry.name.endswith(".npy"):
                        with contextlib.suppress(OSError):
                            st = entry.stat()
                            out.append((st.st_mtime, st.st_size, entry.path))
        return out

    def _leaf_folders(self):
        for top in os.scandir(self.directory):
            if top.is_dir():
                with contextlib.suppress(OSError):
                    yield from (sub.path for sub in os.scandir(top.path) if sub.is_dir())

    def evict(self):
        """Delete least recently used rows until the folder is at most 90 % of its bound.

        Also removes temporary files older than an hour: what writers killed
        mid-write left.
        """
        limit = self.max_bytes
        files = self.files()
        total = sum(size for _, size, _ in files)
        if total > limit:
            for _, size, path in sorted(files):
                if total <= 0.9 * limit:
                    break
                with contextlib.suppress(OSError):  # another process evicted it first
                    os.unlink(path)
                total -= size
        stale = time.time() - 3600
        for tmp in self.directory.glob("*/*/*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < stale:
                    tmp.unlink()

    def info(self):
        files = self.files()
        return {
            "entries": len(files),
            "bytes": sum(size for _, size, _ in files),
            "max_bytes": self.max_bytes,
        }


_LIMIT_FILE = "sktransfer-cache.json"
DEFAULT_DISK_BYTES = int(os.environ.get("SKTRANSFER_DISK_CACHE_BYTES", 10 * 1024**3))


def disk_limit(folder):
    """The disk cache folder's bound in bytes: its own (set_disk_cache_limit), or the default."""
    try:
        return int(json.loads((Path(folder) / _LIMIT_FILE).read_text())["max_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_DISK_BYTES


def set_disk_cache_limit(folder, max_bytes):
    """Bound the disk cache in ``folder`` to ``max_bytes``, for every process that uses it.

    The bound is written in the folder, so workers on other processes or
    machines that share the folder obey it too; rows beyond it are evicted,
    least recently used first.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> set_disk_cache_limit(folder, 2 * 1024**3)
    >>> disk_cache_info(folder)["max_bytes"]
    2147483648
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}.")
    disk = _disk(folder)
    tmp = disk.directory / f"{_LIMIT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"max_bytes": int(max_bytes)}))
    os.replace(tmp, disk.directory / _LIMIT_FILE)
    disk._limit = None
    disk.evict()


def disk_cache_info(folder):
    """Rows, bytes and bound of the disk cache in ``folder``."""
    return _disk(folder).info()


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
    return [_MEMORY, _disk(cache)]


def _disk(folder):
    """The process's DiskCache of ``folder`` (one per folder)."""
    path = os.path.abspath(os.fspath(folder))
    with _DISK_LOCK:
        disk = _DISK.get(path)
        if disk is None:
            disk = _DISK[path] = DiskCache(path)
    return disk


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
