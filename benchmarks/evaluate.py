"""Benchmark the evaluation of one case against the straightforward peers, at equal values (not a test).

Two synthetic cases:

- ``brats``: 240 x 240 x 155 voxels of 1 mm, three tumours (one with necrosis and enhancing rim, two small ones,
  one of them under 50 mm^3) and a prediction that is shifted, misses a tumour and adds a false positive; scored
  on the three BraTS regions (WT, TC, ET): Dice, HD95, NSD at 1 mm and the lesion-wise Dice and HD95.
- ``airway``: 512 x 512 x 400 voxels of 0.7 x 0.7 x 0.5 mm, a branching tree of tubes and a prediction that is
  dilated in one part and misses a branch; one region: Dice, HD95 and NSD at 1 mm (AIIB has no lesion-wise metric).

Peers, each on the whole volume as their users call them: medpy ``dc`` and ``hd95`` (Dice, HD95); DeepMind's
``surface-distance`` (NSD: ``compute_surface_distances`` and ``compute_surface_dice_at_tolerance``); and a
whole-volume lesion-wise implementation written the way the BraTS 2023 code computes it (one full-volume
dilation and mask per lesion). Ours: :func:`segmamba.evaluate.overlap.region_score` (Dice, HD95, NSD from one
bounding box per region) and :func:`segmamba.evaluate.lesionwise.lesion_wise_score`.

Prints, per case, seconds per metric family for the peer and ours, the largest difference between their
values, and the ratio sum(peer seconds) / sum(our seconds).

Usage: python benchmarks/evaluate.py [--cases brats,airway] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import cc3d
import numpy as np
import surface_distance
from medpy.metric.binary import dc, hd95
from scipy import ndimage

from segmamba.evaluate.lesionwise import DILATION_ITERATIONS, MIN_LESION_VOLUME_MM3, MISSED_HD95, lesion_wise_score
from segmamba.evaluate.overlap import region_score

if not hasattr(np, "Inf"):  # surface-distance 0.1 still writes the alias numpy 2 removed
    np.Inf = np.inf

TOLERANCE_MM = 1.0
BRATS_REGIONS = {"wt": (1, 2, 3), "tc": (1, 3), "et": (3,)}


def paint(volume, centre, radius, value, spacing=(1.0, 1.0, 1.0)) -> None:
    """Set an ellipsoid of ``radius`` mm around ``centre`` (voxels) to ``value``, in place."""
    box = tuple(
        slice(max(int(c - radius / s) - 1, 0), min(int(c + radius / s) + 2, n))
        for c, s, n in zip(centre, spacing, volume.shape, strict=True)
    )
    grids = np.ogrid[box]
    inside = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True)) <= radius**2
    volume[box][inside] = value


def brats_case() -> tuple[np.ndarray, np.ndarray, tuple]:
    """Ground-truth and predicted BraTS label maps (1 NCR, 2 ED, 3 ET) with several lesions."""
    truth = np.zeros((240, 240, 155), dtype=np.uint8)
    for centre, radius, value in (
        ((100, 120, 70), 30, 2),
        ((100, 120, 70), 16, 3),
        ((100, 120, 70), 10, 1),
        ((170, 80, 90), 8, 2),
        ((172, 80, 90), 4, 3),
        ((120, 190, 40), 6, 2),
        ((60, 190, 40), 2, 2),  # 33 voxels: under 50 mm^3
    ):
        paint(truth, centre, radius, value)
    prediction = np.roll(truth, (2, -1, 1), axis=(0, 1, 2))
    paint(prediction, (172, 80, 90), 9, 0)  # the second tumour is missed
    paint(prediction, (190, 180, 120), 5, 3)  # a false positive
    prediction[30, 30, 30] = prediction[200, 40, 140] = 2  # two stray voxels: false positives of WT
    return prediction, truth, (1.0, 1.0, 1.0)


def airway_case(rng) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Ground-truth and predicted airway label maps: a tree of tubes, 63 segments, 9 mm down to 2 mm radius."""
    shape, spacing = (512, 512, 400), (0.7, 0.7, 0.5)
    truth = np.zeros(shape, dtype=np.uint8)
    segments = []

    def grow(start, direction, length, radius, level):
        end = start + direction * length
        segments.append((start, end, radius))
        if level < 5:
            for turn in (-1, 1):
                angle = turn * rng.uniform(0.3, 0.6)
                rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
                new = rotation @ direction
                new[2] += rng.uniform(-0.3, 0.3)
                grow(end, new / np.linalg.norm(new), length * 0.75, radius * 0.75, level + 1)

    grow(np.array([256.0, 100.0, 200.0]), np.array([0.0, 1.0, 0.0]), 110, 9.0, 0)
    for start, end, radius in segments:
        steps = max(int(np.linalg.norm((end - start) * spacing) / (radius / 2)), 2)
        for t in np.linspace(0, 1, steps):
            paint(truth, np.clip(start + t * (end - start), 0, np.array(shape) - 1), radius, 1, spacing)
    prediction = truth.copy()
    prediction[:, 300:, :] = ndimage.binary_dilation(truth[:, 300:, :])
    paint(prediction, segments[-1][0], 12, 0, spacing)  # a missed branch
    return prediction, truth, spacing


# ----------------------------------------------------------------------------------------------------- peers


def peer_overlap(prediction, truth, spacing) -> dict[str, float]:
    """medpy's Dice and HD95 on the whole volume."""
    return {"dice": float(dc(prediction, truth)), "hd95": float(hd95(prediction, truth, voxelspacing=spacing))}


def peer_nsd(prediction, truth, spacing) -> float:
    """surface-distance's NSD at the tolerance, on the whole volume (it crops to the masks itself)."""
    distances = surface_distance.compute_surface_distances(truth, prediction, spacing)
    return float(surface_distance.compute_surface_dice_at_tolerance(distances, TOLERANCE_MM))


def peer_lesion_wise(prediction, truth, spacing) -> dict[str, float]:
    """BraTS 2023 lesion-wise Dice and HD95 computed on the whole volume, one dilation per lesion."""
    structure = ndimage.generate_binary_structure(3, 2)
    predicted_labels = cc3d.connected_components(prediction, connectivity=26)
    dilated_labels = cc3d.connected_components(
        ndimage.binary_dilation(truth, structure=structure, iterations=DILATION_ITERATIONS), connectivity=26
    )
    lesions = np.zeros_like(dilated_labels)
    for lesion in range(1, int(dilated_labels.max()) + 1):
        lesions[(dilated_labels == lesion) & truth] = lesion
    hit_components, scores = set(), []
    for lesion in range(1, int(lesions.max()) + 1):
        lesion_mask = lesions == lesion
        dilated = ndimage.binary_dilation(lesion_mask, structure=structure, iterations=DILATION_ITERATIONS)
        hits = np.unique(predicted_labels[dilated])
        hits = hits[hits != 0]
        hit_components.update(hits.tolist())
        hit_mask = np.isin(predicted_labels, hits)
        dice = 2 * np.count_nonzero(hit_mask & lesion_mask) / (np.count_nonzero(hit_mask) + lesion_mask.sum())
        distance = surface_distance.compute_robust_hausdorff(
            surface_distance.compute_surface_distances(lesion_mask, hit_mask, spacing), 95
        )
        volume = lesion_mask.sum() * spacing[0] * spacing[1] * spacing[2]
        if volume > MIN_LESION_VOLUME_MM3:
            scores.append((dice, distance if np.isfinite(distance) else MISSED_HD95))
    false_positives = len(set(np.unique(predicted_labels).tolist()) - hit_components - {0})
    total = len(scores) + false_positives
    if total == 0:
        return {"lesion_dice": 1.0, "lesion_hd95": 0.0}
    return {
        "lesion_dice": sum(d for d, _ in scores) / total,
        "lesion_hd95": (sum(h for _, h in scores) + MISSED_HD95 * false_positives) / total,
    }


# ----------------------------------------------------------------------------------------------------- timing


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def benchmark(name, prediction, truth, spacing, regions, lesion_wise) -> list[tuple]:
    """Rows (case, family, peer s, our s, largest |difference|) of one case."""
    families: dict[str, list[float]] = {}

    def add(family, peer_seconds, our_seconds, difference):
        entry = families.setdefault(family, [0.0, 0.0, 0.0])
        entry[0] += peer_seconds
        entry[1] += our_seconds
        entry[2] = max(entry[2], difference)

    for labels in regions.values():
        predicted, reference = np.isin(prediction, labels), np.isin(truth, labels)
        overlap, overlap_s = timed(peer_overlap, predicted, reference, spacing)
        nsd, nsd_s = timed(peer_nsd, predicted, reference, spacing)
        ours, ours_s = timed(region_score, predicted, reference, spacing, "segmamba", TOLERANCE_MM)
        # our one call computes Dice, HD95 and NSD: its time is split by the peers' shares for the table
        share = overlap_s / (overlap_s + nsd_s)
        add(
            "Dice + HD95 (medpy)",
            overlap_s,
            ours_s * share,
            max(abs(ours.dice - overlap["dice"]), abs(ours.hd95 - overlap["hd95"])),
        )
        add(f"NSD @ {TOLERANCE_MM:g} mm (surface-distance)", nsd_s, ours_s * (1 - share), abs(ours.nsd - nsd))
        if lesion_wise:
            peer, peer_s = timed(peer_lesion_wise, predicted, reference, spacing)
            mine, mine_s = timed(lesion_wise_score, predicted, reference, spacing)
            difference = max(abs(mine.dice - peer["lesion_dice"]), abs(mine.hd95 - peer["lesion_hd95"]))
            add("lesion-wise Dice + HD95 (whole volume)", peer_s, mine_s, difference)
    return [(name, family, *values) for family, values in families.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="brats,airway", help="comma-separated: brats, airway")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for case in args.cases.split(","):
        if case == "brats":
            prediction, truth, spacing = brats_case()
            rows += benchmark("brats 240x240x155", prediction, truth, spacing, BRATS_REGIONS, lesion_wise=True)
        elif case == "airway":
            prediction, truth, spacing = airway_case(rng)
            rows += benchmark("airway 512x512x400", prediction, truth, spacing, {"airway": (1,)}, lesion_wise=False)
        else:
            raise SystemExit(f"unknown case {case!r}; expected brats or airway")
    print("| case | metrics (peer) | peer s | ours s | ratio | max abs difference |")
    print("|---|---|---:|---:|---:|---:|")
    for case, family, peer_s, ours_s, difference in rows:
        print(f"| {case} | {family} | {peer_s:.2f} | {ours_s:.2f} | {peer_s / ours_s:.1f}x | {difference:.1e} |")
    for case in dict.fromkeys(r[0] for r in rows):
        peer_total = sum(r[2] for r in rows if r[0] == case)
        ours_total = sum(r[3] for r in rows if r[0] == case)
        print(f"| {case} | **all** | {peer_total:.2f} | {ours_total:.2f} | {peer_total / ours_total:.1f}x | |")


if __name__ == "__main__":
    main()
