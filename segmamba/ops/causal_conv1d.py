"""Causal depthwise conv1d (causal-conv1d ``causal_conv1d_fn`` semantics): fast torch path and reference.

Shapes: x (b, d, L); weight (d, width); bias (d,). With zero padding on the left::

    out[:, c, t] = bias[c] + sum_k weight[c, k] * x[:, c, t + k - (width - 1)]

followed by SiLU when ``activation`` is "silu" (or its alias "swish").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ACTIVATIONS = (None, "silu", "swish")


def check_activation(activation: str | None) -> None:
    """Raise ValueError unless ``activation`` is None, "silu" or "swish"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"causal_conv1d activation must be None, 'silu' or 'swish', got {activation!r}")


def causal_conv1d_torch(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str | None = None
) -> torch.Tensor:
    """Causal depthwise conv1d as one grouped ``F.conv1d`` with left padding (any device, autograd)."""
    check_activation(activation)
    width = weight.shape[1]
    bias = None if bias is None else bias.to(x.dtype)
    out = F.conv1d(F.pad(x, (width - 1, 0)), weight.to(x.dtype).unsqueeze(1), bias, groups=x.shape[1])
    return F.silu(out) if activation is not None else out


def causal_conv1d_ref(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str | None = None
) -> torch.Tensor:
    """Reference causal depthwise conv1d: an explicit sum of ``width`` shifted, weighted copies of x."""
    check_activation(activation)
    width = weight.shape[1]
    length = x.shape[-1]
    out = x.new_zeros(x.shape) if bias is None else bias[:, None].to(x.dtype).expand_as(x).clone()
    for k in range(width):
        shift = width - 1 - k
        if shift >= length:
            continue
        contribution = weight[:, k, None].to(x.dtype) * x[..., : length - shift]
        out = out + F.pad(contribution, (shift, 0))
    return F.silu(out) if activation is not None else out
