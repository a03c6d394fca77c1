"""Tests of ``segmamba evaluate``: Dice/HD95 against medpy, empty-mask conventions, AIIB tree metrics,
the CLI end to end on tiny NIfTI folders, bad-input errors and the paired Wilcoxon test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from medpy.metric.binary import dc, hd95
from scipy import ndimage
from scipy.stats import wilcoxon
from skimage.morphology import skeletonize

from segmamba.cli import main
from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.errors import InputError
from segmamba.evaluate.airway import airway_score, largest_component, parse_airway_tree
from segmamba.evaluate.evaluate import evaluate_folders, run_evaluation
from segmamba.evaluate.overlap import region_score
from segmamba.evaluate.summary import paired_wilcoxon, summarise_metrics_csv

SPACING = (0.7, 1.3, 2.5)


def random_blob(rng: np.random.Generator, shape=(32, 28, 20)) -> np.ndarray:
    """A smooth random 3D blob (top 10 % of Gaussian-smoothed noise)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=2.5)
    return field > np.quantile(field, 0.9)


def pooled_hd95(a: np.ndarray, b: np.ndarray, spacing) -> float:
    """Independent pooled HD95: surface = mask XOR its 6-neighbour erosion; EDT distances in mm."""

    def surface(mask):
        return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1))

    sa, sb = surface(a), surface(b)
    a_to_b = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    b_to_a = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    return float(np.percentile(np.concatenate([a_to_b, b_to_a]), 95))


# ----------------------------------------------------------------------------------- Dice / HD95


@pytest.mark.parametrize("perturbation", ["shift", "dilate", "erode", "other_blob"])
def test_region_score_matches_medpy_with_anisotropic_spacing(perturbation):
    rng = np.random.default_rng(7)
    truth = random_blob(rng)
    prediction = {
        "shift": np.roll(truth, 2, axis=2),
        "dilate": ndimage.binary_dilation(truth),
        "erode": ndimage.binary_erosion(truth),
        "other_blob": truth | random_blob(rng),
    }[perturbation]
    score = region_score(prediction, truth, SPACING)
    expected_dice = 2 * np.count_nonzero(prediction & truth) / (prediction.sum() + truth.sum())
    assert score.dice == pytest.approx(expected_dice, abs=1e-12)
    assert score.dice == pytest.approx(dc(prediction, truth), abs=1e-12)
    assert score.hd95 == pytest.approx(hd95(prediction, truth, voxelspacing=SPACING), abs=1e-9)
    assert score.hd95 == pytest.approx(pooled_hd95(prediction, truth, SPACING), abs=1e-9)
    if perturbation == "shift":  # the spacing is really used, in array axis order
        assert score.hd95 != pytest.approx(hd95(prediction, truth, voxelspacing=SPACING[::-1]), abs=1e-6)


def test_identical_masks_and_shift_along_one_axis():
    truth = np.zeros((20, 20, 20), dtype=bool)
    truth[5:15, 5:15, 5:15] = True
    assert region_score(truth, truth, SPACING) == region_score(truth, truth, SPACING)
    identical = region_score(truth, truth, SPACING)
    assert (identical.dice, identical.hd95) == (1.0, 0.0)
    shifted = region_score(np.roll(truth, 1, axis=2), truth, SPACING)
    # A one-voxel shift along axis 2 moves every surface voxel by at most one z-step (2.5 mm).
    assert 0 < shifted.hd95 <= SPACING[2] + 1e-9
    assert shifted.dice == pytest.approx(0.9)


BLOCK = np.zeros((8, 8, 8), dtype=bool)
BLOCK[2:5, 2:5, 2:5] = True
EMPTY = np.zeros((8, 8, 8), dtype=bool)


@pytest.mark.parametrize(
    ("prediction", "truth", "convention", "expected"),
    [
        (EMPTY, EMPTY, "segmamba", (0.0, 50.0)),
        (EMPTY, BLOCK, "segmamba", (0.0, 50.0)),
        (BLOCK, EMPTY, "segmamba", (0.0, 50.0)),
        (BLOCK, BLOCK, "segmamba", (1.0, 0.0)),
        (EMPTY, EMPTY, "brats", (1.0, 0.0)),
        (EMPTY, BLOCK, "brats", (0.0, 373.13)),
        (BLOCK, EMPTY, "brats", (0.0, 373.13)),
        (BLOCK, BLOCK, "brats", (1.0, 0.0)),
    ],
)
def test_empty_mask_conventions(prediction, truth, convention, expected):
    score = region_score(prediction, truth, (1.0, 1.0, 1.0), convention)
    assert (score.dice, score.hd95) == expected
    assert score.prediction_empty == (not prediction.any())
    assert score.ground_truth_empty == (not truth.any())


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="convention"):
        region_score(BLOCK, BLOCK, (1.0, 1.0, 1.0), "nnunet")


# ----------------------------------------------------------------------------------- AIIB metrics


def tube(shape, start, end, radius) -> np.ndarray:
    """Round tube (capsule) between two points; round tubes skeletonise reliably."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(float)
    start, end = np.asarray(start, float), np.asarray(end, float)
    axis = end - start
    t = np.clip(((grid - start) @ axis) / (axis @ axis), 0.0, 1.0)
    return np.linalg.norm(grid - (start + t[..., None] * axis), axis=-1) <= radius


TREE_SHAPE = (32, 32, 32)
# A 5-segment airway: trachea, two main bronchi, and two daughters of the left bronchus.
TREE_SEGMENTS = {
    "trachea": ((2, 16, 16), (12, 16, 16), 2.5),
    "left": ((12, 16, 16), (20, 8, 16), 2.0),
    "right": ((12, 16, 16), (20, 24, 16), 2.0),
    "left_a": ((20, 8, 16), (29, 3, 10), 1.6),
    "left_b": ((20, 8, 16), (29, 3, 22), 1.6),
}


@pytest.fixture(scope="module")
def airway_tree():
    """(tree mask, {segment: tube mask}, GT centreline computed here with skimage's Lee thinning)."""
    tubes = {name: tube(TREE_SHAPE, *segment) for name, segment in TREE_SEGMENTS.items()}
    tree = np.any(list(tubes.values()), axis=0)
    return tree, tubes, skeletonize(tree).astype(bool)


def without_segments(tree, tubes, removed):
    """The tree minus the voxels that belong only to the removed segments."""
    kept = np.any([mask for name, mask in tubes.items() if name not in removed], axis=0)
    return tree & kept


def test_tree_parsing_finds_one_branch_per_segment(airway_tree):
    tree, tubes, centreline = airway_tree
    parsing, n_branches = parse_airway_tree(tree)
    assert n_branches == len(TREE_SEGMENTS)
    # Each segment's centreline is dominated by one branch label, and all labels are distinct.
    dominant = [np.bincount(parsing[centreline & mask]).argmax() for mask in tubes.values()]
    assert sorted(dominant) == list(range(1, n_branches + 1))
    assert np.array_equal(parsing > 0, tree)


def test_identical_tree_scores_perfectly(airway_tree):
    tree, _, _ = airway_tree
    score = airway_score(tree, tree)
    assert (score.iou, score.dlr, score.dbr, score.precision, score.leakage) == (1.0, 1.0, 1.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("removed", "branches_left"),
    [(("left_a",), 4), (("left", "left_a", "left_b"), 2)],
)
def test_removed_subtree_lowers_dlr_and_dbr(airway_tree, removed, branches_left):
    tree, tubes, centreline = airway_tree
    prediction = without_segments(tree, tubes, removed)
    score = airway_score(prediction, tree)
    assert score.dbr == pytest.approx(branches_left / len(TREE_SEGMENTS))
    # DLR: 1 - the share of GT centreline voxels that lie only in the removed tubes.
    only_removed = centreline & ~np.any([m for name, m in tubes.items() if name not in removed], axis=0)
    assert score.dlr == pytest.approx(1 - np.count_nonzero(only_removed) / np.count_nonzero(centreline))
    assert score.dlr < 1.0
    assert score.iou == pytest.approx(prediction.sum() / tree.sum())
    assert (score.precision, score.leakage) == (1.0, 0.0)


def test_scores_do_not_depend_on_the_surrounding_background(airway_tree):
    tree, tubes, _ = airway_tree
    prediction = without_segments(tree, tubes, ("left_b",))
    big_tree, big_prediction = np.zeros((50, 45, 40), bool), np.zeros((50, 45, 40), bool)
    big_tree[9:41, 6:38, 3:35], big_prediction[9:41, 6:38, 3:35] = tree, prediction
    assert airway_score(big_prediction, big_tree) == airway_score(prediction, tree)


def test_severed_subtree_is_dropped_by_largest_component(airway_tree):
    tree, tubes, centreline = airway_tree
    depth = np.arange(TREE_SHAPE[0])[:, None, None]
    right_only = tubes["right"] & ~without_segments(tree, tubes, ("right",))
    prediction = tree & ~(right_only & (depth >= 15) & (depth <= 16))  # a 2-slice gap in the right bronchus
    kept = largest_component(prediction)
    assert not np.any(kept & right_only & (depth > 16))
    score = airway_score(prediction, tree)
    assert score.dbr == pytest.approx(4 / 5)
    assert score.dlr == pytest.approx(np.count_nonzero(centreline & kept) / np.count_nonzero(centreline))
    assert score.iou == pytest.approx(kept.sum() / tree.sum())
    assert score.precision == 1.0


def test_disconnected_false_positive_is_ignored(airway_tree):
    tree, _, _ = airway_tree
    prediction = tree.copy()
    prediction[27:31, 25:30, 25:30] = True  # a small blob away from the tree
    assert not np.any(tree[27:31, 25:30, 25:30])
    score = airway_score(prediction, tree)
    assert (score.iou, score.dlr, score.dbr, score.precision, score.leakage) == (1.0, 1.0, 1.0, 1.0, 0.0)


def test_dilated_prediction_keeps_topology_and_leaks(airway_tree):
    tree, _, _ = airway_tree
    prediction = ndimage.binary_dilation(tree)
    score = airway_score(prediction, tree)
    assert (score.dlr, score.dbr) == (1.0, 1.0)
    assert score.precision == pytest.approx(tree.sum() / prediction.sum())
    assert score.leakage == pytest.approx((prediction.sum() - tree.sum()) / tree.sum())


def test_empty_prediction_scores_zero(airway_tree):
    tree, _, _ = airway_tree
    score = airway_score(np.zeros_like(tree), tree)
    assert (score.iou, score.dlr, score.dbr, score.precision, score.leakage) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_largest_component_uses_face_connectivity():
    mask = np.zeros((6, 6, 6), dtype=bool)
    mask[0, 0, 0:3] = True  # 3 voxels
    mask[1, 1, 3] = True  # touches the first piece only diagonally
    mask[4:6, 4:6, 4] = True  # 4 voxels: the largest 6-connected piece
    assert np.array_equal(largest_component(mask), np.pad(np.ones((2, 2, 1), bool), ((4, 0), (4, 0), (4, 1))))


# ----------------------------------------------------------------------------------- CLI end to end


def save_labels(path, labels, spacing=SPACING):
    """Write an int16 label map with the given spacing (and a translation) as NIfTI."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = (-10.0, 4.0, 2.0)
    nib.save(nib.Nifti1Image(labels.astype(np.int16), affine), str(path))


def brats_label_map(rng, shape=(24, 20, 16)):
    """Label map with nested blobs: ED (2) around a core whose inside is ET (3) and NCR (1)."""
    whole = random_blob(rng, shape)
    core = whole & ndimage.binary_erosion(whole, iterations=1)
    labels = np.where(whole, 2, 0)
    labels[core] = 1
    labels[core & (np.indices(shape)[0] % 2 == 0)] = 3
    return labels


@pytest.fixture
def brats_folders(tmp_path):
    rng = np.random.default_rng(3)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    cases = {}
    for case in ("case_a", "case_b", "case_c"):
        truth = brats_label_map(rng)
        prediction = np.roll(truth, 1, axis=0)
        cases[case] = (prediction, truth)
    cases["case_c"] = (np.where(cases["case_c"][1] == 3, 1, cases["case_c"][1]), cases["case_c"][1])  # no ET
    for case, (prediction, truth) in cases.items():
        save_labels(pred_dir / f"{case}.nii.gz", prediction)
        save_labels(gt_dir / f"{case}.nii.gz", truth)
    return pred_dir, gt_dir, cases


def test_cli_brats_end_to_end(brats_folders, tmp_path, capsys):
    pred_dir, gt_dir, cases = brats_folders
    out = tmp_path / "metrics" / "model.csv"
    argv = ["evaluate", "--dataset", "brats2023", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir)]
    assert main([*argv, "--out", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    paper_columns = ["case", "dice_wt", "dice_tc", "dice_et", "hd95_wt", "hd95_tc", "hd95_et"]
    new_columns = ["nsd_wt", "nsd_tc", "nsd_et", "lesion_dice_wt", "lesion_dice_tc", "lesion_dice_et"]
    assert list(rows[0]) == [*paper_columns, *new_columns, "lesion_hd95_wt", "lesion_hd95_tc", "lesion_hd95_et"]
    assert [row["case"] for row in rows] == ["case_a", "case_b", "case_c"]
    regions = {"wt": (1, 2, 3), "tc": (1, 3), "et": (3,)}
    for row in rows:
        prediction, truth = cases[row["case"]]
        for region, labels in regions.items():
            p, t = np.isin(prediction, labels), np.isin(truth, labels)
            if p.any() and t.any():
                assert float(row[f"dice_{region}"]) == pytest.approx(dc(p, t))
                assert float(row[f"hd95_{region}"]) == pytest.approx(hd95(p, t, voxelspacing=SPACING))
            else:
                assert (float(row[f"dice_{region}"]), float(row[f"hd95_{region}"])) == (0.0, 50.0)
    # case_c predicts no ET at all: the segmamba convention scores it 0 / 50.
    assert (float(rows[2]["dice_et"]), float(rows[2]["hd95_et"])) == (0.0, 50.0)
    summary = json.loads((out.parent / "model.summary.json").read_text())
    assert summary["dataset"] == "brats2023" and summary["convention"] == "segmamba" and summary["n_cases"] == 3
    dice_et = [float(row["dice_et"]) for row in rows]
    assert summary["metrics"]["dice_et"]["mean"] == pytest.approx(np.mean(dice_et))
    assert summary["metrics"]["dice_et"]["std"] == pytest.approx(np.std(dice_et))
    assert summary["metrics"]["dice_et"]["n"] == 3
    assert summary["metrics"]["dice_et"]["n_empty"] == 1
    assert summary["metrics"]["dice_et"]["n_empty_prediction"] == 1
    assert summary["metrics"]["dice_wt"]["n_empty"] == 0
    assert all(0.0 <= float(row[c]) <= 1.0 for row in rows for c in ("dice_wt", "dice_tc", "dice_et"))
    assert summarise_metrics_csv(out)["dice_et"]["mean"] == pytest.approx(np.mean(dice_et))
    assert "dice_et" in capsys.readouterr().out


def test_brats_convention_and_parallel_workers_give_the_same_non_empty_scores(brats_folders, tmp_path):
    pred_dir, gt_dir, _ = brats_folders
    serial = run_evaluation("brats2023", pred_dir, gt_dir, tmp_path / "s.csv", "brats", workers=1)
    parallel = run_evaluation("brats2023", pred_dir, gt_dir, tmp_path / "p.csv", "brats", workers=2)
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "p.csv").read_text()
    assert serial == parallel
    rows = list(csv.DictReader(open(tmp_path / "s.csv", newline="")))
    assert (float(rows[2]["dice_et"]), float(rows[2]["hd95_et"])) == (0.0, 373.13)
    assert serial["convention"] == "brats"


def test_cli_crc_and_aiib_columns(tmp_path, airway_tree):
    tree, tubes, _ = airway_tree
    expected_columns = {
        "crc500": ["dice", "hd95", "nsd"],
        "aiib2023": ["iou", "dlr", "dbr", "precision", "leakage", "nsd"],
    }
    for dataset, metric_columns in expected_columns.items():
        columns = ["case", *metric_columns]
        pred_dir, gt_dir = tmp_path / dataset / "pred", tmp_path / dataset / "gt"
        pred_dir.mkdir(parents=True)
        gt_dir.mkdir()
        save_labels(gt_dir / "c1.nii.gz", tree)
        save_labels(pred_dir / "c1.nii.gz", without_segments(tree, tubes, ("left_a",)))
        save_labels(gt_dir / "c2.nii.gz", tree)
        save_labels(pred_dir / "c2.nii.gz", np.zeros_like(tree))
        out = tmp_path / dataset / "metrics.csv"
        argv = ["evaluate", "--dataset", dataset, "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir)]
        assert main([*argv, "--out", str(out)]) == 0
        rows = list(csv.DictReader(open(out, newline="")))
        assert list(rows[0]) == columns
        summary = json.loads((tmp_path / dataset / "metrics.summary.json").read_text())
        assert summary["metrics"][columns[1]]["n_empty_prediction"] == 1
        if dataset == "aiib2023":
            assert float(rows[0]["dbr"]) == pytest.approx(0.8)
            assert [float(rows[1][c]) for c in columns[1:]] == [0.0] * 6
            assert summary["convention"] is None
        else:
            assert (float(rows[1]["dice"]), float(rows[1]["hd95"]), float(rows[1]["nsd"])) == (0.0, 50.0, 0.0)


# ----------------------------------------------------------------------------------- bad input


def test_missing_prediction_names_case_and_file(brats_folders):
    pred_dir, gt_dir, _ = brats_folders
    (pred_dir / "case_b.nii.gz").unlink()
    with pytest.raises(InputError, match=r"case case_b: no prediction .*case_b\.nii\.gz"):
        evaluate_folders("brats2023", pred_dir, gt_dir)


def test_shape_mismatch_is_an_input_error(brats_folders):
    pred_dir, gt_dir, _ = brats_folders
    save_labels(pred_dir / "case_a.nii.gz", np.zeros((24, 20, 15), dtype=np.int16))
    with pytest.raises(InputError, match=r"case case_a: prediction .*case_a\.nii\.gz has shape"):
        evaluate_folders("brats2023", pred_dir, gt_dir)


def test_affine_mismatch_is_an_input_error(brats_folders):
    pred_dir, gt_dir, cases = brats_folders
    save_labels(pred_dir / "case_a.nii.gz", cases["case_a"][0], spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InputError, match=r"case case_a: .*case_a\.nii\.gz .*different affines"):
        evaluate_folders("brats2023", pred_dir, gt_dir)


def test_unexpected_label_and_cli_exit_code(brats_folders, tmp_path, capsys):
    pred_dir, gt_dir, cases = brats_folders
    legacy = np.where(cases["case_b"][1] == 3, 4, cases["case_b"][1])  # BraTS 2021 ET label
    save_labels(gt_dir / "case_b.nii.gz", legacy)
    with pytest.raises(InputError, match=r"case case_b: .*gt/case_b\.nii\.gz contains unexpected labels \[4\]"):
        evaluate_folders("brats2023", pred_dir, gt_dir)
    argv = ["evaluate", "--dataset", "brats2023", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir)]
    assert main([*argv, "--out", str(tmp_path / "m.csv")]) == 2
    error = capsys.readouterr().err.strip()
    assert "case_b" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "m.csv").exists()


def test_aiib_empty_ground_truth_and_non_integer_labels_are_input_errors(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    save_labels(gt_dir / "x.nii.gz", np.zeros((8, 8, 8)))
    save_labels(pred_dir / "x.nii.gz", BLOCK)
    with pytest.raises(InputError, match="case x: the ground truth has no airway"):
        evaluate_folders("aiib2023", pred_dir, gt_dir)
    nib.save(nib.Nifti1Image(np.full((8, 8, 8), 0.5, np.float32), np.diag([*SPACING, 1])), str(gt_dir / "x.nii.gz"))
    with pytest.raises(InputError, match=r"case x: .*x\.nii\.gz holds non-integer values"):
        evaluate_folders("crc500", pred_dir, gt_dir)


def test_empty_or_missing_folders_are_input_errors(tmp_path):
    (tmp_path / "gt").mkdir()
    with pytest.raises(InputError, match="does not exist"):
        evaluate_folders("crc500", tmp_path / "nope", tmp_path / "gt")
    with pytest.raises(InputError, match="no ground-truth label maps"):
        evaluate_folders("crc500", tmp_path / "gt", tmp_path / "gt")


# ----------------------------------------------------------------------------------- statistics


def test_paired_wilcoxon_matches_scipy():
    values = [0.91, 0.85, 0.88, 0.93, 0.79, 0.90, 0.87, 0.84]
    reference = [0.90, 0.88, 0.91, 0.95, 0.83, 0.92, 0.86, 0.89]
    assert paired_wilcoxon(values, reference) == pytest.approx(wilcoxon(values, reference).pvalue)
    assert 0.0 < paired_wilcoxon(values, reference) < 0.1  # 6 of 8 pairs favour the reference


def test_paired_wilcoxon_exact_small_example():
    # Differences 1..6 all positive: W- = 0, exact two-sided p = 2 / 2**6.
    assert paired_wilcoxon([2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1]) == pytest.approx(2 / 64)


@pytest.mark.parametrize(
    ("values", "reference"),
    [([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]), ([0.5], [0.4]), ([], []), ([np.nan, 0.5], [0.4, np.nan])],
)
def test_paired_wilcoxon_is_nan_when_undefined(values, reference):
    assert np.isnan(paired_wilcoxon(values, reference))


# ----------------------------------------------------------------------------------- nnU-Net datasets, summary


def nnunet_key_to_labels(key: str) -> tuple[int, ...]:
    """How nnU-Net v2's ``load_summary_json`` reads a key back: an int label, or a tuple of labels."""
    try:
        return (int(key),)
    except ValueError:
        return tuple(int(i) for i in key.strip("()").split(",") if i.strip())


@pytest.fixture
def nnunet_folders(tmp_path):
    """An nnU-Net dataset.json with labels 'Left Kidney' (1) and 'Tumour' (2), and two scored cases."""
    root = tmp_path / "raw"
    root.mkdir()
    labels = {"background": 0, "Left Kidney": 1, "Tumour": 2}
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": labels}))
    rng = np.random.default_rng(5)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    cases = {}
    for case in ("k1", "k2"):
        truth = np.where(random_blob(rng), 1, 0)
        truth[random_blob(rng) & (truth == 1)] = 2
        prediction = np.roll(truth, 1, axis=1)
        cases[case] = (prediction, truth)
    cases["k2"] = (np.where(cases["k2"][0] == 2, 0, cases["k2"][0]), cases["k2"][1])  # no tumour predicted
    for case, (prediction, truth) in cases.items():
        save_labels(pred_dir / f"{case}.nii.gz", prediction)
        save_labels(gt_dir / f"{case}.nii.gz", truth)
    return root, pred_dir, gt_dir, cases


def test_cli_nnunet_dataset_scores_every_label_by_its_name(nnunet_folders, tmp_path):
    root, pred_dir, gt_dir, cases = nnunet_folders
    out = tmp_path / "m.csv"
    resolve_dataset_file("kidneys", {"format": "nnunet", "root": str(root)}, root).write(tmp_path / "dataset.json")
    argv = ["evaluate", "--dataset-file", str(tmp_path / "dataset.json"), "--pred-dir", str(pred_dir)]
    argv += ["--gt-dir", str(gt_dir)]
    assert main([*argv, "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out, newline="")))
    assert list(rows[0]) == [
        "case",
        "dice_left_kidney",
        "dice_tumour",
        "dice_mean",
        "hd95_left_kidney",
        "hd95_tumour",
        "hd95_mean",
        "nsd_left_kidney",
        "nsd_tumour",
        "nsd_mean",
    ]
    for row in rows:
        prediction, truth = cases[row["case"]]
        expected = {}
        for suffix, label in (("left_kidney", 1), ("tumour", 2)):
            p, t = prediction == label, truth == label
            expected[suffix] = (dc(p, t), hd95(p, t, voxelspacing=SPACING)) if p.any() else (0.0, 50.0)
            assert float(row[f"dice_{suffix}"]) == pytest.approx(expected[suffix][0])
            assert float(row[f"hd95_{suffix}"]) == pytest.approx(expected[suffix][1])
        assert float(row["dice_mean"]) == pytest.approx(np.mean([v[0] for v in expected.values()]))
        assert float(row["hd95_mean"]) == pytest.approx(np.mean([v[1] for v in expected.values()]))
    assert (float(rows[1]["dice_tumour"]), float(rows[1]["hd95_tumour"])) == (0.0, 50.0)

    summary = json.loads((tmp_path / "m.summary.json").read_text())
    assert summary["dataset"] == "kidneys"  # the dataset's own name, not its layout's
    assert summary["key_names"] == {"1": "Left Kidney", "2": "Tumour"} and list(summary["mean"]) == ["1", "2"]
    for entry, row in zip(summary["metric_per_case"], rows, strict=True):
        assert entry["prediction_file"] == str(pred_dir / f"{row['case']}.nii.gz")
        assert entry["reference_file"] == str(gt_dir / f"{row['case']}.nii.gz")
        prediction, truth = cases[row["case"]]
        for key, metrics in entry["metrics"].items():
            (label,) = nnunet_key_to_labels(key)
            p, t = prediction == label, truth == label
            tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
            assert (metrics["TP"], metrics["FP"], metrics["FN"], metrics["TN"]) == (tp, fp, fn, p.size - tp - fp - fn)
            assert (metrics["n_pred"], metrics["n_ref"]) == (int(p.sum()), int(t.sum()))
            assert metrics["IoU"] == pytest.approx(tp / (tp + fp + fn))
            assert metrics["Dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))  # nnU-Net's definition
    tumour_dice = [float(row["dice_tumour"]) for row in rows]
    assert summary["mean"]["2"]["Dice"] == pytest.approx(np.mean(tumour_dice))
    assert summary["mean"]["2"]["HD95"] == pytest.approx(np.mean([float(row["hd95_tumour"]) for row in rows]))
    for metric in ("Dice", "IoU", "HD95", "TP"):
        assert summary["foreground_mean"][metric] == pytest.approx(
            np.mean([summary["mean"][key][metric] for key in ("1", "2")])
        )


def test_nnunet_regions_become_tuple_keys_and_need_a_root(nnunet_folders, tmp_path):
    root, pred_dir, gt_dir, cases = nnunet_folders
    summary = run_evaluation("nnunet", pred_dir, gt_dir, tmp_path / "r.csv", root=root, regions={"kidney": [1, 2]})
    assert list(summary["mean"]) == ["(1, 2)"] and summary["key_names"] == {"(1, 2)": "kidney"}
    assert summary["dataset"] == "nnunet"  # no --name: the layout's name
    assert nnunet_key_to_labels("(1, 2)") == (1, 2)
    rows = list(csv.DictReader(open(tmp_path / "r.csv", newline="")))
    assert list(rows[0]) == ["case", "dice_kidney", "dice_mean", "hd95_kidney", "hd95_mean", "nsd_kidney", "nsd_mean"]
    prediction, truth = cases["k1"]
    assert float(rows[0]["dice_kidney"]) == pytest.approx(dc(prediction > 0, truth > 0))
    with pytest.raises(InputError, match="needs --root"):
        run_evaluation("nnunet", pred_dir, gt_dir, tmp_path / "x.csv")
    with pytest.raises(InputError, match="regions apply to nnunet datasets only"):
        run_evaluation("crc500", pred_dir, gt_dir, tmp_path / "x.csv", regions={"a": [1]})
    with pytest.raises(InputError, match=r"region 'kidney' names label\(s\) \[3\]"):
        run_evaluation("nnunet", pred_dir, gt_dir, tmp_path / "x.csv", root=root, regions={"kidney": [3]})


def test_paper_datasets_summary_keys(brats_folders, tmp_path, airway_tree):
    pred_dir, gt_dir, cases = brats_folders
    summary = run_evaluation("brats2023", pred_dir, gt_dir, tmp_path / "b.csv")
    assert summary["key_names"] == {"(1, 2, 3)": "WT", "(1, 3)": "TC", "(3,)": "ET"}
    case_a = summary["metric_per_case"][0]["metrics"]
    prediction, truth = cases["case_a"]
    for key, metrics in case_a.items():
        p, t = np.isin(prediction, nnunet_key_to_labels(key)), np.isin(truth, nnunet_key_to_labels(key))
        assert metrics["TP"] == int((p & t).sum()) and metrics["HD95"] == pytest.approx(hd95(p, t, SPACING))
    assert summary["metrics"]["dice_wt"]["mean"] == pytest.approx(summary["mean"]["(1, 2, 3)"]["Dice"])

    tree, tubes, _ = airway_tree
    aiib_pred, aiib_gt = tmp_path / "ap", tmp_path / "ag"
    aiib_pred.mkdir()
    aiib_gt.mkdir()
    save_labels(aiib_gt / "c1.nii.gz", tree)
    save_labels(aiib_pred / "c1.nii.gz", without_segments(tree, tubes, ("left_a",)))
    aiib = run_evaluation("aiib2023", aiib_pred, aiib_gt, tmp_path / "a.csv")
    metrics = aiib["metric_per_case"][0]["metrics"]["1"]
    assert aiib["key_names"] == {"1": "airway"} and metrics["DBR"] == pytest.approx(0.8)
    assert metrics["IoU"] == pytest.approx(aiib["metrics"]["iou"]["mean"])
    assert metrics["Dice"] == pytest.approx(2 * metrics["IoU"] / (1 + metrics["IoU"]))
    crc = run_evaluation("crc500", aiib_pred, aiib_gt, tmp_path / "c.csv")
    assert crc["key_names"] == {"1": "tumour"} and crc["foreground_mean"]["Dice"] == crc["metrics"]["dice"]["mean"]


def test_a_hidden_partial_file_in_a_folder_is_not_a_case(brats_folders):
    """A ``.<case>.nii.gz.<random>.tmp.nii.gz`` left by an interrupted atomic write is skipped."""
    pred_dir, gt_dir, _ = brats_folders
    (gt_dir / ".case_a.nii.gz.k2j3h4.tmp.nii.gz").write_bytes((gt_dir / "case_a.nii.gz").read_bytes())
    scores = evaluate_folders("brats2023", pred_dir, gt_dir)
    assert sorted(Path(score.reference_file).name for score in scores) == [f"case_{c}.nii.gz" for c in "abc"]
