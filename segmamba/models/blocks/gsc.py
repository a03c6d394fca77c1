"""Gated Spatial Convolution (GSC) block of SegMamba."""

from __future__ import annotations

import torch
from torch import nn

GSC_GATES = ("add", "multiply")


class GatedSpatialConv(nn.Module):
    """Gated Spatial Convolution, as in the published SegMamba code.

    Branch a = two (Conv 3x3x3 -> IN -> ReLU); branch b = Conv 1x1x1 -> IN -> ReLU on the input;
    the branches are combined (``gate="add"``: a + b as published in the code; ``"multiply"``: a * b as
    drawn in the paper), fused by Conv 1x1x1 -> IN -> ReLU, and added to the input.

    Args:
        channels: number of channels C (input and output).
        gate: ``"add"`` (default, published code) or ``"multiply"`` (paper, Fig. 3a).

    Shapes: input B C D H W, output B C D H W. Parameters: 56 C^2 + 4 C.
    """

    def __init__(self, channels: int, gate: str = "add") -> None:
        super().__init__()
        if gate not in GSC_GATES:
            raise ValueError(f"gsc_gate must be one of {GSC_GATES}, got {gate!r}")
        self.gate = gate
        self.proj = nn.Conv3d(channels, channels, 3, 1, 1)
        self.norm = nn.InstanceNorm3d(channels)
        self.proj2 = nn.Conv3d(channels, channels, 3, 1, 1)
        self.norm2 = nn.InstanceNorm3d(channels)
        self.proj3 = nn.Conv3d(channels, channels, 1, 1, 0)
        self.norm3 = nn.InstanceNorm3d(channels)
        self.proj4 = nn.Conv3d(channels, channels, 1, 1, 0)
        self.norm4 = nn.InstanceNorm3d(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to x (B, C, D, H, W)."""
        branch_a = self.act(self.norm(self.proj(x)))
        branch_a = self.act(self.norm2(self.proj2(branch_a)))
        branch_b = self.act(self.norm3(self.proj3(x)))
        gated = branch_a + branch_b if self.gate == "add" else branch_a * branch_b
        return x + self.act(self.norm4(self.proj4(gated)))
