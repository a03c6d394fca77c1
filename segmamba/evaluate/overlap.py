"""Dice, HD95 and NSD of one binary region, with the empty-mask conventions (``docs/metrics.md``).

Dice and HD95 are medpy's (``dc`` and the pooled ``hd95`` with the real voxel spacing), as SegMamba's
``5_compute_metrics.py`` computes them; HD95 is computed on the masks' bounding box
(:func:`segmamba.evaluate.surface.pooled_hd95`, equal to medpy's). NSD is the normalised surface Dice of
Nikolov et al. at a tolerance in mm (:func:`segmamba.evaluate.surface.surface_dice`). Empty masks are handled
here, before any distance is computed:

- ``segmamba`` (the published default): if the prediction or the ground truth is empty (both included),
  Dice = 0, HD95 = 50 and NSD = 0.
- ``brats``: both empty gives Dice = 1, HD95 = 0, NSD = 1; exactly one empty gives Dice = 0, HD95 = 373.13
  (the 240 x 240 x 155 BraTS volume diagonal in mm, nnU-Net's reimplementation of the BraTS scheme), NSD = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmamba.evaluate.surface import pooled_hd95, surface_dice, surfel_distances

CONVENTIONS = ("segmamba", "brats")
SEGMAMBA_EMPTY_HD95 = 50.0
BRATS_ONE_EMPTY_HD95 = 373.13
DEFAULT_NSD_TOLERANCE_MM = 1.0


@dataclass(frozen=True)
class RegionScore:
    """Dice (fraction), HD95 (mm) and NSD (fraction) of one region, and which of the two masks was empty."""

    dice: float
    hd95: float
    nsd: float
    prediction_empty: bool
    ground_truth_empty: bool


def region_score(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    spacing: tuple[float, ...],
    convention: str = "segmamba",
    nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
) -> RegionScore:
    """Score one binary region: Dice, pooled (medpy) HD95 and NSD with the given empty-mask convention.

    Args:
        prediction: boolean (or 0/1) mask of the predicted region.
        ground_truth: boolean (or 0/1) mask of the reference region, same shape.
        spacing: voxel spacing in mm, in array axis order.
        convention: ``"segmamba"`` or ``"brats"`` (see the module docstring).
        nsd_tolerance_mm: the NSD tolerance in mm.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown empty-mask convention {convention!r}; expected one of {CONVENTIONS}")
    prediction = np.asarray(prediction, dtype=bool)
    ground_truth = np.asarray(ground_truth, dtype=bool)
    pred_empty = not prediction.any()
    gt_empty = not ground_truth.any()
    if pred_empty or gt_empty:
        if convention == "segmamba":
            dice, distance, nsd = 0.0, SEGMAMBA_EMPTY_HD95, 0.0
        elif pred_empty and gt_empty:
            dice, distance, nsd = 1.0, 0.0, 1.0
        else:
            dice, distance, nsd = 0.0, BRATS_ONE_EMPTY_HD95, 0.0
        return RegionScore(dice, distance, nsd, pred_empty, gt_empty)
    overlap = np.count_nonzero(prediction & ground_truth)
    dice = 2.0 * overlap / (np.count_nonzero(prediction) + np.count_nonzero(ground_truth))
    distance = pooled_hd95(prediction, ground_truth, spacing)
    nsd = surface_dice(surfel_distances(prediction, ground_truth, spacing), nsd_tolerance_mm)
    return RegionScore(float(dice), distance, nsd, False, False)
