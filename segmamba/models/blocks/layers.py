"""Small layers shared by the networks: channels-first LayerNorm, the channel MLP and the token-mixer layer
(norm + mixer + residual) around SegMamba's ToM and M6's attention."""

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


class TokenMixerLayer(nn.Module):
    """Flatten a 3-D feature map to tokens, LayerNorm, mix, reshape back and add the input (published
    ``MambaLayer``; no MLP, no DropPath).

    Args:
        channels: C.
        mixer: a module ``mixer(tokens (B, L, C), spatial_shape) -> (B, L, C)``.
        mixer_name: attribute name of the mixer (``"mamba"`` as published, ``"attn"`` for attention).

    Shapes: input B C D H W, output B C D H W.
    """

    def __init__(self, channels: int, mixer: nn.Module, mixer_name: str = "mamba") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.mixer_name = mixer_name
        self.add_module(mixer_name, mixer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the residual mixer to x (B, C, D, H, W)."""
        batch, channels, *spatial = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, C), raster order
        mixed = getattr(self, self.mixer_name)(self.norm(tokens), tuple(spatial))
        return x + mixed.transpose(1, 2).reshape(batch, channels, *spatial)
