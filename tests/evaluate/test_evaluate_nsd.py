"""NSD and the surface distances of ``segmamba.evaluate.surface`` against DeepMind's ``surface-distance`` (the
reference implementation of Nikolov et al.) and medpy: anisotropic spacing, empty masks, one-voxel objects,
objects on the image border and several tolerances; NSD's empty-mask conventions; the tolerance options."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import surface_distance
from medpy.metric.binary import hd95
from scipy import ndimage

from segmamba.cli import main
from segmamba.errors import InputError
from segmamba.evaluate.overlap import region_score
from segmamba.evaluate.surface import pooled_hd95, robust_hausdorff, surface_dice, surfel_distances
from segmamba.evaluate.tasks import get_task

SPACINGS = [(1.0, 1.0, 1.0), (0.7, 1.3, 2.5), (3.0, 0.5, 0.8)]
TOLERANCES = [0.0, 0.5, 1.0, 2.0, 4.5]


@pytest.fixture(autouse=True)
def numpy_inf_alias(monkeypatch):
    """surface-distance 0.1 writes ``np.Inf`` for an empty mask, an alias numpy 2 removed: restore it here only."""
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)


def random_blob(rng, shape=(26, 22, 18), share=0.9) -> np.ndarray:
    """A smooth random 3D blob (top 10 % of Gaussian-smoothed noise)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=2.0)
    return field > np.quantile(field, share)


def one_voxel(shape=(12, 10, 9), at=(5, 4, 3)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[at] = True
    return mask


def mask_pairs():
    """(name, prediction, truth) pairs: blobs, a blob on the image border, one-voxel objects, empty masks."""
    rng = np.random.default_rng(3)
    truth = random_blob(rng)
    on_border = truth.copy()
    on_border[0, :6, :6] = True
    empty = np.zeros_like(truth)
    small = one_voxel(truth.shape)
    return [
        ("shifted", np.roll(truth, 2, axis=1), truth),
        ("other_blob", random_blob(rng), truth),
        ("dilated_on_border", ndimage.binary_dilation(on_border), on_border),
        ("one_voxel_each", one_voxel(truth.shape, (9, 8, 7)), small),
        ("one_voxel_in_blob", small, truth),
        ("empty_prediction", empty, truth),
        ("empty_truth", truth, empty),
    ]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("name, prediction, truth", mask_pairs(), ids=[p[0] for p in mask_pairs()])
def test_nsd_and_robust_hausdorff_equal_surface_distance(name, prediction, truth, spacing):
    reference = surface_distance.compute_surface_distances(truth, prediction, spacing)
    ours = surfel_distances(prediction, truth, spacing)
    for tolerance in TOLERANCES:
        expected = surface_distance.compute_surface_dice_at_tolerance(reference, tolerance)
        assert surface_dice(ours, tolerance) == pytest.approx(expected, abs=1e-6), tolerance
    expected = surface_distance.compute_robust_hausdorff(reference, 95)
    assert robust_hausdorff(ours, 95) == pytest.approx(expected, abs=1e-6)
    assert ours.areas_truth.sum() == pytest.approx(reference["surfel_areas_gt"].sum(), abs=1e-9)


def test_surface_point_distances_are_the_distance_transform_values():
    rng = np.random.default_rng(11)
    truth, prediction = random_blob(rng), random_blob(rng)
    spacing = (0.7, 1.3, 2.5)
    ours = surfel_distances(prediction, truth, spacing)
    # the same surfels found independently: scipy's correlate with surface-distance's kernel, then scipy's EDT
    kernel = surface_distance.lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL
    codes = [ndimage.correlate(np.pad(m, 1).astype(np.uint8), kernel, mode="constant") for m in (truth, prediction)]
    borders = [(c != 0) & (c != 255) for c in codes]
    expected = ndimage.distance_transform_edt(~borders[1], sampling=spacing)[borders[0]]
    assert np.array_equal(np.sort(ours.distances_truth_to_prediction), np.sort(expected))


def test_both_empty_gives_no_surface_and_undefined_nsd():
    empty = np.zeros((6, 6, 6), dtype=bool)
    distances = surfel_distances(empty, empty, (1.0, 2.0, 3.0))
    assert np.isnan(surface_dice(distances, 1.0))
    assert robust_hausdorff(distances) == np.inf


def test_one_voxel_surface_area_by_hand():
    # A single voxel of 0.5 x 1 x 2 mm: Nikolov's surfels at its 8 corners are triangles cutting off each corner
    # of the 2 x 2 x 2 neighbourhood; each has the normal (±1/8, ±1/8, ±1/8) scaled by (s1 s2, s0 s2, s0 s1) =
    # (2, 1, 0.5), area |(0.25, 0.125, 0.0625)| = sqrt(0.0625 + 0.015625 + 0.00390625) = 0.28641..., 8 of them.
    distances = surfel_distances(one_voxel(), one_voxel(), (0.5, 1.0, 2.0))
    assert distances.areas_truth.size == 8
    assert distances.areas_truth.sum() == pytest.approx(8 * np.sqrt(0.0625 + 0.015625 + 0.00390625), abs=1e-12)
    assert surface_dice(distances, 0.0) == 1.0


@pytest.mark.parametrize("name, prediction, truth", mask_pairs()[:4], ids=[p[0] for p in mask_pairs()[:4]])
def test_pooled_hd95_on_the_bounding_box_equals_medpy(name, prediction, truth):
    spacing = (0.7, 1.3, 2.5)
    assert pooled_hd95(prediction, truth, spacing) == pytest.approx(hd95(prediction, truth, voxelspacing=spacing))


@pytest.mark.parametrize(
    "convention, truth_empty, prediction_empty, expected",
    [
        ("segmamba", True, True, 0.0),
        ("segmamba", True, False, 0.0),
        ("segmamba", False, True, 0.0),
        ("brats", True, True, 1.0),
        ("brats", True, False, 0.0),
        ("brats", False, True, 0.0),
    ],
)
def test_nsd_empty_mask_conventions(convention, truth_empty, prediction_empty, expected):
    block = np.zeros((8, 8, 8), dtype=bool)
    block[2:5, 2:5, 2:5] = True
    empty = np.zeros_like(block)
    score = region_score(empty if prediction_empty else block, empty if truth_empty else block, (1, 1, 1), convention)
    assert score.nsd == expected


def test_region_score_nsd_uses_its_tolerance():
    # A 4-voxel cube against the same cube shifted by one 2-mm voxel along axis 0: every surfel is within 2 mm
    # of the other surface, but the two end faces are not within 1.9 mm.
    truth = np.zeros((10, 8, 8), dtype=bool)
    truth[2:6, 2:6, 2:6] = True
    prediction = np.roll(truth, 1, axis=0)
    spacing = (2.0, 1.0, 1.0)
    assert region_score(prediction, truth, spacing, nsd_tolerance_mm=2.0).nsd == 1.0
    reference = surface_distance.compute_surface_distances(truth, prediction, spacing)
    expected = surface_distance.compute_surface_dice_at_tolerance(reference, 1.9)
    assert expected < 1.0
    assert region_score(prediction, truth, spacing, nsd_tolerance_mm=1.9).nsd == pytest.approx(expected, abs=1e-6)


def test_tolerance_per_region_and_bad_tolerances():
    assert get_task("brats2023").nsd_tolerance_mm == {"wt": 1.0, "tc": 1.0, "et": 1.0}
    assert get_task("brats2023", nsd_tolerance=2).nsd_tolerance_mm == {"wt": 2.0, "tc": 2.0, "et": 2.0}
    assert get_task("brats2023", nsd_tolerance={"et": 0.5}).nsd_tolerance_mm == {"wt": 1.0, "tc": 1.0, "et": 0.5}
    assert get_task("aiib2023", nsd_tolerance=0.7).nsd_tolerance_mm == {"": 0.7}
    with pytest.raises(InputError, match=r"unknown regions \['xx'\]"):
        get_task("brats2023", nsd_tolerance={"xx": 1})
    with pytest.raises(InputError, match="single number"):
        get_task("crc500", nsd_tolerance={"tumour": 1})
    with pytest.raises(InputError, match="must be > 0"):
        get_task("brats2023", nsd_tolerance={"wt": 0})


def test_cli_writes_nsd_columns_with_the_given_tolerance(tmp_path):
    truth = np.zeros((14, 12, 10), dtype=np.uint8)
    truth[3:9, 3:9, 3:7] = 1
    prediction = np.roll(truth, 1, axis=0)
    spacing = (2.0, 1.0, 1.0)
    for folder, labels in (("gt", truth), ("pred", prediction)):
        (tmp_path / folder).mkdir()
        nib.save(nib.Nifti1Image(labels, np.diag([*spacing, 1.0])), tmp_path / folder / "c1.nii.gz")
    argv = ["evaluate", "--dataset", "crc500", "--pred-dir", str(tmp_path / "pred"), "--gt-dir", str(tmp_path / "gt")]
    assert main([*argv, "--out", str(tmp_path / "m.csv"), "--nsd-tolerance-mm", "1.5"]) == 0
    (row,) = csv.DictReader(open(tmp_path / "m.csv", newline=""))
    reference = surface_distance.compute_surface_distances(truth > 0, prediction > 0, spacing)
    expected = surface_distance.compute_surface_dice_at_tolerance(reference, 1.5)
    assert float(row["nsd"]) == pytest.approx(expected, abs=1e-6)
    summary = json.loads((tmp_path / "m.summary.json").read_text())
    assert summary["metrics"]["nsd"]["mean"] == pytest.approx(expected, abs=1e-6)
    assert summary["metric_per_case"][0]["metrics"]["1"]["NSD"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path / "x.csv"), "--nsd-tolerance-mm", "one"])
