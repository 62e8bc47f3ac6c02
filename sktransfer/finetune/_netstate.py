"""A fine-tuner's state as plain data: the trained network travels as numpy arrays.

Pickle and skops (:mod:`sktransfer.persist`) both store what
:class:`~sktransfer._contract.StateMixin` hands them; this mixin replaces the
skorch net by one array per weight with a SHA-256 over them, and rebuilds the
net on first use after loading.
"""

import hashlib

import numpy as np


class NetStateMixin:
    """``_plain_state`` / ``_restore_state`` hooks of a fine-tuner, and its lazy ``net_``."""

    def _plain_state(self, state):
        net = state.pop("net_", None)
        if net is not None:
            from . import _trainer

            state["_net_weights"] = _trainer.weights_of(net)
        if "history_" in state:
            state["history_"] = _plain(list(state["history_"]))
        if "_net_weights" in state:
            state["_net_digest"] = _digest(state["_net_weights"], state["backbone_identity_"])
        return state

    def _restore_state(self, state):
        if "_net_weights" in state and state.pop("_net_digest", None) != _digest(
            state["_net_weights"], state["backbone_identity_"]
        ):
            raise ValueError(
                f"This {type(self).__name__}'s trained weights do not match the checksum saved "
                "with them: the file was changed after it was written. Refusing to load it."
            )
        if isinstance(state.get("history_"), list):
            from skorch.history import History

            state["history_"] = History(state["history_"])
        return state

    def __getattr__(self, name):
        # A loaded fine-tuner rebuilds its network on first use, on the device
        # it is used on: loading needs no torch device and no backbone.
        weights = self.__dict__.get("_net_weights")
        if name != "net_" or weights is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        from . import _base, _trainer

        n_outputs, loss = self._net_outputs
        encoded = _base.Encoded(None, n_outputs, loss, self._role == "classifier")
        net = _trainer.rebuild(
            self.get_params(deep=False),
            self.fit_plan_,
            self._backbone(),
            encoded,
            type(self).__name__,
            weights,
            self.history_,
        )
        self.__dict__["net_"] = net
        self.history_ = net.history
        del self.__dict__["_net_weights"]
        return net


def _plain(value):
    """skorch's history with numpy scalars as Python numbers (skops stores it as JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _digest(weights, identity):
    """SHA-256 of the trained weights (names, shapes, dtypes, bytes) and the backbone's identity."""
    h = hashlib.sha256(str(identity).encode())
    for key in sorted(weights):
        array = np.ascontiguousarray(weights[key])
        h.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()
