"""3D UX-Net block: depthwise 7^3 conv, LayerNorm, per-channel (grouped) expansion MLP, layer scale."""

from __future__ import annotations

import torch
from monai.networks.layers import DropPath
from torch import nn

from segmamba.models.blocks.layers import ChannelsFirstLayerNorm


class UXBlock(nn.Module):
    """ConvNeXt-style residual block of 3D UX-Net (Lee et al., ICLR 2023, https://arxiv.org/abs/2209.15076).

    dwconv 7^3 (groups=C) -> LN (eps 1e-6) -> grouped 1x1x1 C->4C (groups=C) -> GELU -> grouped 1x1x1 4C->C
    (groups=C) -> x gamma (init ``layer_scale_init_value``) -> DropPath -> + input. 360 C parameters.

    Args:
        channels: C.
        drop_path: stochastic-depth rate, default ``0.0``.
        layer_scale_init_value: initial layer scale gamma, default ``1e-6``.
    """

    def __init__(self, channels: int, drop_path: float = 0.0, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv3d(channels, channels, kernel_size=7, padding=3, groups=channels)
        self.norm = ChannelsFirstLayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Conv3d(channels, 4 * channels, kernel_size=1, groups=channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv3d(4 * channels, channels, kernel_size=1, groups=channels)
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init_value)))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to x (B, C, D, H, W)."""
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.drop_path(y * self.gamma.view(1, -1, 1, 1, 1))
