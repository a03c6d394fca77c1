"""Synthetic, learnable stand-ins for BraTS 2023, AIIB 2023 and CRC-500, written in the real on-disk layouts.

Each case is drawn from ``numpy.random.default_rng([seed, case_index])``, so files are byte-identical for a
given seed (nibabel writes gzip with mtime 0 and no file name). Shapes are built in voxel coordinates of a
cubic ``size``^3 grid; CT volumes carry anisotropic spacing in the header and int16 Hounsfield units.

- BraTS: brain-like ellipsoid (zero background) with white/grey texture, CSF ventricles and a nested tumour
  (NCR inside TC, ET = TC rim, ED = the rest of WT) with the usual contrasts: ED bright in FLAIR/T2,
  ET enhancing in T1c, NCR dark in T1c/T1 and bright in T2; bias field and Rician-like noise.
- AIIB: chest CT with two lungs (-850 HU) and a branching airway tree (lumen -990 HU, wall -450 HU).
- CRC: abdominal CT with fat, organs and a winding colon (air lumen, soft-tissue wall) carrying one
  enhancing tumour (~110 HU) on its wall.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from segmamba.data.nifti import write_volume
from segmamba.data.registry import SYNTHETIC_KINDS
from segmamba.io_utils import write_text_atomic


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], cells: int = 5) -> np.ndarray:
    """Smooth random field with zero mean and unit standard deviation (``cells`` control points per axis)."""
    coarse = rng.standard_normal((cells,) * len(shape))
    field = ndimage.zoom(coarse, [s / cells for s in shape], order=1, mode="nearest")
    return ((field - field.mean()) / (field.std() + 1e-6)).astype(np.float32)


def ellipsoid_distance(shape, center, radii) -> np.ndarray:
    """Normalised ellipsoid distance: < 1 inside the axis-aligned ellipsoid of ``radii`` around ``center``."""
    axes = np.ogrid[tuple(slice(0, s) for s in shape)]
    return np.sqrt(sum(((a - c) / r) ** 2 for a, c, r in zip(axes, center, radii, strict=True))).astype(np.float32)


# ---------------------------------------------------------------- BraTS --
# Relative intensities per tissue and modality (t2w, t2f, t1n, t1c).
BRATS_CONTRAST = {
    "brain": (0.55, 0.50, 0.80, 0.80),
    "csf": (1.10, 0.20, 0.30, 0.30),
    "ED": (0.95, 1.00, 0.60, 0.60),
    "ET": (0.75, 0.80, 0.65, 1.40),
    "NCR": (1.00, 0.55, 0.35, 0.20),
}


def brats_case(rng: np.random.Generator, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One BraTS-like case: four int16 modalities [t2w, t2f, t1n, t1c] and a uint8 label (0, 1 NCR, 2 ED, 3 ET)."""
    shape = (size,) * 3
    brain_center = np.array(shape) / 2 + rng.uniform(-0.03, 0.03, 3) * size
    brain_radii = size * rng.uniform([0.36, 0.40, 0.34], [0.42, 0.46, 0.40])
    brain = ellipsoid_distance(shape, brain_center, brain_radii) + 0.04 * smooth_field(rng, shape) < 1

    ventricle_radii = brain_radii * rng.uniform([0.10, 0.25, 0.15], [0.14, 0.35, 0.22])
    csf = np.zeros(shape, bool)
    for side in (-1, 1):
        center = brain_center + [side * ventricle_radii[0] * 1.4, 0, 0]
        csf |= ellipsoid_distance(shape, center, ventricle_radii) < 1

    wt_radii = size * rng.uniform(0.18, 0.26, 3)
    wt_center = brain_center + rng.uniform(-1, 1, 3) * np.maximum(brain_radii - wt_radii, 0) * 0.55
    wt = (ellipsoid_distance(shape, wt_center, wt_radii) + 0.12 * smooth_field(rng, shape) < 1) & brain
    tc_radii = wt_radii * rng.uniform(0.55, 0.72, 3)
    tc_center = wt_center + rng.uniform(-0.15, 0.15, 3) * wt_radii
    tc = (ellipsoid_distance(shape, tc_center, tc_radii) + 0.10 * smooth_field(rng, shape) < 1) & wt
    ncr = (ellipsoid_distance(shape, tc_center, tc_radii * rng.uniform(0.45, 0.62, 3)) < 1) & tc

    label = np.zeros(shape, np.uint8)
    label[wt] = 2
    label[tc] = 3
    label[ncr] = 1
    tissue = {"brain": brain & ~csf, "csf": brain & csf, "ED": label == 2, "ET": label == 3, "NCR": label == 1}

    texture = 1 + 0.06 * smooth_field(rng, shape, cells=9)
    bias = 1 + 0.10 * smooth_field(rng, shape, cells=3)
    images = []
    for channel in range(4):
        values = np.zeros(shape, np.float32)
        for name, mask in tissue.items():
            values[mask] = BRATS_CONTRAST[name][channel]
        values = ndimage.gaussian_filter(values * texture, 0.6) * bias
        values += rng.normal(0, 0.035, shape).astype(np.float32)
        gain = rng.uniform(300, 900)
        scan = np.where(brain, np.clip(values * gain, 1, None), 0)
        images.append(np.round(scan).astype(np.int16))
    return images, label


# ----------------------------------------------------------------- AIIB --
def _segment_distance(shape, start, end, scale) -> np.ndarray:
    """Distance from every voxel to the segment start-end, multiplied by ``scale``."""
    axes = np.ogrid[tuple(slice(0, s) for s in shape)]
    direction = end - start
    length_sq = float(direction @ direction) + 1e-9
    t = sum((a - s) * d for a, s, d in zip(axes, start, direction, strict=True)) / length_sq
    t = np.clip(t, 0, 1)
    return np.sqrt(sum((a - s - t * d) ** 2 for a, s, d in zip(axes, start, direction, strict=True))) * scale


def airway_segments(rng: np.random.Generator, size: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Branching tree as (start, end, radius) segments in voxel coordinates, trachea entering from the top."""
    segments = []
    trachea_start = np.array([size / 2, size * rng.uniform(0.45, 0.52), size + 2.0])
    stack = [
        (
            trachea_start,
            np.array([0.0, 0.0, -1.0]),
            size * rng.uniform(0.33, 0.40),
            size * rng.uniform(0.08, 0.095),
            np.array([1.0, 0.0, 0.0]),
            0,
        )
    ]
    while stack:
        start, direction, length, radius, side, generation = stack.pop()
        end = start + direction * length
        segments.append((start, end, radius))
        if generation >= 4 or radius * 0.72 < 1.0:
            continue
        for sign in (-1, 1):
            angle = np.deg2rad(rng.uniform(25, 45))
            child = np.cos(angle) * direction + sign * np.sin(angle) * side
            child /= np.linalg.norm(child)
            next_side = np.cross(child, side)
            next_side /= np.linalg.norm(next_side) + 1e-9
            stack.append((end, child, length * rng.uniform(0.6, 0.8), radius * 0.72, next_side, generation + 1))
    return segments


def aiib_case(rng: np.random.Generator, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One chest-CT-like case (int16 HU) with an airway-lumen label (uint8, 1 = airway)."""
    shape = (size,) * 3
    body = ellipsoid_distance(shape[:2], np.array(shape[:2]) / 2, size * np.array([0.49, 0.44]))[..., None] < 1
    body = np.broadcast_to(body, shape)
    lungs = np.zeros(shape, bool)
    for side in (-1, 1):
        center = [size / 2 + side * size * 0.21, size / 2, size * 0.42]
        lungs |= ellipsoid_distance(shape, center, size * rng.uniform([0.16, 0.28, 0.5], [0.19, 0.33, 0.6])) < 1
    lumen_distance = np.full(shape, np.inf, np.float32)
    for start, end, radius in airway_segments(rng, size):
        lumen_distance = np.minimum(lumen_distance, _segment_distance(shape, start, end, 1.0 / radius))
    lumen = (lumen_distance < 1) & body
    wall = (lumen_distance < 1.6) & ~lumen & body

    hu = np.full(shape, -1000.0, np.float32)
    hu[body] = 35 + 15 * smooth_field(rng, shape)[body]
    hu[lungs & body] = -850 + 25 * smooth_field(rng, shape)[lungs & body]
    hu[wall] = -450
    hu[lumen] = -990
    hu = ndimage.gaussian_filter(hu, 0.3) + rng.normal(0, 20, shape)
    return [np.round(np.clip(hu, -1024, 3071)).astype(np.int16)], lumen.astype(np.uint8)


# ------------------------------------------------------------------ CRC --
def crc_case(rng: np.random.Generator, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One abdominal-CT-like case (int16 HU) with a colon tumour label (uint8, 1 = tumour)."""
    shape = (size,) * 3
    body = np.broadcast_to(
        ellipsoid_distance(shape[:2], np.array(shape[:2]) / 2, size * np.array([0.49, 0.42]))[..., None] < 1, shape
    )
    hu = np.full(shape, -1000.0, np.float32)
    hu[body] = -100 + 10 * smooth_field(rng, shape)[body]
    organs = np.zeros(shape, bool)
    for _ in range(3):
        center = size * rng.uniform(0.25, 0.75, 3)
        organs |= ellipsoid_distance(shape, center, size * rng.uniform(0.08, 0.16, 3)) < 1
    hu[organs & body] = 50

    z = np.arange(size)
    phase = rng.uniform(0, 2 * np.pi, 2)
    center_x = size * (0.5 + 0.18 * np.sin(2 * np.pi * z / size * rng.uniform(0.5, 1.0) + phase[0]))
    center_y = size * (0.5 + 0.15 * np.cos(2 * np.pi * z / size * rng.uniform(0.5, 1.0) + phase[1]))
    x, y = np.ogrid[:size, :size]
    tube_distance = np.sqrt((x[..., None] - center_x) ** 2 + (y[..., None] - center_y) ** 2)
    radius = size * rng.uniform(0.08, 0.10)
    lumen = tube_distance < radius
    wall = (tube_distance < radius + 2) & ~lumen
    hu[wall] = 35
    hu[lumen] = -900 + 700 * (smooth_field(rng, shape) > 0.8)[lumen]  # air with some stool

    k0 = int(rng.integers(int(size * 0.3), int(size * 0.7)))
    angle = rng.uniform(0, 2 * np.pi)
    tumour_center = [center_x[k0] + (radius + 1) * np.cos(angle), center_y[k0] + (radius + 1) * np.sin(angle), k0]
    tumour_radii = size * np.array([*rng.uniform(0.10, 0.14, 2), rng.uniform(0.07, 0.10)])
    tumour = (
        (ellipsoid_distance(shape, tumour_center, np.maximum(tumour_radii, 3)) + 0.1 * smooth_field(rng, shape) < 1)
        & ~(tube_distance < radius * 0.5)
        & body
    )
    hu[tumour] = 110 + 10 * smooth_field(rng, shape)[tumour]
    hu = ndimage.gaussian_filter(hu, 0.3) + rng.normal(0, 15, shape)
    return [np.round(np.clip(hu, -1024, 3071)).astype(np.int16)], tumour.astype(np.uint8)


# --------------------------------------------------------------- layouts --
def _ct_affine(spacing) -> np.ndarray:
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [170.0, 170.0, -300.0]
    return affine


def write_synthetic_dataset(kind: str, out: str | Path, cases: int = 20, size: int = 48, seed: int = 0) -> list[str]:
    """Write ``cases`` synthetic cases of ``kind`` (brats, aiib or crc) to ``out`` in the real layout.

    Returns:
        The case ids written.
    """
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {SYNTHETIC_KINDS}")
    if size < 16:
        raise ValueError(f"size must be at least 16 voxels, got {size}")
    out = Path(out)
    case_ids = []
    for index in range(cases):
        rng = np.random.default_rng([seed, index])
        if kind == "brats":
            case_id = f"BraTS-GLI-{index:05d}-000"
            images, label = brats_case(rng, size)
            affine = np.diag([-1.0, -1.0, 1.0, 1.0])
            affine[1, 3] = size - 1
            folder = out / case_id
            for name, image in zip(("t2w", "t2f", "t1n", "t1c"), images, strict=True):
                write_volume(folder / f"{case_id}-{name}.nii.gz", image, affine)
            write_volume(folder / f"{case_id}-seg.nii.gz", label, affine)
        elif kind == "aiib":
            case_id = f"AIIB23_{index}"
            images, label = aiib_case(rng, size)
            affine = _ct_affine([round(rng.uniform(0.6, 0.8), 2)] * 2 + [1.0])
            write_volume(out / "img" / f"{case_id}.nii.gz", images[0], affine)
            write_volume(out / "gt" / f"{case_id}.nii.gz", label, affine)
        else:
            case_id = f"CRC_{index:03d}"
            images, label = crc_case(rng, size)
            affine = _ct_affine([round(rng.uniform(0.7, 0.9), 2)] * 2 + [2.5])
            write_volume(out / "imagesTr" / f"{case_id}_0000.nii.gz", images[0], affine)
            write_volume(out / "labelsTr" / f"{case_id}.nii.gz", label, affine)
        case_ids.append(case_id)
    if kind == "crc":
        meta = {
            "channel_names": {"0": "CT"},
            "labels": {"background": 0, "tumour": 1},
            "numTraining": cases,
            "file_ending": ".nii.gz",
            "name": "CRC500_synthetic",
        }
        write_text_atomic(out / "dataset.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return case_ids
