"""Channel MLP applied to each SegMamba encoder skip output."""

from __future__ import annotations

import torch
from torch import nn


class MlpChannel(nn.Module):
    """Conv 1x1x1 (C -> hidden) -> GELU -> Conv 1x1x1 (hidden -> C), both with bias.

    Args:
        channels: input and output channels C.
        hidden_channels: inner width (2 C in SegMamba).
    """

    def __init__(self, channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(channels, hidden_channels, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv3d(hidden_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to x (B, C, D, H, W)."""
        return self.fc2(self.act(self.fc1(x)))
