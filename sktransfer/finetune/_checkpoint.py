"""``checkpoint_dir``: a fit saves its state after every epoch and resumes from it.

skorch's ``Checkpoint`` and ``LoadInitState`` save and reload the module,
optimizer and history, then train ``max_epochs`` more. Resuming *to the
result of the uninterrupted fit* takes more: the epochs left, every
callback's state (the learning-rate schedule's step, early stopping's
patience counter and best weights) and torch's RNG state (shuffling,
augmentation and dropout draw from it). :class:`EpochCheckpoint` saves all
of it at the end of each epoch and puts it back when training begins.

One file per fit, ``<estimator>-<key>.pt``: the key hashes the estimator's
class and parameters (not ``checkpoint_dir``, ``cache`` or ``verbose``,
which do not change the result), the backbone's identity, every sample's
content hash, the encoded targets and the domain rows. A fit that finished
leaves a last file (``done``: the final weights, history and the probe
floor's outcome), from which a repeated fit loads instead of training.
Writes go to a temporary file, then :func:`os.replace`: a kill leaves the
previous checkpoint or the new one, never half of one.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ._torch import skorch, torch

#: Parameters that do not change what a fit computes.
NOT_IN_KEY = ("checkpoint_dir", "cache", "verbose")


def run_key(name, params, backbone, rows, y, target_rows):
    """The identity of one fit: the estimator, its parameters, the model, the data."""
    import joblib

    h = hashlib.blake2b(digest_size=16)
    h.update(name.encode())
    for param, value in sorted(params.items()):
        if param in NOT_IN_KEY:
            continue
        try:
            digest = joblib.hash(value)
        except Exception as exc:  # pickling a lambda or a local class fails, in many ways
            raise ValueError(
                f"{name}: with checkpoint_dir, every parameter must be picklable, to tell "
                f"this fit's checkpoint from others; {param}={value!r} is not ({exc}). Define "
                "it at module level, or leave checkpoint_dir unset."
            ) from None
        h.update(f"{param}={digest};".encode())
    h.update(backbone.identity.encode())
    for sample in backbone.modality.samples(rows, name):
        h.update(sample.key.encode())
    h.update(np.ascontiguousarray(y).tobytes())
    h.update(str(np.asarray(y).shape).encode())
    if target_rows is not None:
        h.update(np.packbits(target_rows).tobytes())
    return h.hexdigest()


class Run:
    """The checkpoint file of one fit."""

    def __init__(self, folder, name, key):
        self.path = Path(folder) / f"{name}-{key}.pt"
        self.key = key

    def load(self):
        """The saved state, or None (no file, another fit's, or a file a crash left unreadable)."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a damaged file (a crash while copying it): start again
            return None
        return state if isinstance(state, dict) and state.get("key") == self.key else None

    def save(self, state):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        torch.save(_numbers_as_python({**state, "key": self.key}), tmp)
        os.replace(tmp, self.path)


def _numbers_as_python(value):
    """``value`` with numpy scalars (a learning rate, a score) as Python numbers, which
    ``torch.load(weights_only=True)`` reads."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return type(value)((k, _numbers_as_python(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_numbers_as_python(v) for v in value)
    return value


def _plain(value):
    """``value`` as types ``torch.load(weights_only=True)`` reads, or ``_SKIP``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if torch.is_tensor(value):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    if isinstance(value, dict):
        items = {k: _plain(v) for k, v in value.items()}
        plain_keys = all(isinstance(k, str) for k in items)
        return _SKIP if not plain_keys or any(v is _SKIP for v in items.values()) else items
    return _SKIP


_SKIP = object()


def callback_states(net):
    """Each callback's fitted state: its attributes ending in ``_`` that are plain values.

    A progress bar's handle and the like are skipped: they hold nothing the
    result depends on.
    """
    states = {}
    for name, cb in net.callbacks_:
        attrs = {}
        for attr, value in vars(cb).items():
            if attr.endswith("_") and not attr.startswith("_"):
                plain = _plain(value)
                if plain is not _SKIP:
                    attrs[attr] = plain
        states[name] = attrs
    return states


def rng_state(device):
    state = {"torch": torch.get_rng_state()}
    if str(device).startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


def to_json(value):
    """JSON text of history rows, scores and the like (numpy scalars as Python ones)."""
    return json.dumps(value, default=lambda o: o.item() if isinstance(o, np.generic) else float(o))


def history_json(history):
    return to_json(list(history))


def history_from(text):
    return skorch.history.History(json.loads(text))


def ran_its_course(net):
    """Whether training ended as planned: every epoch, or stopped early.

    skorch also ends training quietly on Ctrl+C (a ``KeyboardInterrupt``,
    which its early stopping raises too); such a fit is not finished, so it
    must not be saved as finished.
    """
    if len(net.history) >= net.max_epochs:
        return True
    return any(
        isinstance(cb, skorch.callbacks.EarlyStopping) and cb.misses_ >= cb.patience
        for _, cb in net.callbacks_
    )


class EpochCheckpoint(skorch.callbacks.Callback):
    """Save the whole training state at the end of every epoch; put a saved one back at the start.

    It runs last, so the state it saves includes what every other callback
    did at the end of the epoch, and the state it restores overrides what
    they reset when training began. ``extra`` is saved alongside (the probe
    that the floor may restore).
    """

    def __init__(self, run, resume=None, extra=None):
        self.run = run
        self.resume = resume
        self.extra = extra

    def on_train_begin(self, net, **kwargs):
        state = self.resume
        if state is None:
            return
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = history_from(state["history"])
        for name, cb in net.callbacks_:
            for attr, value in state["callbacks"].get(name, {}).items():
                setattr(cb, attr, value)
        set_rng_state(state["rng"])

    def on_epoch_end(self, net, **kwargs):
        self.run.save(
            {
                "done": False,
                "module": net.module_.state_dict(),
                "optimizer": net.optimizer_.state_dict(),
                "history": history_json(net.history),
                "callbacks": callback_states(net),
                "rng": rng_state(net.device),
                **(self.extra or {}),
            }
        )

    def on_train_end(self, net, **kwargs):
        # The fitted net keeps its callbacks: drop what only resuming needed.
        self.resume = self.extra = None


# -- the trainer's side ------------------------------------------------------------------
def open_run(trainer, rows, target_rows, seed):
    """The fit's checkpoint file, what it holds (or None) and the seed to train with.

    An unseeded fit takes the seed its first attempt drew, so that it
    resumes to the same result. With ``cache=True``, the trainer's cache
    becomes ``checkpoint_dir/features``: finished work includes the frozen
    blocks' outputs, which a new process then reads instead of recomputing.
    """
    folder = os.fspath(trainer.params["checkpoint_dir"])
    if trainer.params["cache"] is True:
        trainer.params = {**trainer.params, "cache": os.path.join(folder, "features")}
    key = run_key(
        trainer.name, trainer.params, trainer.backbone, rows, trainer.encoded.y, target_rows
    )
    run = Run(folder, trainer.name, key)
    state = run.load()
    if seed is None:
        seed = int(state["seed"]) if state is not None else None
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
    return run, state, seed


def saved_with(seed, probe, probe_scores):
    """What every checkpoint of a fit saves besides the training state: its seed and probe."""
    return {
        "seed": seed,
        "probe": None if probe is None else probe.module_.state_dict(),
        "probe_scores": to_json(probe_scores),
    }


def saved_probe(trainer, state):
    """The probe (head-only net) and its scores as a checkpoint saved them."""
    from ._trainer import task_criterion

    if state.get("probe") is None:
        return None, None
    criterion, net_kwargs = task_criterion(trainer.encoded)
    probe = trainer.net(trainer.module(head_only=True), criterion, net_kwargs, probe=True)
    probe.initialize()
    probe.module_.load_state_dict(state["probe"])
    return probe, json.loads(state["probe_scores"])


def resumable_fit(net, saved, train_data, y_train):
    """``net.fit``, saving every epoch; from a saved epoch on, only the epochs left."""
    run, state, extra = saved
    net.callbacks = [*net.callbacks, ("checkpoint", EpochCheckpoint(run, state, extra))]
    if state is None:
        return net.fit(train_data, y_train)
    net.initialize()
    left = net.max_epochs - len(json.loads(state["history"]))
    # A saved state never ends on early stopping's stop: the stopping epoch's
    # end raises (KeyboardInterrupt, which partial_fit catches) before the
    # checkpoint, which runs last, saves it.
    return net.partial_fit(train_data, y_train, epochs=left)


def finished(net, state):
    """The net of a fit that had finished, loaded from its last checkpoint, and its outcome."""
    net.initialize()
    net.module_.load_state_dict(state["module"])
    net.history = history_from(state["history"])
    net.train_split = None
    return net, json.loads(state["outcome"])


def save_finished(run, net, seed, outcome):
    """The last checkpoint of a fit that ran its course (not of one stopped by Ctrl+C)."""
    if ran_its_course(net):
        run.save(
            {
                "done": True,
                "seed": seed,
                "module": net.module_.state_dict(),
                "history": history_json(net.history),
                "outcome": to_json(outcome),
            }
        )
