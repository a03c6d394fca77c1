"""Validation during training: whole-volume sliding-window Dice over the dataset's evaluation regions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from segmamba.errors import InputError
from segmamba.inference.sliding_window import predict_logits


def region_dice(prediction: np.ndarray, target: np.ndarray, labels: Sequence[int]) -> float:
    """Dice of the region made of ``labels`` (both maps empty -> 1.0, one empty -> 0.0, as nnU-Net)."""
    pred_mask = np.isin(prediction, labels)
    true_mask = np.isin(target, labels)
    denominator = int(pred_mask.sum()) + int(true_mask.sum())
    if denominator == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred_mask, true_mask).sum()) / denominator


def case_dice(
    model: nn.Module,
    preprocessed_dir: str,
    case_id: str,
    regions: dict[str, list[int]],
    roi_size: tuple[int, int, int],
    overlap: float = 0.5,
    sw_batch_size: int = 2,
    amp: bool = True,
) -> dict[str, float]:
    """Dice per region of one preprocessed case, predicted whole with a Gaussian sliding window (no TTA).

    Negative labels (outside the nonzero mask) count as background.
    """
    from segmamba.data.preprocessed import load_case

    image, label, _ = load_case(preprocessed_dir, case_id)
    if label is None:
        raise InputError(f"case {case_id}: {preprocessed_dir}/{case_id}/label.npy missing (needed for validation)")
    prediction = predict_logits(model, image, roi_size, overlap, sw_batch_size, tta=False, amp=amp)
    prediction = prediction.argmax(0).numpy()
    target = np.asarray(label).reshape(prediction.shape)
    return {name: region_dice(prediction, target, labels) for name, labels in regions.items()}
