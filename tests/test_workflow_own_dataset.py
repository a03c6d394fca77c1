"""The workflow on a dataset of your own: a tiny hand-made nnU-Net raw dataset under a name of its own.

Two channels, three foreground labels and one configured region go through check, split, preprocess, a
very short training of one cheap model, predict, evaluate and the figures; the metrics CSV and the nnU-Net
style summary are checked against medpy run here on the written predictions and the hand-made labels.
"""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import yaml
from medpy.metric.binary import dc, hd95
from test_workflow_support import copy_workflow, job_counts, run_snakemake

pytestmark = pytest.mark.slow

NAME = "tiny_lesions"
SPACING = (0.8, 0.9, 1.5)
LABELS = {"background": 0, "Edema": 1, "Necrosis": 2, "Enhancing": 3}
REGION = {"lesion_core": [2, 3]}


def write_tiny_nnunet_dataset(root, cases: int = 6, size: int = 20) -> None:
    """Nested spheres (Edema around Necrosis around an Enhancing spot) in two MRI-like channels."""
    rng = np.random.default_rng(11)
    affine = np.diag([*SPACING, 1.0])
    grid = np.indices((size,) * 3).astype(float)
    for index in range(cases):
        centre = size / 2 + rng.uniform(-2, 2, 3)
        radius = np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(0))
        outer = rng.uniform(6.0, 7.5)
        label = np.select([radius < outer * 0.3, radius < outer * 0.6, radius < outer], [3, 2, 1], 0).astype(np.uint8)
        intensity = {0: (0.2, 0.5), 1: (1.0, 0.9), 2: (0.5, 1.6), 3: (1.8, 0.3)}
        case = f"case_{index:03d}"
        for channel in (0, 1):
            image = np.choose(label, [intensity[v][channel] for v in range(4)]) + rng.normal(0, 0.05, label.shape)
            path = root / "imagesTr" / f"{case}_{channel:04d}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(image.astype(np.float32), affine), str(path))
        (root / "labelsTr").mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(label, affine), str(root / "labelsTr" / f"{case}.nii.gz"))
    meta = {
        "channel_names": {"0": "T2", "1": "ADC"},
        "labels": LABELS,
        "numTraining": cases,
        "file_ending": ".nii.gz",
        "name": "TinyLesions",
    }
    (root / "dataset.json").write_text(json.dumps(meta))


def own_dataset_config(root) -> dict:
    """Only the own dataset, one narrow model, a few iterations on 16³ patches; no tables."""
    return {
        "datasets": {
            "brats2023": {"activate": False},
            "aiib2023": {"activate": False},
            "crc500": {"activate": False},
            NAME: {"activate": True, "format": "nnunet", "root": str(root), "regions": REGION},
        },
        "models": ["segresnet"],
        "ablation": {"activate": False},
        "efficiency": {"activate": False},
        "scales": {
            "demo": {
                "train": {
                    "epochs": 2,
                    "iters_per_epoch": 3,
                    "patch_size": [16, 16, 16],
                    "batch_size": 1,
                    "val_every": 1,
                    "max_val_cases": 1,
                }
            }
        },
    }


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """Run the workflow's default target on the tiny dataset once."""
    base = tmp_path_factory.mktemp("own")
    write_tiny_nnunet_dataset(base / "raw")
    workdir = copy_workflow(base / "wf")
    (base / "own.yaml").write_text(yaml.safe_dump(own_dataset_config(base / "raw")))
    result = run_snakemake(workdir, "--cores", "2", "--configfile", str(base / "own.yaml"), timeout=900)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in (workdir / "results/logs").rglob("*.log"))
    assert result.returncode == 0, result.stderr[-4000:] + logs
    return workdir, base / "raw", result.stdout + result.stderr


def test_every_step_ran_under_the_datasets_own_name(own_run):
    workdir, _, output = own_run
    assert job_counts(output) == {
        "check_dataset": 1,
        "split_dataset": 1,
        "preprocess_dataset": 1,
        "extract_ground_truth": 1,
        "train_model": 1,
        "predict_test_set": 1,
        "evaluate_predictions": 1,
        "render_figure4": 1,
        "render_training_curves": 1,
        "all": 1,
    }
    results = workdir / "results" / NAME
    assert "6 cases OK" in (results / "check.txt").read_text()
    assert not (workdir / "results/data").exists()  # real data: no synthetic stand-in
    preprocessed = json.loads((results / "preprocessed/dataset.json").read_text())
    assert preprocessed["channel_names"] == ["T2", "ADC"] and preprocessed["num_classes"] == 4
    assert preprocessed["regions"] == REGION  # training validates on the configured region
    for figure in (f"fig4_{NAME}.png", f"training_curves_{NAME}.png"):
        assert (workdir / "results/figures" / figure).read_bytes()[:4] == b"\x89PNG"


def test_metrics_match_medpy_on_the_written_predictions(own_run):
    workdir, raw, _ = own_run
    results = workdir / "results" / NAME
    test_cases = json.loads((results / "split.json").read_text())["test"]
    rows = list(csv.DictReader(open(results / "metrics/segresnet.csv", newline="")))
    assert list(rows[0]) == ["case", "dice_lesion_core", "dice_mean", "hd95_lesion_core", "hd95_mean"]
    assert sorted(row["case"] for row in rows) == sorted(test_cases)
    for row in rows:
        truth_image = nib.load(str(raw / "labelsTr" / f"{row['case']}.nii.gz"))
        truth = np.asarray(truth_image.dataobj)
        ground_truth = np.asarray(nib.load(str(results / "gt" / f"{row['case']}.nii.gz")).dataobj)
        assert np.array_equal(ground_truth, truth)
        prediction = np.asarray(nib.load(str(results / "predictions/segresnet" / f"{row['case']}.nii.gz")).dataobj)
        assert prediction.shape == truth.shape
        p, t = np.isin(prediction, REGION["lesion_core"]), np.isin(truth, REGION["lesion_core"])
        if p.any():  # the segmamba convention scores an empty prediction 0 / 50
            expected = dc(p, t), hd95(p, t, voxelspacing=truth_image.header.get_zooms()[:3])
        else:
            expected = 0.0, 50.0
        assert float(row["dice_lesion_core"]) == pytest.approx(expected[0], abs=1e-9)
        assert float(row["hd95_lesion_core"]) == pytest.approx(expected[1], abs=1e-9)
        assert (row["dice_mean"], row["hd95_mean"]) == (row["dice_lesion_core"], row["hd95_lesion_core"])

    summary = json.loads((results / "metrics/segresnet.summary.json").read_text())
    assert set(summary) >= {"metric_per_case", "mean", "foreground_mean"}
    assert list(summary["mean"]) == ["(2, 3)"] and summary["key_names"] == {"(2, 3)": "lesion_core"}
    by_case = {row["case"]: row for row in rows}
    for entry in summary["metric_per_case"]:
        case = entry["reference_file"].rsplit("/", 1)[-1].removesuffix(".nii.gz")
        assert entry["prediction_file"].endswith(f"predictions/segresnet/{case}.nii.gz")
        assert entry["metrics"]["(2, 3)"]["Dice"] == pytest.approx(float(by_case[case]["dice_lesion_core"]))
    dice = [float(row["dice_lesion_core"]) for row in rows]
    assert summary["foreground_mean"]["Dice"] == pytest.approx(np.mean(dice))
