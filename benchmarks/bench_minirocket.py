"""Benchmark: sktransfer's numpy MiniRocket against sktime's (numba) on the shipped UCR sets.

Same pipeline for both: MiniRocket features (10,000 requested: 9,996), scaled
(StandardScaler without centring), RidgeClassifierCV (alphas 1e-3..1e3), as
in the MiniRocket paper; the archive's train/test split; ``--seeds`` seeds.
sktime's is ``MiniRocket`` for one channel and ``MiniRocketMultivariate`` for
BasicMotions. Reported: test accuracy (mean over seeds) and fit + predict time
(sktime's first call compiles its numba functions: that run is timed apart).

sktime needs numba and pandas < 3.1, so this runs in its own environment::

    python -m venv /tmp/skvenv && . /tmp/skvenv/bin/activate
    pip install sktime==1.2.0 numba tqdm pillow
    PYTHONPATH=. python benchmarks/bench_minirocket.py
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.preprocessing import StandardScaler

SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")


def score(features, X, y, Xt, yt):
    """Features -> scaler -> ridge, by hand: sktime's transformers fail inside scikit-learn
    1.9's Pipeline (its callback context deletes an attribute skbase objects do not hold)."""
    scaler = StandardScaler(with_mean=False)
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    ridge.fit(scaler.fit_transform(features.fit(X).transform(X)), y)
    return ridge.score(scaler.transform(features.transform(Xt)), yt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    from sktime.transformations.panel.rocket import MiniRocket as SktimeMiniRocket
    from sktime.transformations.panel.rocket import MiniRocketMultivariate

    from sktransfer.datasets import load_ucr
    from sktransfer.modalities.minirocket import MiniRocket

    warm = np.random.default_rng(0).random((4, 1, 30))
    start = time.perf_counter()
    SktimeMiniRocket(random_state=0).fit(warm).transform(warm)
    MiniRocketMultivariate(random_state=0).fit(np.repeat(warm, 2, 1)).transform(
        np.repeat(warm, 2, 1)
    )
    print(f"sktime's numba compilation (first calls): {time.perf_counter() - start:.1f} s")
    print("\n| set | sktransfer (numpy) | sktime (numba) |\n|---|---|---|")
    for name in SETS:
        X, y = load_ucr(name, split="train")
        Xt, yt = load_ucr(name, split="test")
        X3, Xt3 = (X[:, None], Xt[:, None]) if X.ndim == 2 else (X, Xt)
        theirs_cls = SktimeMiniRocket if X3.shape[1] == 1 else MiniRocketMultivariate
        cells = []
        for cls, (a, b) in ((MiniRocket, (X, Xt)), (theirs_cls, (X3, Xt3))):
            accs, times = [], []
            for seed in seeds:
                start = time.perf_counter()
                accs.append(score(cls(random_state=seed), a, y, b, yt))
                times.append(time.perf_counter() - start)
            cells.append(f"{100 * np.mean(accs):.1f} % ({np.mean(times):.2f} s)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
