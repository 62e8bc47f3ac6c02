"""Freeze depth, layer-wise learning rates and gradual unfreezing.

A backbone has ordered blocks (stem -> stages -> head). ``n_trainable_blocks``
counts from the top: 0 trains only the new head (a linear probe), k trains the
top k blocks and the head, ``"all"`` trains every block from the pretrained
weights.
"""

import numpy as np


def n_trainable(n_trainable_blocks, n_blocks):
    """Resolve ``n_trainable_blocks`` (int or "all") to a count in [0, n_blocks].

    Examples
    --------
    >>> n_trainable("all", 9), n_trainable(2, 9)
    (9, 2)
    >>> n_trainable(12, 9)
    Traceback (most recent call last):
    ...
    ValueError: n_trainable_blocks=12 is more than the 9 blocks of this backbone; use an int in 0..9 or "all".
    """
    if isinstance(n_trainable_blocks, str):
        if n_trainable_blocks == "all":
            return n_blocks
        raise ValueError(f'n_trainable_blocks must be an int or "all", got {n_trainable_blocks!r}.')
    if isinstance(n_trainable_blocks, bool) or not isinstance(n_trainable_blocks, (int, np.integer)):
        raise ValueError(f'n_trainable_blocks must be an int or "all", got {n_trainable_blocks!r}.')
    if n_trainable_blocks < 0:
        raise ValueError(f"n_trainable_blocks must be >= 0, got {n_trainable_blocks}.")
    if n_trainable_blocks > n_blocks:
        raise ValueError(
            f"n_trainable_blocks={n_trainable_blocks} is more than the {n_blocks} blocks of this "
            f'backbone; use an int in 0..{n_blocks} or "all".'
        )
    return int(n_trainable_blocks)


def schedule(n_trainable_blocks, n_blocks, unfreeze_every, max_epochs):
    """Trainable-block count at the start and at the last epoch.

    With gradual unfreezing one more block becomes trainable every
    ``unfreeze_every`` epochs.

    Examples
    --------
    >>> schedule(1, 9, None, 10)
    (1, 1)
    >>> schedule(1, 9, 3, 10)  # epochs 1-3: 1 block, 4-6: 2, 7-9: 3, 10: 4
    (1, 4)
    """
    first = n_trainable(n_trainable_blocks, n_blocks)
    if unfreeze_every is None:
        return first, first
    if isinstance(unfreeze_every, bool) or not isinstance(unfreeze_every, (int, np.integer)) or unfreeze_every < 1:
        raise ValueError(f"unfreeze_every must be None or a positive int, got {unfreeze_every!r}.")
    return first, min(n_blocks, first + (max_epochs - 1) // unfreeze_every)


def trainable_at_epoch(first, last, unfreeze_every, epoch):
    """Trainable-block count during 1-based ``epoch``."""
    if unfreeze_every is None:
        return first
    return min(last, first + (epoch - 1) // unfreeze_every)


def block_lr_scales(n_blocks_in_module, backbone_lr_scale, layer_decay):
    """Learning-rate multiplier of each block, bottom first; the head gets 1.

    The top block gets ``backbone_lr_scale``; each block below it
    ``layer_decay`` times the one above (layer-wise learning-rate decay).

    Examples
    --------
    >>> [round(s, 3) for s in block_lr_scales(3, 0.1, 0.5)]
    [0.025, 0.05, 0.1]
    """
    return [backbone_lr_scale * layer_decay ** (n_blocks_in_module - 1 - i) for i in range(n_blocks_in_module)]
