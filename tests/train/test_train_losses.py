"""The training losses (``segmamba.train.losses``) against hand-written formulas, and their configuration."""

from __future__ import annotations

import pytest
import torch

from segmamba.errors import ConfigError
from segmamba.train.losses import make_loss
from segmamba.train.settings import TrainSettings, build_settings

REQUIRED = {"preprocessed": "pre", "split": "split.json", "model": "segresnet", "out": "run"}


def logits_and_label(classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits (2, K, 4, 4, 4) and labels; the second patch holds background only."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, classes, 4, 4, 4, generator=generator)
    label = torch.randint(0, classes, (2, 4, 4, 4), generator=generator)
    label[1] = 0
    return logits, label


def hand_cross_entropy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Mean over voxels of -log softmax(logits)[label]."""
    log_p = logits - logits.exp().sum(1, keepdim=True).log()
    return -log_p.gather(1, label[:, None]).mean()


def hand_batch_dice_loss(logits: torch.Tensor, label: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice per foreground class over the whole batch, averaged over the foreground classes."""
    p = logits.exp() / logits.exp().sum(1, keepdim=True)
    losses = []
    for c in range(1, logits.shape[1]):
        target = (label == c).float()
        intersection = (p[:, c] * target).sum()
        losses.append(1 - (2 * intersection + smooth) / (p[:, c].sum() + target.sum() + smooth))
    return torch.stack(losses).mean()


def test_ce_is_the_voxel_mean_cross_entropy():
    logits, label = logits_and_label()
    assert float(make_loss("ce")(logits, label)) == pytest.approx(float(hand_cross_entropy(logits, label)), rel=1e-5)


def test_dice_ce_adds_batch_foreground_dice_to_cross_entropy():
    logits, label = logits_and_label()
    expected = hand_batch_dice_loss(logits, label) + hand_cross_entropy(logits, label)
    assert float(make_loss("dice_ce")(logits, label)) == pytest.approx(float(expected), rel=1e-5)


def test_dice_ce_gradient_is_finite_without_foreground():
    logits, label = logits_and_label(classes=2)
    logits.requires_grad_(True)
    make_loss("dice_ce")(logits, torch.zeros_like(label)).backward()
    assert torch.isfinite(logits.grad).all()


def test_published_loss_is_the_default_and_unknown_losses_are_rejected():
    assert TrainSettings(**REQUIRED).loss == "ce"
    assert build_settings({}, {**REQUIRED, "loss": "dice_ce"}).loss == "dice_ce"
    with pytest.raises(ConfigError, match="loss must be one of ce, dice_ce, got 'dice'"):
        build_settings({"loss": "dice"}, REQUIRED)
