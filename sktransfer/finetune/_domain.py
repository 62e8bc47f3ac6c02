"""Domain adaptation while fine-tuning, the torch-free part: which loss, which rows.

The losses themselves are skada.deep's, wired in by
:mod:`sktransfer.finetune._domain_torch`.
"""

import numpy as np

from .._contract import Constraint

LOSSES = ("dann", "deepcoral", "dan", "mcc")
# Losses between the two domains' features: they need trainable blocks.
FEATURE_LOSSES = ("dann", "deepcoral", "dan")


def parts(domain_loss):
    """``"dann+mcc"`` -> ``("dann", "mcc")``; None -> ``()``."""
    return () if domain_loss is None else tuple(domain_loss.split("+"))


class DomainLoss(Constraint):
    """One of :data:`LOSSES`, or several different ones joined by "+"."""

    def is_satisfied_by(self, val):
        if not isinstance(val, str):
            return False
        names = parts(val)
        return len(set(names)) == len(names) and all(n in LOSSES for n in names)

    def __str__(self):
        return f'one of {list(LOSSES)}, or several of them joined by "+" (e.g. "dann+mcc")'


def check_task(name, domain_loss, classifier):
    """A loss this kind of estimator cannot use."""
    if "mcc" in parts(domain_loss) and not classifier:
        raise ValueError(
            f'{name}: domain_loss={domain_loss!r}: "mcc" lowers the confusion between predicted '
            "classes on "
            'target rows; a regressor predicts no classes. Use "dann", "deepcoral" or "dan".'
        )


def check_depth(name, domain_loss, n_trainable_last):
    """A loss between features needs blocks that train."""
    if n_trainable_last == 0 and set(parts(domain_loss)) & set(FEATURE_LOSSES):
        raise ValueError(
            f"{name}: domain_loss={domain_loss!r} aligns the backbone's features of the two "
            "domains by training the blocks that produce them, and n_trainable_blocks=0 trains "
            "none. Set n_trainable_blocks >= 1, or align frozen features with one of skada's "
            "shallow adapters: make_da_pipeline(Encoder(), CORALAdapter(), LogisticRegression())."
        )


def target_rows(name, X, y, sample_domain, domain_loss, classifier):
    """Which rows are unlabelled target rows (skada's layout), or None without ``sample_domain``."""
    if sample_domain is None:
        if domain_loss is not None:
            raise ValueError(
                f"{name}: domain_loss={domain_loss!r} adapts to unlabelled target rows, and fit "
                "got none: pass sample_domain (positive on source rows, negative on target rows) "
                "with X and y holding both, e.g. X, y, sample_domain = "
                "sktransfer.adapt.domain_arrays(X_source, y_source, X_target)."
            )
        return None
    from ..adapt import check_domain_arrays

    check_domain_arrays(X, None, sample_domain)
    target = np.asarray(sample_domain) < 0
    if target.all():
        raise ValueError(
            f"{name}: sample_domain has no source row (>= 0); labelled source rows are needed."
        )
    if domain_loss is not None and not target.any():
        raise ValueError(
            f"{name}: sample_domain has no target row (< 0); domain_loss={domain_loss!r} needs "
            "unlabelled target rows to adapt to."
        )
    y_source = np.asarray(y)[~target]
    if y_source.dtype.kind in "iuf":
        unlabelled = (
            np.isnan(y_source) if y_source.dtype.kind == "f" else np.zeros(y_source.shape, bool)
        )
        if classifier:
            unlabelled |= y_source == -1
        unlabelled = unlabelled.reshape(len(y_source), -1).any(axis=1)
        if unlabelled.any():
            rows = np.flatnonzero(~target)[unlabelled]
            raise ValueError(
                f"{name}: source rows {rows[:5].tolist()}{' ...' if len(rows) > 5 else ''} of y "
                f"are unlabelled ({'-1 or ' if classifier else ''}NaN, skada's mark for target "
                "rows); every source row needs a label."
            )
    return target
