"""Validation during training: whole-volume sliding-window Dice over the dataset's evaluation regions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from segmamba.errors import InputError
from segmamba.predict.sliding_window import predict_logits


@dataclass(frozen=True)
class CaseValidation:
    """One validated case: Dice per region and the foreground voxel counts of prediction and ground truth.

    Attributes:
        dice: region name -> Dice.
        predicted_foreground: voxels the prediction assigns to any foreground class (label > 0).
        target_foreground: foreground voxels of the ground truth (negative labels count as background).
        voxels: voxels of the case.
    """

    dice: dict[str, float]
    predicted_foreground: int
    target_foreground: int
    voxels: int


def region_dice(prediction: np.ndarray, target: np.ndarray, labels: Sequence[int]) -> float:
    """Dice of the region made of ``labels`` (both maps empty -> 1.0, one empty -> 0.0, as nnU-Net)."""
    pred_mask = np.isin(prediction, labels)
    true_mask = np.isin(target, labels)
    denominator = int(pred_mask.sum()) + int(true_mask.sum())
    if denominator == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred_mask, true_mask).sum()) / denominator


def score_case(prediction: np.ndarray, target: np.ndarray, regions: dict[str, list[int]]) -> CaseValidation:
    """Dice per region and foreground counts of a predicted label map against its ground truth."""
    return CaseValidation(
        dice={name: region_dice(prediction, target, labels) for name, labels in regions.items()},
        predicted_foreground=int((prediction > 0).sum()),
        target_foreground=int((target > 0).sum()),
        voxels=int(prediction.size),
    )


def validate_case(
    model: nn.Module,
    preprocessed_dir: str,
    case_id: str,
    regions: dict[str, list[int]],
    roi_size: tuple[int, int, int],
    overlap: float = 0.5,
    sw_batch_size: int = 2,
    amp: bool = True,
) -> CaseValidation:
    """Validate one preprocessed case, predicted whole with a Gaussian sliding window (no TTA).

    Negative labels (outside the nonzero mask) count as background.
    """
    from segmamba.data.preprocessed_reader import load_case

    image, label, _ = load_case(preprocessed_dir, case_id)
    if label is None:
        raise InputError(f"case {case_id}: {preprocessed_dir}/{case_id}/label.npy missing (needed for validation)")
    prediction = predict_logits(model, image, roi_size, overlap, sw_batch_size, tta=False, amp=amp)
    prediction = prediction.argmax(0).numpy()
    target = np.asarray(label).reshape(prediction.shape)
    return score_case(prediction, target, regions)
