"""Time series that ship with sktransfer: UCR/UEA sets (.ts files) and a forecasting series."""

import gzip
from importlib import resources

import numpy as np

UCR_SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "Covid3Month")


def read_ts(lines, source="a .ts file"):
    """Parse the sktime/aeon ``.ts`` text format: ``(series, targets, header)``.

    Each case is one ``@data`` line: channels separated by ``:``, values by
    ``,``, the class label (or regression target) last; ``?`` is a missing
    value. ``series`` is a list of ``(channels, length)`` float arrays (lengths
    may differ between cases); ``targets`` an object array of str labels, or floats
    when the header says ``@targetLabel true``.

    Examples
    --------
    >>> text = ["@problemName toy", "@classLabel true a b", "@data"]
    >>> series, y, header = read_ts(text + ["1,2,3:4,5,6:a", "7,8,?:9,1,2:b"])
    >>> series[1].tolist(), y.tolist(), header["problemname"]
    ([[7.0, 8.0, nan], [9.0, 1.0, 2.0]], ['a', 'b'], 'toy')
    """
    header, series, targets = {}, [], []
    in_data = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.lower() == "@data":
                in_data = True
            elif line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                header[key.lower()] = value.strip()
            continue
        *channels, target = line.split(":")
        if not channels:
            raise ValueError(
                f"{source}, line {number}: expected 'values:...:label', got {line[:60]!r}"
            )
        try:
            values = [
                [np.nan if v.strip() == "?" else float(v) for v in c.split(",")] for c in channels
            ]
        except ValueError as exc:
            raise ValueError(f"{source}, line {number}: {exc}") from None
        if len({len(c) for c in values}) != 1:
            raise ValueError(f"{source}, line {number}: its channels differ in length.")
        series.append(np.asarray(values, dtype=np.float32))
        targets.append(target.strip())
    regression = header.get("targetlabel", "").lower().startswith("true")
    y = np.asarray(targets, dtype=np.float64 if regression else object)
    return series, y, header


def _open(name):
    return resources.files(__package__).joinpath(f"data/{name}")


def load_ucr(name, split=None):
    """A UCR/UEA time-series set that ships with sktransfer, as arrays.

    Vendored from the sktime 1.2.0 wheel (see ``datasets/data/README.md``):

    ================  ===========  ==============  ===========================
    name              train/test   shape           target
    ================  ===========  ==============  ===========================
    GunPoint          50 / 150     150 points      2 classes (draw, point)
    ItalyPowerDemand  67 / 1029    24 points       2 classes (winter, summer)
    ArrowHead         36 / 175     251 points      3 classes (arrowhead type)
    BasicMotions      40 / 40      6 x 100         4 classes (activity)
    Covid3Month       140 / 61     84 points       regression (death rate)
    ================  ===========  ==============  ===========================

    Parameters
    ----------
    name : str
        One of the names above.
    split : {"train", "test"} or None, default=None
        The archive's own split; None returns both, train rows first.

    Returns
    -------
    X : ndarray of shape (n, length) for one channel, (n, channels, length) for several
    y : ndarray of str labels (dtype object), or of floats for regression

    Examples
    --------
    >>> X, y = load_ucr("GunPoint", split="train")
    >>> X.shape, X.dtype, sorted(set(y))
    ((50, 150), dtype('float32'), ['1', '2'])
    >>> load_ucr("BasicMotions")[0].shape
    (80, 6, 100)
    """
    if name not in UCR_SETS:
        raise ValueError(f"Unknown set {name!r}; the shipped ones are {list(UCR_SETS)}.")
    splits = ("TRAIN", "TEST") if split is None else (_split(split),)
    series, targets = [], []
    for part in splits:
        with _open(f"{name}_{part}.ts.gz").open("rb") as fh:
            lines = gzip.decompress(fh.read()).decode("utf-8").splitlines()
        s, y, _ = read_ts(lines, source=f"{name}_{part}.ts")
        series += s
        targets.append(y)
    X = np.stack(series)
    return (X[:, 0] if X.shape[1] == 1 else X), np.concatenate(targets)


def _split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}.")
    return split.upper()


def load_airline():
    """Monthly airline passengers (thousands), 1949-01 to 1960-12: Box & Jenkins' series G.

    Vendored from the sktime 1.2.0 wheel (``datasets/data/README.md``).

    Returns
    -------
    pandas.Series
        144 values, indexed by a monthly ``PeriodIndex``.

    Examples
    --------
    >>> y = load_airline()
    >>> len(y), str(y.index[0]), int(y.iloc[0])
    (144, '1949-01', 112)
    """
    import pandas as pd

    with _open("airline.csv").open("rb") as fh:
        frame = pd.read_csv(fh)
    index = pd.PeriodIndex(frame["Date"], freq="M")
    return pd.Series(frame["Passengers"].to_numpy(np.float64), index=index, name="passengers")
