"""Token orders of the three ToM directions (forward, reverse, inter-slice) and their inverses.

A stage tensor (B, C, D, H, W) is flattened row-major into L = D*H*W tokens, token index
``d*H*W + h*W + w``. "Depth" is the first spatial axis of the tensor, as in the published SegMamba code
(B, C, D, H, W). The SegMamba network transposes this project's nibabel (X, Y, Z) arrays to the published
SimpleITK layout (Z, Y, X) before its first layer, so D is Z and the inter-slice direction runs across
axial slices, as published.

- ``forward``: raster order, depth slowest, last axis fastest.
- ``reverse``: the forward order reversed.
- ``slice``: depth fastest: permute (D, H, W) -> (H, W, D) and flatten. For every in-plane position (h, w) in
  raster order the sequence visits d = 0..D-1. This is the true depth-fastest order for any input size; at a
  128^3 input it equals the published chunk interleave with nslices = [64, 32, 16, 8].
"""

from __future__ import annotations

import torch

DIRECTIONS = ("forward", "reverse", "slice")


def _check(direction: str, sequence: torch.Tensor, spatial_shape: tuple[int, int, int]) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown scan direction {direction!r}; expected one of {DIRECTIONS}")
    depth, height, width = spatial_shape
    if sequence.shape[-1] != depth * height * width:
        raise ValueError(f"sequence length {sequence.shape[-1]} does not match spatial shape {tuple(spatial_shape)}")


def to_sequence(tokens: torch.Tensor, direction: str, spatial_shape: tuple[int, int, int]) -> torch.Tensor:
    """Reorder raster-order tokens (B, C, L) into the visiting order of ``direction`` (B, C, L)."""
    _check(direction, tokens, spatial_shape)
    if direction == "forward":
        return tokens
    if direction == "reverse":
        return tokens.flip(-1)
    batch, channels, length = tokens.shape
    return tokens.view(batch, channels, *spatial_shape).permute(0, 1, 3, 4, 2).reshape(batch, channels, length)


def from_sequence(sequence: torch.Tensor, direction: str, spatial_shape: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`to_sequence`: bring a (B, C, L) sequence of ``direction`` back to raster order."""
    _check(direction, sequence, spatial_shape)
    if direction == "forward":
        return sequence
    if direction == "reverse":
        return sequence.flip(-1)
    batch, channels, length = sequence.shape
    depth, height, width = spatial_shape
    return sequence.view(batch, channels, height, width, depth).permute(0, 1, 4, 2, 3).reshape(batch, channels, length)


def sequence_order(direction: str, spatial_shape: tuple[int, int, int]) -> torch.Tensor:
    """Raster token index visited at each sequence position of ``direction`` (a LongTensor of length L).

    Example: ``sequence_order("slice", (4, 3, 2))`` starts 0, 6, 12, 18, 1, 7, 13, 19, 2, ...
    """
    length = spatial_shape[0] * spatial_shape[1] * spatial_shape[2]
    return to_sequence(torch.arange(length).view(1, 1, length), direction, spatial_shape).view(length)
