"""Validation during training: whole-volume sliding-window Dice over the dataset's evaluation regions.

A stop request (SIGTERM/SIGUSR1) is honoured between validation cases: :func:`validate_cases` raises
:class:`ValidationInterrupted`, and the trainer saves its resume state and exits with code 75 (a long
validation would otherwise outlast the scheduler's grace period and lose the epoch to a hard kill).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from segmamba.errors import InputError
from segmamba.inference.sliding_window import predict_logits


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


class ValidationInterrupted(Exception):
    """A stop was requested during a validation; the validation is abandoned (and redone on resume)."""


def validate_cases(
    validate_one: Callable[[str], CaseValidation],
    val_ids: Sequence[str],
    rank: int,
    world_size: int,
    stop_requested: Callable[[], bool],
) -> list[CaseValidation]:
    """Validate this process's share ``val_ids[rank::world_size]``, checking for a stop before every case.

    Args:
        validate_one: case id -> its :class:`CaseValidation`.
        val_ids: all validation cases (shared out over the processes).
        rank, world_size: this process and the number of processes.
        stop_requested: whether any process received a stop signal (a collective under DDP: every process
            calls it equally often, ``ceil(len(val_ids) / world_size)`` times).

    Raises:
        ValidationInterrupted: a stop was requested before all cases were validated.
    """
    mine = list(val_ids[rank::world_size])
    results = []
    for index in range(math.ceil(len(val_ids) / world_size)):
        if stop_requested():
            raise ValidationInterrupted
        if index < len(mine):
            results.append(validate_one(mine[index]))
    return results


def summarise_validation(
    local: Sequence[CaseValidation],
    regions: dict[str, list[int]],
    n_cases: int,
    sum_across: Callable[[list[float]], list[float]],
) -> tuple[dict[str, float], dict[str, float | int]]:
    """Mean Dice per region (and their mean) and the foreground record over all processes' validated cases.

    Args:
        local: this process's validated cases.
        regions: the dataset's regions.
        n_cases: the number of validated cases over all processes.
        sum_across: sums a list of floats over the processes (identity for one process).

    Returns:
        ``({region: Dice, "mean": mean Dice}, segmamba.train.collapse.foreground_record(...))``.
    """
    from segmamba.train.collapse import foreground_record

    counts = [
        sum(case.predicted_foreground for case in local),
        sum(case.target_foreground for case in local),
        sum(case.voxels for case in local),
        sum(case.predicted_foreground == 0 for case in local),
    ]
    sums = sum_across([sum(case.dice[name] for case in local) for name in regions] + counts)
    result = {name: total / n_cases for name, total in zip(regions, sums[: len(regions)], strict=True)}
    result["mean"] = sum(result.values()) / len(regions)
    return result, foreground_record(*sums[len(regions) :], cases=n_cases)
