"""Surface distances of two binary masks, computed once per region on the masks' bounding box.

Two surface definitions are used; the distances between surface points are exact Euclidean distances in mm
(real voxel spacing), found with a k-d tree and equal to those of scipy's Euclidean distance transform:

- **medpy's** (:func:`pooled_hd95`): the surface voxels are the mask minus its erosion with the 6-neighbour
  cross (voxels outside the image count as background); HD95 is the 95th percentile (linear interpolation) of
  the pooled distances of both directions, as ``medpy.metric.binary.hd95``. This is the ``hd95`` columns'
  definition (SegMamba's ``5_compute_metrics.py``, the paper's tables).
- **Nikolov et al.'s** (:class:`SurfelDistances`; DeepMind's ``surface-distance``, Nikolov et al. 2021,
  arXiv 1809.04430): surface elements ("surfels") on the voxel-corner grid, one per 2 x 2 x 2 neighbourhood
  that is neither empty nor full, weighted by their area in mm^2 for the real spacing (the marching-cubes
  tables of DeepMind's ``surface-distance`` package, the reference implementation). The normalised surface
  Dice (:func:`surface_dice`) and the area-weighted robust Hausdorff distance (:func:`robust_hausdorff`, the
  BraTS 2023 lesion-wise HD95) come from these distances.

Both find the surfaces on the bounding box of the union of the two masks with a one-voxel margin of
background: every surface element lies inside it (voxels outside the image count as background, as in medpy
and surface-distance), so the crop changes no value, and the distances are computed between surface points
only, never over the whole box.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from surface_distance import lookup_tables

FULL_NEIGHBOURHOOD = 255
CROSS = ndimage.generate_binary_structure(3, 1)


def union_box(*masks: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Slices of the bounding box of the masks' union grown by ``margin`` voxels (clipped to the image);
    None when every mask is empty."""
    boxes = [box for mask in masks for box in ndimage.find_objects(np.asarray(mask, dtype=bool).view(np.uint8))]
    if not boxes:
        return None
    shape = masks[0].shape
    return tuple(
        slice(max(min(b[a].start for b in boxes) - margin, 0), min(max(b[a].stop for b in boxes) + margin, shape[a]))
        for a in range(len(shape))
    )


def padded_crop(mask: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """The boolean crop of ``mask`` to ``box`` with one voxel of background on every side."""
    return np.pad(np.asarray(mask[box], dtype=bool), 1)


@lru_cache(maxsize=32)
def surfel_area_table(spacing: tuple[float, float, float]) -> np.ndarray:
    """Area in mm^2 of the surface in each of the 256 2 x 2 x 2 neighbourhood codes, for a voxel spacing in array
    axis order: DeepMind's ``surface-distance`` table (the sum of the norms of the code's spacing-scaled
    marching-cubes normals; MONAI ships the same normals)."""
    return lookup_tables.create_table_neighbour_code_to_surface_area(tuple(float(s) for s in spacing))


def neighbourhood_codes(padded: np.ndarray) -> np.ndarray:
    """The 8-bit code of every 2 x 2 x 2 neighbourhood (voxel corner) of a padded mask, with the bit weights of
    DeepMind's encoding kernel (MONAI's ``ENCODING_KERNEL[3]`` is the same)."""
    kernel = lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL
    size = tuple(n - 1 for n in padded.shape)
    codes = np.zeros(size, dtype=np.uint8)
    for offset in np.ndindex(2, 2, 2):
        window = tuple(slice(o, o + n) for o, n in zip(offset, size, strict=True))
        codes |= padded[window].astype(np.uint8) * np.uint8(kernel[offset])
    return codes


@dataclass(frozen=True)
class SurfelDistances:
    """Nikolov et al.'s surface distances: for each surfel of one mask, its area (mm^2) and its distance (mm) to
    the other mask's surface (inf when the other mask is empty). Unsorted."""

    distances_truth_to_prediction: np.ndarray
    areas_truth: np.ndarray
    distances_prediction_to_truth: np.ndarray
    areas_prediction: np.ndarray


def surfel_distances(prediction: np.ndarray, truth: np.ndarray, spacing) -> SurfelDistances:
    """Surfel areas and distances of two boolean masks (same shape; spacing in mm, array axis order)."""
    spacing = tuple(float(s) for s in spacing)
    box = union_box(prediction, truth)
    if box is None:
        empty = np.zeros(0)
        return SurfelDistances(empty, empty, empty, empty)
    table = surfel_area_table(spacing)
    borders, areas = [], []
    for mask in (truth, prediction):
        codes = neighbourhood_codes(padded_crop(mask, box))
        border = (codes != 0) & (codes != FULL_NEIGHBOURHOOD)
        borders.append(border)
        areas.append(table[codes[border]])
    truth_border, prediction_border = borders
    return SurfelDistances(
        _distances_to(prediction_border, truth_border, spacing),
        areas[0],
        _distances_to(truth_border, prediction_border, spacing),
        areas[1],
    )


def _distances_to(target: np.ndarray, sources: np.ndarray, spacing) -> np.ndarray:
    """Distance (mm) from every true voxel of ``sources`` to the nearest true voxel of ``target``.

    The nearest target voxel comes from a k-d tree of the target voxels in mm; the distance is then computed
    from the integer voxel offset as scipy's ``distance_transform_edt(~target, sampling=spacing)`` computes it
    (offset times spacing, squared, summed in axis order, square root), so the values are the transform's at
    the source voxels without a transform of the whole box.
    """
    if not sources.any():
        return np.zeros(0)
    if not target.any():
        return np.full(int(np.count_nonzero(sources)), np.inf)
    scale = np.asarray(spacing, dtype=np.float64)
    target_points, source_points = np.argwhere(target), np.argwhere(sources)
    _, nearest = cKDTree(target_points * scale).query(source_points * scale)
    offsets = (target_points[nearest] - source_points).astype(np.float64) * scale
    return np.sqrt(np.add.reduce(offsets * offsets, axis=1))


def surface_dice(distances: SurfelDistances, tolerance_mm: float) -> float:
    """Normalised surface Dice at a tolerance: the area of both surfaces within ``tolerance_mm`` of the other
    surface over the total area. NaN when both masks are empty (the callers apply the empty-mask conventions)."""
    total = distances.areas_truth.sum() + distances.areas_prediction.sum()
    if total == 0:
        return float("nan")
    close = distances.areas_truth[distances.distances_truth_to_prediction <= tolerance_mm].sum()
    close += distances.areas_prediction[distances.distances_prediction_to_truth <= tolerance_mm].sum()
    return float(close / total)


def robust_hausdorff(distances: SurfelDistances, percent: float = 95.0) -> float:
    """Nikolov et al.'s robust Hausdorff distance: per direction, the smallest distance whose area-weighted
    cumulative share reaches ``percent`` %; the larger of the two directions. inf when a mask is empty."""
    directed = []
    for values, areas in (
        (distances.distances_truth_to_prediction, distances.areas_truth),
        (distances.distances_prediction_to_truth, distances.areas_prediction),
    ):
        if values.size == 0:
            directed.append(np.inf)
            continue
        order = np.argsort(values, kind="stable")
        share = np.cumsum(areas[order]) / np.sum(areas)
        index = min(int(np.searchsorted(share, percent / 100.0)), values.size - 1)
        directed.append(float(values[order][index]))
    return max(directed)


def pooled_hd95(prediction: np.ndarray, truth: np.ndarray, spacing) -> float:
    """medpy's ``hd95`` of two non-empty boolean masks: the 95th percentile of the pooled surface-voxel
    distances of both directions (6-neighbour erosion surfaces, real spacing in mm)."""
    box = union_box(prediction, truth)
    if box is None or not prediction.any() or not truth.any():
        raise ValueError("pooled_hd95 needs two non-empty masks")
    spacing = tuple(float(s) for s in spacing)
    surfaces = []
    for mask in (prediction, truth):
        crop = padded_crop(mask, box)
        surfaces.append(crop & ~ndimage.binary_erosion(crop, structure=CROSS))
    prediction_surface, truth_surface = surfaces
    pooled = np.concatenate(
        [
            _distances_to(truth_surface, prediction_surface, spacing),
            _distances_to(prediction_surface, truth_surface, spacing),
        ]
    )
    return float(np.percentile(pooled, 95))
