"""The disk cache shared by concurrent processes: atomic writes, no torn reads, a bound.

Real processes (subprocesses, as Dask or Ray workers are), not threads.
"""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import sktransfer
from sktransfer import TextEncoder, disk_cache_info, set_disk_cache_limit
from sktransfer._cache import DiskCache
from sktransfer.backbones import get_backbone
from sktransfer.datasets import load_rotten_tomatoes


def _key(i):
    import hashlib

    return hashlib.sha1(str(i).encode()).hexdigest()


def expected(key, size):
    """The row every process writes under ``key``: any torn or mixed file would differ."""
    seed = int(key[:8], 16)
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)


# Each worker writes and reads 300 rows of 4 KiB-40 KiB under 120 keys it
# shares with the others, checking every row it reads against the value of
# its key. The folder's bound is far below what they write, so rows are
# evicted while others read them.
_WORKER = """
import sys, hashlib
import numpy as np
from sktransfer._cache import DiskCache

def expected(key, size):
    return np.random.default_rng(int(key[:8], 16)).standard_normal(size).astype(np.float32)

cache = DiskCache(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
keys = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(120)]
sizes = {k: 1024 * (1 + int(k[8:10], 16) % 10) for k in keys}
bad = reads = 0
for step in range(300):
    key = keys[rng.integers(len(keys))]
    found = cache.get_many([key])
    if key in found:
        reads += 1
        bad += not np.array_equal(found[key], expected(key, sizes[key]))
    else:
        cache.put(key, expected(key, sizes[key]))
print(reads, bad)
"""


def test_concurrent_processes_never_read_a_torn_row_and_keep_the_bound(tmp_path):
    folder = tmp_path / "shared"
    set_disk_cache_limit(folder, 1_000_000)  # about 40 of the 120 rows
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WORKER), str(folder), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    reads = [tuple(map(int, out.split())) for out, _ in outs]
    assert sum(r for r, _ in reads) > 100  # the workers did read each other's rows
    assert all(bad == 0 for _, bad in reads)
    cache = DiskCache(folder)
    where = {str(cache.path(k)): k for k in map(_key, range(120))}
    for _, size, path in cache.files():
        row = np.load(path)
        assert row.nbytes + 128 == size  # the .npy header and the whole row
        np.testing.assert_array_equal(row, expected(where[path], row.size))
    info = disk_cache_info(folder)
    # Evicted to 90 % at each check; since its last check, each process has
    # written less than 1/20 of the bound plus one row (at most 40 KiB).
    assert info["bytes"] <= 900_000 + 4 * (50_000 + 41_000), info
    assert not list(folder.glob("*/*/*.tmp"))


def test_eviction_drops_the_least_recently_used_rows(tmp_path):
    cache = DiskCache(tmp_path)
    set_disk_cache_limit(tmp_path, 10 * (4000 + 128))  # ten rows of 1,000 floats
    keys = [f"{i:02d}" + "a" * 30 for i in range(10)]
    for i, key in enumerate(keys):
        cache.put(key, np.full(1000, i, np.float32))
    old = time.time() - 1000
    for i, key in enumerate(keys):
        os.utime(cache.path(key), (old + i, old + i))  # written in key order, long ago
    cache.get_many([keys[0]])  # read: now the most recent
    cache.put("zz" + "b" * 30, np.zeros(1000, np.float32))  # over the bound
    cache.evict()
    left = {k for k in [*keys, "zz" + "b" * 30] if cache.path(k).is_file()}
    assert keys[0] in left and "zz" + "b" * 30 in left
    assert keys[1] not in left and keys[2] not in left  # the least recently used went first
    assert disk_cache_info(tmp_path)["bytes"] <= 10 * (4000 + 128)


def test_stale_temporary_files_are_removed(tmp_path):
    cache = DiskCache(tmp_path)
    (tmp_path / "ab" / "cd").mkdir(parents=True)
    stale, fresh = tmp_path / "ab" / "cd" / "x.1.2.tmp", tmp_path / "ab" / "cd" / "y.1.2.tmp"
    stale.write_bytes(b"half a row")
    fresh.write_bytes(b"being written")
    os.utime(stale, (time.time() - 7200,) * 2)
    cache.evict()
    assert not stale.exists() and fresh.exists()


def test_the_bound_is_the_folders_own(tmp_path, monkeypatch):
    assert disk_cache_info(tmp_path)["max_bytes"] == sktransfer._cache.DEFAULT_DISK_BYTES
    set_disk_cache_limit(tmp_path, 12345)
    assert (tmp_path / "sktransfer-cache.json").is_file()
    # Another process (here: a fresh DiskCache object) reads the same bound.
    assert DiskCache(tmp_path).max_bytes == 12345
    with pytest.raises(ValueError, match="positive integer"):
        set_disk_cache_limit(tmp_path, 0)


# Two encoders in two processes at once, on overlapping texts, through one folder.
_ENCODE = """
import sys
from sktransfer import TextEncoder
from sktransfer.datasets import load_rotten_tomatoes
texts = load_rotten_tomatoes()["text"].tolist()
start = int(sys.argv[2])
TextEncoder(device="cpu", cache=sys.argv[1]).fit_transform(texts[start : start + 60])
"""


def test_workers_share_what_they_embedded(tmp_path):
    folder = tmp_path / "features"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_ENCODE), str(folder), str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 30)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert disk_cache_info(folder)["entries"] == 90  # 90 distinct texts
    texts = load_rotten_tomatoes()["text"].tolist()[:90]
    sktransfer.clear_cache()
    backbone = get_backbone("all-MiniLM-L6-v2", device="cpu")
    before = backbone.n_forwarded
    shared = TextEncoder(device="cpu", cache=str(folder)).fit_transform(texts)
    assert backbone.n_forwarded == before  # the next job embeds nothing again
    serial = TextEncoder(device="cpu", cache=False).fit_transform(texts)
    np.testing.assert_allclose(shared, serial, atol=1e-5)


# An embedding job killed (SIGKILL) after 64 rows reached the disk.
_KILLED_ENCODE = """
import os, signal, sys
from sktransfer import TextEncoder, _cache
from sktransfer.datasets import load_rotten_tomatoes

real, count = _cache.DiskCache.put, []

def put_then_die(self, key, value):
    real(self, key, value)
    count.append(1)
    if len(count) == 64:
        os.kill(os.getpid(), signal.SIGKILL)

_cache.DiskCache.put = put_then_die
texts = load_rotten_tomatoes()["text"].tolist()[:200]
TextEncoder(device="cpu", cache=sys.argv[1], batch_size=16).fit_transform(texts)
"""


def test_a_killed_embedding_job_resumes_without_recomputing(tmp_path):
    folder = tmp_path / "features"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_ENCODE), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    done = disk_cache_info(folder)["entries"]
    assert done == 64
    texts = load_rotten_tomatoes()["text"].tolist()[:200]
    sktransfer.clear_cache()
    backbone = get_backbone("all-MiniLM-L6-v2", device="cpu")
    before = backbone.n_forwarded
    resumed = TextEncoder(device="cpu", cache=str(folder)).fit_transform(texts)
    assert backbone.n_forwarded - before == len(set(texts)) - done  # only what was not on disk
    whole = TextEncoder(device="cpu", cache=False).fit_transform(texts)
    np.testing.assert_allclose(resumed, whole, atol=1e-5)
