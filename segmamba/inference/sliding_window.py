"""Whole-volume prediction: MONAI Gaussian sliding window, optionally averaged over the 8 mirror flips."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

SPATIAL_DIMS = (2, 3, 4)  # X, Y, Z of a (B, C, X, Y, Z) tensor


def mirror_axes(tta: bool) -> list[tuple[int, ...]]:
    """The flips to average: all 8 subsets of the spatial axes with TTA, only the identity without."""
    if not tta:
        return [()]
    return [axes for r in range(len(SPATIAL_DIMS) + 1) for axes in itertools.combinations(SPATIAL_DIMS, r)]


def autocast_context(device: torch.device, amp: bool):
    """fp16 autocast on CUDA when ``amp`` is set; a no-op context otherwise."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    image: torch.Tensor,
    roi_size: tuple[int, int, int],
    overlap: float = 0.5,
    sw_batch_size: int = 2,
    tta: bool = True,
    amp: bool = True,
) -> torch.Tensor:
    """Logits of a whole volume, as in the published inference (``4_predict.py``, https://github.com/ge-xing/SegMamba).

    Args:
        model: maps (B, C, *roi) to logits (B, K, *roi); put in eval mode by this function.
        image: (C, X, Y, Z) preprocessed volume, tensor or array (any size; MONAI pads volumes smaller than the roi).
        roi_size: sliding-window patch, normally the training patch size.
        overlap: fraction of overlap between neighbouring windows.
        sw_batch_size: windows per forward pass.
        tta: average the logits of the 8 mirror flips (each flipped back) instead of one pass.
        amp: fp16 autocast when the model is on CUDA.

    Returns:
        float32 logits (K, X, Y, Z) on the CPU.
    """
    model.eval()
    device = next(model.parameters()).device
    if isinstance(image, np.ndarray):  # copies memory-mapped (read-only) arrays
        image = torch.from_numpy(np.array(image, dtype=np.float32))
    volume = image.float()[None].to(device)
    flips = mirror_axes(tta)
    total = None
    with autocast_context(device, amp):
        for axes in flips:
            flipped = torch.flip(volume, axes) if axes else volume
            logits = sliding_window_inference(
                flipped,
                roi_size=tuple(roi_size),
                sw_batch_size=sw_batch_size,
                predictor=model,
                overlap=overlap,
                mode="gaussian",
            )
            logits = (torch.flip(logits, axes) if axes else logits).float()
            total = logits if total is None else total + logits
    return (total / len(flips))[0].cpu()
