"""AIIB2023 airway metrics (IoU, DLR, DBR, precision, leakage) as the official AIIB23 code defines them.

As computed there: the prediction is reduced to its largest 6-connected component P*; the
ground-truth tree is split into branches by removing skeleton junctions (``parse_airway_tree``); DLR is
the fraction of GT centreline voxels inside P*, DBR the fraction of branches whose centreline is covered
to at least 80 %. All counts are in voxels (no spacing). An empty prediction scores zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import label as label_components
from skimage.morphology import skeletonize

BRANCH_DETECTION_THRESHOLD = 0.8
MIN_BRANCH_VOXELS = 5
FULL_NEIGHBOURHOOD = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class AirwayScore:
    """The five values the official ``evaluation_branch_metrics`` returns, as fractions."""

    iou: float
    dlr: float
    dbr: float
    precision: float
    leakage: float


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 6-connected component of a binary mask (empty in, empty out).

    Ties go to the component labelled last in scan order, as the official sort-then-take-last does.
    """
    components = label_components(np.asarray(mask, dtype=bool), connectivity=1)
    sizes = np.bincount(components.ravel())[1:]
    if sizes.size == 0:
        return np.zeros(components.shape, dtype=bool)
    largest = sizes.size - int(np.argmax(sizes[::-1]))
    return components == largest


def bounding_box(mask: np.ndarray, margin: int = 1) -> tuple[slice, ...]:
    """Slices of the bounding box of a non-empty mask, grown by ``margin`` voxels within the image.

    Every metric here is a voxel count, so cropping to this box changes no value; it only saves the
    skeleton and distance-transform work on large CT volumes. The one-voxel margin keeps the image-border
    behaviour of the junction count identical (the margin is background).
    """
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(int(present[0]) - margin, 0), min(int(present[-1]) + margin + 1, mask.shape[axis])))
    return tuple(box)


def centreline(mask: np.ndarray) -> np.ndarray:
    """Lee (1994) 3D skeleton of a binary mask as a 0/1 ``uint8`` array.

    The integer type matters: junction counting convolves it, and a bool array would saturate.
    """
    return skeletonize(np.asarray(mask, dtype=bool)).astype(np.uint8)


def parse_airway_tree(ground_truth: np.ndarray) -> tuple[np.ndarray, int]:
    """Split a ground-truth airway mask into branches (as the official ``get_parsing``).

    Returns ``(parsing, n_branches)``: ``parsing`` labels every voxel of the hole-filled largest GT
    component with the branch (1..n) of its nearest centreline piece, 0 elsewhere.
    """
    tree = ndimage.binary_fill_holes(largest_component(ground_truth))
    skeleton = centreline(tree)
    # Neighbour count including the voxel itself; the official code uses scipy's default 'reflect' border.
    neighbours = ndimage.convolve(skeleton, FULL_NEIGHBOURHOOD.astype(np.uint8), mode="reflect") * skeleton
    pieces = skeleton.copy()
    pieces[neighbours > 3] = 0
    piece_labels, n_pieces = ndimage.label(pieces, structure=FULL_NEIGHBOURHOOD)
    piece_sizes = np.bincount(piece_labels.ravel(), minlength=n_pieces + 1)
    pieces[(piece_sizes < MIN_BRANCH_VOXELS)[piece_labels] & (piece_labels > 0)] = 0
    branch_labels, n_branches = ndimage.label(pieces, structure=FULL_NEIGHBOURHOOD)
    if n_branches == 0:
        return np.zeros(tree.shape, dtype=np.int32), 0
    nearest = ndimage.distance_transform_edt(pieces == 0, return_distances=False, return_indices=True)
    parsing = branch_labels[tuple(nearest)] * tree
    return parsing.astype(np.int32), int(n_branches)


def airway_score(prediction: np.ndarray, ground_truth: np.ndarray) -> AirwayScore:
    """IoU, DLR, DBR, precision and leakage of a predicted airway against the ground truth.

    An empty prediction gives all zeros (the official code crashes there). DLR and DBR are NaN when the
    ground truth has no centreline or no branch (undefined ratios; the official code divides by zero).
    """
    ground_truth = np.asarray(ground_truth, dtype=bool)
    prediction = largest_component(prediction)
    if not prediction.any():
        return AirwayScore(0.0, 0.0, 0.0, 0.0, 0.0)
    box = bounding_box(prediction | ground_truth)
    prediction, ground_truth = prediction[box], ground_truth[box]
    intersection = int(np.count_nonzero(prediction & ground_truth))
    predicted = int(np.count_nonzero(prediction))
    reference = int(np.count_nonzero(ground_truth))
    skeleton = centreline(ground_truth).astype(bool)
    skeleton_total = int(np.count_nonzero(skeleton))
    dlr = float(np.count_nonzero(skeleton & prediction) / skeleton_total) if skeleton_total else float("nan")
    return AirwayScore(
        iou=intersection / (reference + predicted - intersection),
        dlr=dlr,
        dbr=detected_branch_ratio(prediction, ground_truth, skeleton),
        precision=intersection / predicted,
        leakage=float(np.count_nonzero(prediction & ~ground_truth) / reference) if reference else float("nan"),
    )


def detected_branch_ratio(prediction: np.ndarray, ground_truth: np.ndarray, skeleton: np.ndarray) -> float:
    """Fraction of GT branches whose centreline voxels lie >= 80 % inside the prediction.

    A branch without centreline voxels counts as not detected; no branch at all gives NaN.
    """
    parsing, n_branches = parse_airway_tree(ground_truth)
    if n_branches == 0:
        return float("nan")
    totals = np.bincount(parsing[skeleton], minlength=n_branches + 1)[1:]
    covered = np.bincount(parsing[skeleton & prediction], minlength=n_branches + 1)[1:]
    detected = (totals > 0) & (covered / np.maximum(totals, 1) >= BRANCH_DETECTION_THRESHOLD)
    return int(np.count_nonzero(detected)) / n_branches
