"""LayerNorm over the channel axis of a channels-first tensor (used by 3D UX-Net)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelsFirstLayerNorm(nn.Module):
    """Normalise B C ... tensors over C with a learnable per-channel weight and bias.

    Args:
        channels: C.
        eps: variance epsilon, default ``1e-6`` (3D UX-Net).
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise x (B, C, *spatial) over C."""
        return F.layer_norm(x.movedim(1, -1), self.weight.shape, self.weight, self.bias, self.eps).movedim(-1, 1)
