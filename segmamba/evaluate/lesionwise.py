"""BraTS 2023 lesion-wise Dice and HD95 of one binary region (the GLI challenge's ranking metric).

The definition is that of the challenge's public code (github.com/rachitsaluja/BraTS-2023-Metrics,
``get_lesion_wise_score`` and ``get_lesion_wise_results`` with the BraTS-GLI parameters):

1. Lesions are 26-connected components (cc3d). The ground truth is dilated by 3 iterations of the
   18-neighbour structure; ground-truth voxels in one 26-connected component of the dilated mask form one
   lesion (components closer than the dilation merge).
2. A predicted component that touches a lesion's dilated mask is a hit of that lesion; all hits of a lesion
   together are its prediction. The lesion's Dice is taken against that prediction, its HD95 is Nikolov et
   al.'s robust Hausdorff distance at 95 % (surfels weighted by their area,
   :func:`segmamba.evaluate.surface.robust_hausdorff`); a missed lesion scores Dice 0 and HD95 374.
3. Predicted components that touch no dilated lesion are false positives (any size): Dice 0, HD95 374 each.
4. Lesions of at most 50 mm^3 (voxel count times the header's voxel volume) are dropped from the score,
   whether hit or missed; their hits are not false positives.
5. Case score = sum over the kept lesions / (kept lesions + false positives); a case with neither scores
   Dice 1 and HD95 0.

Dilating the whole ground truth once gives the same lesion masks as the official per-lesion dilation
(dilation distributes over a union), and all work happens on the bounding box of both masks grown by the
dilation, clipped to the image, so every value equals the official whole-volume computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from segmamba.evaluate.surface import robust_hausdorff, surfel_distances, union_box

DILATION_ITERATIONS = 3
MIN_LESION_VOLUME_MM3 = 50.0
MISSED_HD95 = 374.0
DILATION_STRUCTURE = ndimage.generate_binary_structure(3, 2)


@dataclass(frozen=True)
class LesionScore:
    """Lesion-wise Dice (fraction) and HD95 (mm) of one region, with the lesion counts behind them.

    ``lesions`` counts the kept ground-truth lesions (over the volume threshold), ``detected`` and ``missed``
    split them, ``false_positives`` counts the predicted components that touch no lesion."""

    dice: float
    hd95: float
    lesions: int
    detected: int
    missed: int
    false_positives: int


def lesion_wise_score(
    prediction: np.ndarray,
    truth: np.ndarray,
    spacing,
    dilation: int = DILATION_ITERATIONS,
    min_volume_mm3: float = MIN_LESION_VOLUME_MM3,
) -> LesionScore:
    """BraTS 2023 lesion-wise Dice and HD95 of two boolean masks (see the module docstring).

    Args:
        prediction, truth: boolean masks of one region, same shape.
        spacing: voxel spacing in mm, array axis order (volumes and distances).
        dilation: iterations of the 18-neighbour dilation that merge and match lesions.
        min_volume_mm3: lesions of at most this volume are dropped.
    """
    if dilation < 1:
        raise ValueError(f"lesion-wise dilation must be at least 1 iteration, got {dilation}")
    prediction = np.asarray(prediction, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    spacing = tuple(float(s) for s in spacing)
    box = union_box(prediction, truth, margin=dilation)
    if box is None:
        return LesionScore(1.0, 0.0, 0, 0, 0, 0)
    prediction, truth = prediction[box], truth[box]
    predicted_labels, n_predicted = cc3d.connected_components(prediction, connectivity=26, return_N=True)
    dilated = ndimage.binary_dilation(truth, structure=DILATION_STRUCTURE, iterations=dilation)
    dilated_labels, n_lesions = cc3d.connected_components(dilated, connectivity=26, return_N=True)
    lesion_labels = np.where(truth, dilated_labels, 0)

    touching = (dilated_labels > 0) & (predicted_labels > 0)
    pairs = np.unique(np.stack([dilated_labels[touching], predicted_labels[touching]]), axis=1)
    hits = {lesion: pairs[1, pairs[0] == lesion] for lesion in range(1, n_lesions + 1)}
    false_positives = n_predicted - np.unique(pairs[1]).size

    counts = np.bincount(lesion_labels.ravel(), minlength=n_lesions + 1)
    lesion_boxes = ndimage.find_objects(dilated_labels)
    component_boxes = ndimage.find_objects(predicted_labels)
    dice_sum = hd95_sum = 0.0
    kept = detected = 0
    for lesion in range(1, n_lesions + 1):
        if counts[lesion] * spacing[0] * spacing[1] * spacing[2] <= min_volume_mm3:  # the official product order
            continue
        kept += 1
        if hits[lesion].size == 0:
            hd95_sum += MISSED_HD95
            continue
        detected += 1
        sub = _covering_box([lesion_boxes[lesion - 1], *(component_boxes[c - 1] for c in hits[lesion])])
        lesion_mask = lesion_labels[sub] == lesion
        hit_mask = np.isin(predicted_labels[sub], hits[lesion])
        overlap = np.count_nonzero(lesion_mask & hit_mask)
        dice_sum += 2.0 * overlap / (counts[lesion] + np.count_nonzero(hit_mask))
        distance = robust_hausdorff(surfel_distances(hit_mask, lesion_mask, spacing), 95.0)
        hd95_sum += distance if np.isfinite(distance) else MISSED_HD95
    total = kept + false_positives
    if total == 0:
        return LesionScore(1.0, 0.0, 0, 0, 0, 0)
    return LesionScore(
        dice=dice_sum / total,
        hd95=(hd95_sum + MISSED_HD95 * false_positives) / total,
        lesions=kept,
        detected=detected,
        missed=kept - detected,
        false_positives=int(false_positives),
    )


def _covering_box(boxes) -> tuple[slice, ...]:
    """The smallest box (tuple of slices) that covers all the given boxes."""
    return tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3))
