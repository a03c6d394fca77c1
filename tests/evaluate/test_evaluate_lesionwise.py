"""BraTS 2023 lesion-wise Dice and HD95 on planted cases, each checked against a value worked out by hand.

Geometry used below (1 mm voxels unless a test says otherwise): a "cube" is 4 x 4 x 4 voxels = 64 mm^3.
Nikolov's surfels of such a cube sit on the voxel-corner grid, 5 x 5 points per face: a flat face point
(3 x 3 per face) has area 1 mm^2, an edge point (3 per edge) sqrt(2)/2 mm^2, a corner point sqrt(3)/8 mm^2, so
one face with its edges and corners has 9 + 12 sqrt(2)/2 + 4 sqrt(3)/8 = 18.35 mm^2 and the cube
6 * 9 + 36 sqrt(2)/2 + 8 sqrt(3)/8 = 81.19 mm^2. The robust HD95 of one direction is the smallest distance
whose area share (sorted by distance) reaches 95 %: when the points at the largest distance hold more than 5 %
of the area, it is that largest distance.
"""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from segmamba.cli import main
from segmamba.evaluate.lesionwise import lesion_wise_score

ISOTROPIC = (1.0, 1.0, 1.0)
CUBE_FACE = 9 + 12 * np.sqrt(2) / 2 + 4 * np.sqrt(3) / 8
CUBE_SURFACE = 6 * 9 + 36 * np.sqrt(2) / 2 + 8 * np.sqrt(3) / 8


def cubes(shape, *corners, size=4) -> np.ndarray:
    """A boolean volume with a size^3 cube at each lower corner."""
    mask = np.zeros(shape, dtype=bool)
    for x, y, z in corners:
        mask[x : x + size, y : y + size, z : z + size] = True
    return mask


SHAPE = (40, 16, 16)
A = (5, 6, 6)  # voxels x 5..8


def score(prediction, truth, spacing=ISOTROPIC, **options):
    result = lesion_wise_score(prediction, truth, spacing, **options)
    return result.dice, result.hd95, result.lesions, result.false_positives


def test_shares_used_by_the_hand_computations():
    # The far face of one cube holds 18.35 / 81.19 = 22.6 % of its area, and 11.3 % of two cubes': both > 5 %.
    assert CUBE_FACE / CUBE_SURFACE > 0.05 and CUBE_FACE / (2 * CUBE_SURFACE) > 0.05


def test_two_lesions_six_voxels_apart_merge_under_the_3_voxel_dilation():
    # A spans x 5..8, B x 15..18: a gap of 6 voxels. Dilated by 3, A reaches x 11 and B x 12: the dilated masks
    # touch, so A and B are one lesion of 128 mm^3. The prediction is A alone (64 voxels):
    #   Dice = 2 * 64 / (64 + 128) = 2/3.
    #   HD95: prediction -> truth is 0 (A's surfels coincide). Truth -> prediction: A's surfels 0, B's surfels lie
    #   at x = 15..19 and their nearest predicted surfel is (9, y, z), distances 6..10 mm; B's far face (x = 19,
    #   10 mm) holds 11.3 % > 5 % of the truth's area, so the 95 % point is 10 mm.
    truth = cubes(SHAPE, A, (15, 6, 6))
    assert score(cubes(SHAPE, A), truth) == (pytest.approx(2 / 3), pytest.approx(10.0), 1, 0)


def test_two_lesions_seven_voxels_apart_stay_two_and_the_missed_one_costs_374():
    # B at x 16..19: dilated, A reaches x 11 and B x 13, so x 12 separates them: two lesions of 64 mm^3.
    # A is predicted exactly (Dice 1, HD95 0), B is missed (Dice 0, HD95 374):
    #   Dice = (1 + 0) / 2 = 0.5, HD95 = (0 + 374) / 2 = 187.
    truth = cubes(SHAPE, A, (16, 6, 6))
    assert score(cubes(SHAPE, A), truth) == (0.5, 187.0, 2, 0)


def test_dilation_uses_the_18_neighbour_structure():
    # Cubes offset along the diagonal by d voxels. Three 18-neighbour steps move at most 3 voxels per axis and
    # 6 in total (a step changes at most two axes), so the dilated cubes touch when, per axis, the two moves
    # add up to >= d - 1 with a total of at most 12: d = 5 needs 4 + 4 + 4 = 12 (touch, one lesion), d = 6
    # needs 15 (no: two lesions; a 26-neighbour dilation would merge them).
    shape = (24, 24, 24)
    for offset, lesions in ((5, 1), (6, 2)):
        corner = 5 + 4 + offset - 1
        truth = cubes(shape, (5, 5, 5), (corner, corner, corner))
        assert lesion_wise_score(cubes(shape, (5, 5, 5)), truth, ISOTROPIC).lesions == lesions


def test_a_40_mm3_lesion_is_dropped_whether_missed_or_hit():
    # Spacing 1 x 1 x 2 mm: the cube is 64 voxels = 128 mm^3 and predicted exactly; the small lesion is
    # 4 x 5 x 1 voxels = 20 voxels * 2 mm^3 = 40 mm^3 <= 50 and is dropped:
    #   missed: Dice = 1 / 1 = 1, HD95 = 0 / 1 = 0;
    #   hit: its predicted component is a hit, not a false positive: again 1 and 0.
    #   Kept with a 30 mm^3 threshold and missed: Dice = (1 + 0) / 2 = 0.5, HD95 = (0 + 374) / 2 = 187.
    spacing = (1.0, 1.0, 2.0)
    small = np.zeros(SHAPE, dtype=bool)
    small[25:29, 6:11, 6] = True
    truth = cubes(SHAPE, A) | small
    prediction = cubes(SHAPE, A)
    assert score(prediction, truth, spacing) == (1.0, 0.0, 1, 0)
    assert score(prediction | small, truth, spacing) == (1.0, 0.0, 1, 0)
    assert score(prediction, truth, spacing, min_volume_mm3=30.0) == (0.5, 187.0, 2, 0)
    # At exactly 50 mm^3 (5 x 5 x 1 voxels * 2 mm^3) a lesion is still dropped ("at most 50").
    small[25:30, 6:11, 6] = True
    assert score(prediction, cubes(SHAPE, A) | small, spacing) == (1.0, 0.0, 1, 0)


def test_a_false_positive_lesion_counts_in_the_denominator():
    # The prediction is A shifted by one voxel along x plus one stray voxel far away (a false positive).
    #   Lesion A: overlap x 6..8 = 3 * 16 = 48 voxels, Dice = 2 * 48 / (64 + 64) = 0.75. Every surfel is within
    #   1 mm of the other surface and each cube's end face (22.6 % > 5 %) is exactly 1 mm away: HD95 = 1.
    #   Case: Dice = (0.75 + 0) / 2 = 0.375, HD95 = (1 + 374) / 2 = 187.5.
    truth = cubes(SHAPE, A)
    prediction = cubes(SHAPE, (6, 6, 6))
    prediction[35, 1, 1] = True
    assert score(prediction, truth) == (0.375, 187.5, 1, 1)


def test_several_predicted_components_touching_one_lesion_are_scored_together():
    # A is predicted as two slabs, x 5..6 (32 voxels) and x 8 (16 voxels), with x 7 left out: two separate
    # 26-connected components, both touching A. One lesion, no false positive, and the two pieces together are
    # its prediction: Dice = 2 * (32 + 16) / (48 + 64) = 96 / 112 = 6/7.
    truth = cubes(SHAPE, A)
    prediction = truth.copy()
    prediction[7] = False
    result = lesion_wise_score(prediction, truth, ISOTROPIC)
    assert (result.dice, result.lesions, result.false_positives) == (pytest.approx(6 / 7), 1, 0)


def test_empty_cases():
    empty = np.zeros(SHAPE, dtype=bool)
    # No lesion and no prediction: 1 and 0.
    assert score(empty, empty) == (1.0, 0.0, 0, 0)
    # No lesion, two predicted components: Dice = 0 / 2 = 0, HD95 = 2 * 374 / 2 = 374.
    assert score(cubes(SHAPE, A, (20, 6, 6)), empty) == (0.0, 374.0, 0, 2)
    # One lesion, nothing predicted: Dice 0 / 1 = 0, HD95 374 / 1 = 374.
    assert score(empty, cubes(SHAPE, A)) == (0.0, 374.0, 1, 0)
    # Only a lesion under the threshold (3^3 = 27 mm^3), nothing predicted: nothing is scored, 1 and 0.
    assert score(empty, cubes(SHAPE, A, size=3)) == (1.0, 0.0, 0, 0)


def test_cli_brats_writes_lesion_wise_columns(tmp_path):
    # Ground truth: cube A of label 3 (so WT = TC = ET = A). Prediction: A shifted by one voxel (label 3) and a
    # stray edema voxel (label 2), which is a false positive of WT only:
    #   WT: (0.75 + 0) / 2 = 0.375 and (1 + 374) / 2 = 187.5; TC and ET: 0.75 and 1 (see the false-positive test).
    truth = cubes(SHAPE, A).astype(np.uint8) * 3
    prediction = cubes(SHAPE, (6, 6, 6)).astype(np.uint8) * 3
    prediction[35, 1, 1] = 2
    for folder, labels in (("gt", truth), ("pred", prediction)):
        (tmp_path / folder).mkdir()
        nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / folder / "c1.nii.gz")
    out = tmp_path / "m.csv"
    argv = [
        "evaluate",
        "--dataset",
        "brats2023",
        "--pred-dir",
        str(tmp_path / "pred"),
        "--gt-dir",
        str(tmp_path / "gt"),
    ]
    assert main([*argv, "--out", str(out)]) == 0
    (row,) = csv.DictReader(open(out, newline=""))
    expected = {
        "lesion_dice_wt": 0.375,
        "lesion_dice_tc": 0.75,
        "lesion_dice_et": 0.75,
        "lesion_hd95_wt": 187.5,
        "lesion_hd95_tc": 1.0,
        "lesion_hd95_et": 1.0,
    }
    assert list(row)[-6:] == list(expected)
    assert {column: float(row[column]) for column in expected} == pytest.approx(expected)
    summary = json.loads((tmp_path / "m.summary.json").read_text())
    assert {column: summary["metrics"][column]["mean"] for column in expected} == pytest.approx(expected)
