"""Benchmark: forecasting the airline passengers with Fracast, fine-tuned and frozen, side by side.

The monthly airline series (144 points, shipped with sktransfer) as
supervised windows: 36 months of context, the next 12 months to predict.
Training windows end before month 108 (61 windows); the test windows start
at months 108..132 (25 windows, every forecast inside the last 36 months).
MASE: mean absolute error over the test windows, divided by the in-sample
mean absolute error of the seasonal naive forecast (lag 12) on months 0..107.

- ``seasonal naive``: each month as 12 months before;
- ``ridge on lags``: RidgeCV on the 36 lags, one output per horizon step;
- ``Fracast zero-shot``: the fracast package's own ``forecast_batch`` on the
  same 36-month windows (the pretrained model, frozen, with its head);
- ``TimeSeriesRegressor, head_init="forecast"``: Fracast's pretrained
  forecasting head trained on the training windows, ``n_trainable_blocks``
  0 (the head only) and 1 (the shared stages too), ``normalize=None``;
- ``TimeSeriesRegressor, new head``: the default regressor (a new head on
  the pooled features of min-max scaled windows), ``normalize=None``.

Run: ``python benchmarks/bench_forecasting.py`` (about 15 min on 2 cores).
"""

import time
import warnings

import numpy as np
from sklearn.linear_model import RidgeCV

CONTEXT, HORIZON, SPLIT = 36, 12, 108


def windows(series, starts):
    X = np.stack([series[t - CONTEXT : t] for t in starts])
    Y = np.stack([series[t : t + HORIZON] for t in starts])
    return X, Y


def main():
    warnings.filterwarnings("ignore")
    from fracast.inference import FracastModel

    from sktransfer import TimeSeriesRegressor
    from sktransfer.datasets import load_airline

    y = load_airline().to_numpy()
    X, Y = windows(y, range(CONTEXT, SPLIT - HORIZON + 1))
    Xt, Yt = windows(y, range(SPLIT, len(y) - HORIZON + 1))
    scale = np.mean(np.abs(y[12:SPLIT] - y[: SPLIT - 12]))
    print(f"train windows {len(X)}, test windows {len(Xt)}, seasonal-naive scale {scale:.2f}")

    def fit_predict(model):
        start = time.perf_counter()
        pred = model.fit(X, Y).predict(Xt)
        return pred, time.perf_counter() - start

    rows = {"seasonal naive": (Xt[:, -12:], 0.0)}
    rows["ridge on lags"] = fit_predict(RidgeCV(alphas=np.logspace(-3, 3, 13)))
    start = time.perf_counter()
    zero_shot = FracastModel.from_pretrained(weights="fp32").forecast_batch(Xt, horizon=HORIZON)
    rows["Fracast zero-shot"] = (zero_shot[..., 4], time.perf_counter() - start)
    common = dict(normalize=None, device="cpu", random_state=0)
    for k in (0, 1):
        rows[f'TimeSeriesRegressor, head_init="forecast", k={k}'] = fit_predict(
            TimeSeriesRegressor(head_init="forecast", n_trainable_blocks=k, **common)
        )
    rows["TimeSeriesRegressor, new head (probe)"] = fit_predict(TimeSeriesRegressor(**common))

    print("\n| method | MASE | fit + predict |\n|---|---|---|")
    for name, (pred, seconds) in rows.items():
        mase = np.mean(np.abs(pred - Yt)) / scale
        print(f"| {name} | {mase:.3f} | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
