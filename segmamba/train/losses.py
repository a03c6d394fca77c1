"""Training losses by name: ``ce`` (the published recipe) and ``dice_ce`` (MONAI's Dice + cross-entropy).

Every loss takes float logits (B, K, *spatial) and integer labels (B, *spatial) with values in [0, K).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from segmamba.errors import ConfigError
from segmamba.train.settings import LOSS_NAMES

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over all classes, averaged over every voxel (the published SegMamba loss)."""
    return F.cross_entropy(logits, label)


def dice_ce() -> LossFn:
    """MONAI's ``DiceCELoss``: soft Dice of the softmax (foreground classes, over the whole batch) plus CE.

    Batch Dice (one Dice per class over all patches of the batch, as nnU-Net uses it) stays defined for a
    patch without foreground; the background class is left out of the Dice term as in nnU-Net.
    """
    from monai.losses import DiceCELoss

    loss = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
    return lambda logits, label: loss(logits, label[:, None])


def make_loss(name: str) -> LossFn:
    """The loss function called ``name`` (one of ``LOSS_NAMES``); ConfigError for any other name."""
    if name == "ce":
        return cross_entropy
    if name == "dice_ce":
        return dice_ce()
    raise ConfigError(f"segmamba train: unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
