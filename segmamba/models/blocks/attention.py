"""Global multi-head self-attention over all tokens of a 3-D grid (SegMamba Table 5 ablation, M6)."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

ATTENTION_KERNELS = ("auto", "math")


def heads_for(channels: int, head_dim: int) -> int:
    """Number of attention heads for ``channels``: about channels / head_dim, and a divisor of channels."""
    heads = max(1, channels // head_dim)
    while channels % heads:
        heads -= 1
    return heads


class GlobalSelfAttention(nn.Module):
    """Plain multi-head self-attention over the whole sequence with ``F.scaled_dot_product_attention``.

    With ``kernel="auto"`` PyTorch may pick a fused flash / memory-efficient kernel (memory linear in L, time
    quadratic); ``kernel="math"`` forces the explicit L x L attention matrix (memory quadratic in L), the
    classic self-attention whose memory the SegMamba paper's Table 5 compares against.

    Args:
        d_model: token channels C.
        head_dim: target channels per head (heads = C // head_dim, made a divisor of C), default ``16``.
        kernel: ``"auto"`` (default) or ``"math"``.

    Shapes: ``forward(tokens, spatial_shape)`` with tokens B L C; returns B L C (``spatial_shape`` is unused
    by attention and accepted for interface parity with the Mamba mixers).
    """

    def __init__(self, d_model: int, head_dim: int = 16, kernel: str = "auto") -> None:
        super().__init__()
        if kernel not in ATTENTION_KERNELS:
            raise ValueError(f"attention kernel must be one of {ATTENTION_KERNELS}, got {kernel!r}")
        self.kernel = kernel
        self.num_heads = heads_for(d_model, head_dim)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, tokens: torch.Tensor, spatial_shape: tuple[int, int, int]) -> torch.Tensor:
        """Attend over all L tokens (B, L, C); returns (B, L, C)."""
        batch, length, channels = tokens.shape
        qkv = self.qkv(tokens).view(batch, length, 3, self.num_heads, channels // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, head_dim)
        with sdpa_kernel(SDPBackend.MATH) if self.kernel == "math" else contextlib.nullcontext():
            attended = F.scaled_dot_product_attention(query, key, value)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, channels))
