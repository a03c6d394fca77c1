"""Dice and HD95 of one binary region, with the empty-mask conventions of ``specs/metrics.md`` §3.3.

Dice and HD95 come from medpy (``dc`` and the pooled ``hd95`` with the real voxel spacing), as SegMamba's
``5_compute_metrics.py`` computes them. Empty masks are handled here, before any library call:

- ``segmamba`` (the published default): if the prediction or the ground truth is empty (both included),
  Dice = 0 and HD95 = 50.
- ``brats``: both empty gives Dice = 1, HD95 = 0; exactly one empty gives Dice = 0, HD95 = 373.13
  (the 240 x 240 x 155 BraTS volume diagonal in mm, nnU-Net's reimplementation of the BraTS scheme).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from medpy.metric.binary import dc, hd95

CONVENTIONS = ("segmamba", "brats")
SEGMAMBA_EMPTY_HD95 = 50.0
BRATS_ONE_EMPTY_HD95 = 373.13


@dataclass(frozen=True)
class RegionScore:
    """Dice (fraction) and HD95 (mm) of one region, and which of the two masks was empty."""

    dice: float
    hd95: float
    prediction_empty: bool
    ground_truth_empty: bool


def region_score(
    prediction: np.ndarray, ground_truth: np.ndarray, spacing: tuple[float, ...], convention: str = "segmamba"
) -> RegionScore:
    """Score one binary region: Dice and pooled (medpy) HD95 with the given empty-mask convention.

    Args:
        prediction: boolean (or 0/1) mask of the predicted region.
        ground_truth: boolean (or 0/1) mask of the reference region, same shape.
        spacing: voxel spacing in mm, in array axis order.
        convention: ``"segmamba"`` or ``"brats"`` (see the module docstring).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown empty-mask convention {convention!r}; expected one of {CONVENTIONS}")
    prediction = np.asarray(prediction, dtype=bool)
    ground_truth = np.asarray(ground_truth, dtype=bool)
    pred_empty = not prediction.any()
    gt_empty = not ground_truth.any()
    if pred_empty or gt_empty:
        if convention == "segmamba":
            dice, distance = 0.0, SEGMAMBA_EMPTY_HD95
        elif pred_empty and gt_empty:
            dice, distance = 1.0, 0.0
        else:
            dice, distance = 0.0, BRATS_ONE_EMPTY_HD95
        return RegionScore(dice, distance, pred_empty, gt_empty)
    dice = float(dc(prediction, ground_truth))
    distance = float(hd95(prediction, ground_truth, voxelspacing=tuple(float(s) for s in spacing)))
    return RegionScore(dice, distance, False, False)
