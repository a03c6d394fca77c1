"""Residual token-mixing layer of a SegMamba encoder stage: x + mixer(LN(tokens(x)))."""

from __future__ import annotations

import torch
from torch import nn


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
