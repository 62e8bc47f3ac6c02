"""Continued pretraining: teach a pretrained network the target domain from unlabelled data.

Domain- and task-adaptive pretraining (Gururangan et al. 2020, "Don't Stop
Pretraining") trains a pretrained network further, with a self-supervised
objective, on unlabelled data of the domain it will serve; a task with few
labels then starts from there. :func:`continue_pretraining` does it and
writes a backbone folder that every estimator takes as ``model=``
(see :mod:`sktransfer.backbones.saved`).

Examples
--------
>>> import tempfile, os
>>> from sktransfer import TextEncoder
>>> from sktransfer.pretrain import continue_pretraining
>>> texts = ["the delivery was late", "refund not received", "great support"] * 4
>>> out = os.path.join(tempfile.mkdtemp(), "tiny-tickets")
>>> path = continue_pretraining("sktransfer/tiny-text", texts, method="simcse", output_dir=out,
...                             epochs=2, batch_size=4, random_state=0, verbose=False)
>>> TextEncoder(model=path).fit_transform(texts[:2]).shape
(2, 8)
"""

import hashlib
import json
import math
import numbers
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from . import _contract
from .backbones import get_backbone, resolve_device

__all__ = ["METHODS", "continue_pretraining"]

#: The objectives each modality takes; the first is the default.
METHODS = {"text": ("tsdae", "simcse", "mlm"), "image": ("simclr",)}

#: Per objective: batch size, learning rate, the steps "auto" epochs aim at, the
#: blocks "auto" trains (the papers train every layer of a text model; SimCLR
#: trains the top 2 of an image network, whose frozen prefix then runs once per
#: cached view), and whether the trained blocks start from the frozen ones' output.
#: Batch and learning rate are the papers' (TSDAE: 8, 3e-5; SimCSE: 64 -> 32
#: on a CPU, 3e-5; DAPT's MLM: 5e-5 for a small model); SimCLR's learning
#: rate is for fine-tuning the top blocks of a pretrained CNN with AdamW.
DEFAULTS = {
    "tsdae": {
        "batch_size": 8,
        "lr": 3e-5,
        "steps": 300,
        "trainable": "all",
        "starts_at_block": False,
    },
    "simcse": {
        "batch_size": 32,
        "lr": 3e-5,
        "steps": 150,
        "trainable": "all",
        "starts_at_block": False,
    },
    "mlm": {
        "batch_size": 16,
        "lr": 5e-5,
        "steps": 300,
        "trainable": "all",
        "starts_at_block": False,
    },
    "simclr": {"batch_size": 64, "lr": 3e-4, "steps": 200, "trainable": 2, "starts_at_block": True},
}
MAX_AUTO_EPOCHS = 20


class _Trainable(_contract.Constraint):
    def is_satisfied_by(self, val):
        return val in ("auto", "all") or (
            isinstance(val, numbers.Integral) and not isinstance(val, bool) and val >= 1
        )

    def __str__(self):
        return "'auto', 'all' or an int >= 1"


PARAMETERS = {
    "method": [StrOptions({"auto", *(m for ms in METHODS.values() for m in ms)})],
    "weights": [None, str, os.PathLike],
    "n_trainable_blocks": [_Trainable()],
    "epochs": [StrOptions({"auto"}), _contract.IntInterval(1, None, closed="left")],
    "batch_size": [None, _contract.IntInterval(2, None, closed="left")],
    "lr": [None, Interval(numbers.Real, 0, None, closed="neither")],
    "n_views": [_contract.IntInterval(2, None, closed="left")],
    "checkpoint_every": [_contract.IntInterval(1, None, closed="left")],
    "device": [_contract.Device()],
    "random_state": ["random_state"],
    "verbose": ["boolean"],
}


def resolve(backbone, n_rows, *, method, n_trainable_blocks, epochs, batch_size, lr, seed, caller):
    """The run's settings (a dict) from the user's, for ``backbone`` and ``n_rows`` rows."""
    modality = backbone.modality.name
    allowed = METHODS.get(modality, ())
    if not allowed:
        raise ValueError(f"{caller}: no self-supervised objective for {modality} models yet.")
    if method == "auto":
        method = allowed[0]
    if method not in allowed:
        raise ValueError(
            f"{caller}: method={method!r} is not an objective for {modality} models "
            f"({backbone.name!r}); choose one of {list(allowed)}."
        )
    if n_rows < 2:
        raise ValueError(f"{caller}: at least 2 rows are needed; got {n_rows}.")
    n_blocks = backbone.n_blocks
    defaults = DEFAULTS[method]
    if n_trainable_blocks == "auto":
        n_trainable_blocks = defaults["trainable"]
        if n_trainable_blocks != "all":
            n_trainable_blocks = min(n_trainable_blocks, n_blocks)
    k = n_blocks if n_trainable_blocks == "all" else int(n_trainable_blocks)
    if k > n_blocks:
        raise ValueError(
            f"{caller}: n_trainable_blocks={k} but {backbone.name!r} has {n_blocks} blocks "
            f"{backbone.block_names}."
        )
    if k < n_blocks and defaults["starts_at_block"] and not backbone.can_start_at(n_blocks - k):
        raise ValueError(
            f"{caller}: {backbone.name!r} cannot run from block {n_blocks - k}; train more blocks."
        )
    batch = min(batch_size or defaults["batch_size"], n_rows)
    steps_per_epoch = max(1, n_rows // batch)
    if epochs == "auto":
        epochs = int(min(MAX_AUTO_EPOCHS, max(1, math.ceil(defaults["steps"] / steps_per_epoch))))
    return {
        "method": method,
        "first": n_blocks - k,
        "n_trainable_blocks": k,
        "epochs": int(epochs),
        "batch_size": batch,
        "lr": float(lr or defaults["lr"]),
        "seed": seed,
        "warmup_fraction": 0.1,
    }


def run_key(backbone, rows, settings, extra=()):
    """The identity of one run: the model, the data (sample content hashes) and the settings."""
    h = hashlib.blake2b(digest_size=16)
    h.update(backbone.identity.encode())
    for sample in backbone.modality.samples(rows, "continue_pretraining"):
        h.update(sample.key.encode())
    h.update(json.dumps({**settings, "extra": list(extra)}, sort_keys=True).encode())
    return h.hexdigest()


def _output_dir(output_dir, overwrite):
    from .backbones.saved import CHECKPOINT, is_saved

    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"output_dir {str(path)!r} exists and is not a folder.")
    if path.is_dir():
        contents = {p.name for p in path.iterdir()}
        if is_saved(path) and not overwrite:
            raise FileExistsError(
                f"output_dir {str(path)!r} already holds a saved backbone; pass overwrite=True "
                "to replace it, or pass it as model= to use it."
            )
        if contents - {CHECKPOINT} and not is_saved(path):
            raise FileExistsError(
                f"output_dir {str(path)!r} is not empty and is not a saved backbone; choose a new "
                "folder."
            )
    return path


@validate_params(
    {
        "model": [_contract.NonEmptyPath()],
        "X": "no_validation",
        "output_dir": [_contract.NonEmptyPath()],
        "overwrite": ["boolean"],
        **PARAMETERS,
    },
    prefer_skip_nested_validation=True,
)
def continue_pretraining(
    model,
    X,
    *,
    output_dir,
    method="auto",
    weights="DEFAULT",
    n_trainable_blocks="auto",
    epochs="auto",
    batch_size=None,
    lr=None,
    n_views=4,
    checkpoint_every=100,
    overwrite=False,
    device="auto",
    random_state=None,
    verbose=True,
):
    """Train ``model`` further on unlabelled ``X`` with a self-supervised objective; save it.

    Parameters
    ----------
    model : str or path
        Any model the estimators take (a sentence-transformers name or folder,
        a torchvision name, ``"efficientnet_lite0"``, a saved backbone folder).
    X : texts or images
        Unlabelled rows of the target domain, as the encoders take them;
        every row is checked first (errors name the row).
    output_dir : str or path
        The folder to write (a saved backbone; see
        :mod:`sktransfer.backbones.saved`). An interrupted run leaves its last
        checkpoint in ``output_dir/_checkpoint``; calling again with the same
        model, data and settings resumes from it and gives the result an
        uninterrupted run gives.
    method : {"auto", "tsdae", "simcse", "mlm", "simclr"}, default="auto"
        The objective: for text ``"tsdae"`` (the default; Wang et al. 2021),
        ``"simcse"`` (Gao et al. 2021) or ``"mlm"`` (masked language
        modelling, as DAPT); for images ``"simclr"`` (Chen et al. 2020).
    weights : {"DEFAULT", None} or path, default="DEFAULT"
        The starting weights, as for the estimators.
    n_trainable_blocks : "auto", "all" or int, default="auto"
        How many top blocks train: ``"auto"`` is every block for text (as the
        papers do) and the top 2 for images, whose frozen lower blocks then
        run once per cached view.
    epochs : "auto" or int, default="auto"
        Passes over X; ``"auto"`` aims at the method's step budget (TSDAE
        and MLM 300 steps, SimCSE 150, SimCLR 200), at most 20 epochs.
    batch_size : int, optional
        Rows per step (TSDAE 8, SimCSE 32, MLM 16, SimCLR 64 by default);
        contrastive objectives use the other rows of the batch as negatives.
    lr : float, optional
        Peak learning rate of AdamW (linear warm-up over 10 % of the steps,
        then linear decay); the method's default otherwise.
    n_views : int, default=4
        SimCLR with frozen lower blocks: augmented views per image whose
        frozen-block outputs are computed once (each step draws two of them);
        more than fit in 2 GiB are computed on every step instead.
    checkpoint_every : int, default=100
        Steps between checkpoints (and at the end of every epoch).
    overwrite : bool, default=False
        Replace a backbone saved in ``output_dir`` before.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
    random_state : int, RandomState instance or None, default=None
        Seeds the batches, the noise, the augmentation and the new layers.
    verbose : bool, default=True
        Show a progress bar with the loss.

    Returns
    -------
    pathlib.Path
        ``output_dir``, to pass as ``model=``.
    """
    from . import _pretrain_torch
    from .backbones import saved

    name = "continue_pretraining"
    output = _output_dir(output_dir, overwrite)
    backbone = get_backbone(model, weights=weights, device=resolve_device(device))
    rows = backbone.modality.check_X(X, name)
    fixed_seed = random_state is not None
    seed = int(check_random_state(random_state).randint(2**31)) if fixed_seed else None
    settings = resolve(
        backbone,
        len(rows),
        method=method,
        n_trainable_blocks=n_trainable_blocks,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        caller=name,
    )
    checkpoint = output / saved.CHECKPOINT
    key = run_key(backbone, rows, {k: v for k, v in settings.items() if k != "seed"}, [n_views])
    state = _pretrain_torch.load_checkpoint(checkpoint)
    if not fixed_seed:
        # An unseeded run resumes with the seed it started with.
        seed = int(state["seed"]) if state is not None and "seed" in state else None
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
    else:
        key = f"{key}:{seed}"
    settings["seed"] = seed
    if state is not None and state.get("key") != key:
        warnings.warn(
            f"{name}: the checkpoint in {str(checkpoint)!r} is from another model, data or "
            "settings; starting again.",
            stacklevel=2,
        )
        shutil.rmtree(checkpoint, ignore_errors=True)
        state = None
    config = {
        **settings,
        "n_views": n_views,
        "max_cache_bytes": 2 * 1024**3,
        "checkpoint_every": checkpoint_every,
        "verbose": verbose,
        "key": key,
    }
    net, summary = _pretrain_torch.train(
        backbone, rows, config, checkpoint_dir=checkpoint, resume=state
    )
    step = {
        "step": "continued pretraining",
        "by": name,
        "method": settings["method"],
        "n_rows": len(rows),
        "n_trainable_blocks": settings["n_trainable_blocks"],
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "lr": settings["lr"],
        "random_state": random_state if isinstance(random_state, numbers.Integral) else None,
        **summary,
    }
    return saved.write(output, net, backbone, step, overwrite=True)


# ----------------------------------------------------------------- inside an estimator

_MEMO = {}  # run key -> (changed weights, summary); the few most recent runs
_MEMO_SIZE = 4


def pretrain_weights(backbone, rows, *, method, epochs, random_state, caller, verbose):
    """Continued pretraining inside ``fit``: (run key, changed weights as arrays, summary).

    The weights stay in the estimator (they pickle with it) rather than in a
    folder. A run with the same model, rows and settings in this process
    (a clone in a grid search, on the same fold) is not trained again.
    """
    from . import _pretrain_torch

    seed = int(check_random_state(random_state).randint(2**31))
    settings = resolve(
        backbone,
        len(rows),
        method=method,
        n_trainable_blocks="auto",
        epochs=epochs,
        batch_size=None,
        lr=None,
        seed=seed,
        caller=caller,
    )
    key = run_key(backbone, rows, settings)
    if key in _MEMO:
        return (key, *_MEMO[key])
    config = {
        **settings,
        "n_views": 4,
        "max_cache_bytes": 2 * 1024**3,
        "checkpoint_every": 1,
        "verbose": verbose,
        "key": key,
    }
    net, summary = _pretrain_torch.train(backbone, rows, config)
    before = backbone.net.state_dict()
    changed = {
        name: value.detach().cpu().numpy().copy()
        for name, value in net.state_dict().items()
        if value.is_floating_point() and not bool((value == before[name].cpu()).all())
    }
    summary = {"method": settings["method"], "epochs": settings["epochs"], **summary}
    _MEMO[key] = (changed, summary)
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    return key, changed, summary
