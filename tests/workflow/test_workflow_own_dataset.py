"""The workflow on a dataset of your own: a tiny hand-made nnU-Net raw dataset under a name of its own.

Two channels, three foreground labels and one configured region go through check, split, preprocess, a
very short training of two cheap models, predict, evaluate, the dataset's own table, the ablation table
pointed at it, the figures and the report; the metrics CSV, the nnU-Net style summary and the table are
checked against medpy (on the written predictions and the hand-made labels), numpy and scipy. The efficiency
measurements pointed at it are checked in a dry run (a measurement costs more than the rest of the run).
"""

from __future__ import annotations

import csv
import json
import math
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from medpy.metric.binary import dc, hd95
from scipy.stats import wilcoxon
from workflow_helpers import copy_workflow, job_counts, run_snakemake

from segmamba.report import build

pytestmark = pytest.mark.slow

NAME = "tiny_lesions"
SPACING = (0.8, 0.9, 1.5)
LABELS = {"background": 0, "Edema": 1, "Necrosis": 2, "Enhancing": 3}
REGION = {"lesion_core": [2, 3]}
MODELS = ["segresnet", "segmamba"]
CASES = 8  # split 5 / 0 / 3: three test cases


def write_tiny_nnunet_dataset(root, cases: int = CASES, size: int = 20) -> None:
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
    """Only the own dataset, two narrow models, a few iterations on 32³ patches (SegMamba's smallest); the
    ablation of the same two models (no extra training) pointed at it."""
    return {
        "datasets": {
            "brats2023": {"activate": False},
            "aiib2023": {"activate": False},
            "crc500": {"activate": False},
            NAME: {"activate": True, "format": "nnunet", "root": str(root), "regions": REGION},
        },
        "models": MODELS,
        "ablation": {"activate": True, "dataset": NAME, "models": MODELS},
        "efficiency": {"activate": False},
        "scales": {
            "demo": {
                "train": {
                    "epochs": 2,
                    "iters_per_epoch": 3,
                    "patch_size": [32, 32, 32],
                    "batch_size": 1,
                    "val_every": 1,
                    "max_val_cases": 1,
                },
                "predict": {"tta": False, "overlap": 0.25, "sw_batch_size": 2},
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
        "check": 1,
        "split": 1,
        "preprocess": 1,
        "ground_truth": 1,
        "train": 2,
        "predict": 2,
        "evaluate": 2,
        "report_dataset_table": 1,
        "report_table4": 1,
        "report_figure4": 1,
        "report_training_curves": 1,
        "report_cost_table": 1,
        "report_rank_stability": 1,
        "report_rank_blobs": 1,
        "report_significance_map": 1,
        "all": 1,
    }
    results = workdir / "results" / NAME
    assert (results / "check.txt").read_text().startswith(f"{NAME}: {CASES} cases OK;")  # under its own name
    assert not (workdir / "results/tables/table2.csv").exists()  # the paper's tables do not include it
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
    paper_columns = ["case", "dice_lesion_core", "dice_mean", "hd95_lesion_core", "hd95_mean"]
    assert list(rows[0]) == [*paper_columns, "nsd_lesion_core", "nsd_mean"]
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
    assert summary["dataset"] == NAME


def medpy_scores(workdir, raw, model) -> dict[str, np.ndarray]:
    """Per-test-case Dice (%) and HD95 (mm) of the region, computed here with medpy from the written files."""
    results = workdir / "results" / NAME
    dice, distance = [], []
    for case in sorted(json.loads((results / "split.json").read_text())["test"]):
        truth_image = nib.load(str(raw / "labelsTr" / f"{case}.nii.gz"))
        truth = np.isin(np.asarray(truth_image.dataobj), REGION["lesion_core"])
        prediction_path = results / "predictions" / model / f"{case}.nii.gz"
        prediction = np.isin(np.asarray(nib.load(str(prediction_path)).dataobj), REGION["lesion_core"])
        if prediction.any():
            dice.append(100 * dc(prediction, truth))
            distance.append(hd95(prediction, truth, voxelspacing=truth_image.header.get_zooms()[:3]))
        else:  # the segmamba convention
            dice.append(0.0)
            distance.append(50.0)
    return {"dice": np.array(dice), "hd95": np.array(distance)}


def expected_p_value(values: np.ndarray, reference: np.ndarray) -> float:
    """scipy's two-sided Wilcoxon signed-rank p-value (NaN when every difference is zero)."""
    return math.nan if np.all(values == reference) else float(wilcoxon(values, reference).pvalue)


def table2_columns(tmp_path) -> list[str]:
    """The columns of a Table 2 CSV (from hand-made BraTS metrics)."""
    columns = {f"{m}_{r}": [0.5, 0.7] for m in ("dice", "hd95") for r in ("wt", "tc", "et")}
    path = tmp_path / "brats_segmamba.csv"
    pd.DataFrame({"case": ["a", "b"], **columns}).to_csv(path, index=False)
    build.make_paper_table("table2", {"brats2023": {"segmamba": str(path)}}, {"brats2023": False}, str(tmp_path / "t2"))
    return list(pd.read_csv(tmp_path / "t2.csv").columns)


def test_own_table_matches_medpy_numpy_and_scipy(own_run, tmp_path):
    workdir, raw, _ = own_run
    tables = workdir / "results/tables"
    tidy = pd.read_csv(tables / f"{NAME}.csv")
    assert list(tidy.columns) == table2_columns(tmp_path)
    assert set(tidy["table"]) == {NAME} and set(tidy["dataset"]) == {NAME} and set(tidy["status"]) == {"ok"}
    assert list(dict.fromkeys(tidy["method"])) == MODELS and tidy["paper"].isna().all()
    assert list(dict.fromkeys(tidy["metric"])) == [
        *("dice_lesion_core", "hd95_lesion_core", "dice_mean", "hd95_mean"),
        *("nsd_lesion_core", "nsd_mean"),  # the NSD group after the paper's Dice and HD95
    ]
    scores = {model: medpy_scores(workdir, raw, model) for model in MODELS}
    markdown = (tables / f"{NAME}.md").read_text()
    for model in MODELS:
        for metric in ("dice", "hd95"):
            values = scores[model][metric]
            for suffix in ("lesion_core", "mean"):  # one region: its mean over regions is itself
                (row,) = tidy[(tidy["method"] == model) & (tidy["metric"] == f"{metric}_{suffix}")].to_dict("records")
                assert row["n"] == len(values) == 3
                assert row["mean"] == pytest.approx(values.mean(), rel=1e-5, abs=1e-6)
                assert row["std"] == pytest.approx(values.std(ddof=1), rel=1e-5, abs=1e-6)
                if model == "segmamba":
                    assert math.isnan(row["p_value"])
                else:
                    expected = expected_p_value(values, scores["segmamba"][metric])
                    assert row["p_value"] == pytest.approx(expected, rel=1e-5, nan_ok=True)
    dice = scores["segresnet"]["dice"]
    segresnet_row = next(line for line in markdown.splitlines() if line.startswith("| SegresNet"))
    assert f"{dice.mean():.2f} ± {dice.std(ddof=1):.2f}" in segresnet_row
    assert markdown.startswith(f"# {NAME}: Dice (%), HD95 (mm), NSD (%), compared methods")
    assert max(len(line) for line in markdown.splitlines()) <= 120
    notes = " ".join(markdown.split())
    assert f"Dataset {NAME} (nnU-Net dataset; channels T2, ADC; regions lesion_core = labels [2, 3])" in notes
    assert "SYNTHETIC" not in notes and "↳ paper" not in markdown
    assert (tables / f"{NAME}.tex").read_text().startswith(r"\begin{table}")


def test_ablation_pointed_at_the_own_dataset(own_run):
    workdir, _, _ = own_run
    table4 = pd.read_csv(workdir / "results/tables/table4.csv")
    assert set(table4["dataset"]) == {NAME} and table4["paper"].isna().all()
    measured = table4[table4["status"] != "text"]
    own = pd.read_csv(workdir / f"results/tables/{NAME}.csv")
    for model in MODELS:  # the same trainings as the dataset's table, so the same numbers
        ours = measured[measured["method"] == model].set_index("metric")["mean"]
        assert ours.to_dict() == pytest.approx(own[own["method"] == model].set_index("metric")["mean"].to_dict())


def test_efficiency_pointed_at_the_own_dataset_takes_its_channels_and_classes(own_run):
    workdir, _, _ = own_run
    efficiency = {"efficiency": {"activate": True, "dataset": NAME, "models": ["segresnet"]}}
    (workdir.parent / "efficiency.yaml").write_text(yaml.safe_dump(efficiency))
    configs = [str(workdir.parent / name) for name in ("own.yaml", "efficiency.yaml")]
    result = run_snakemake(workdir, "-n", "-p", "efficiency_only", "--configfile", *configs)
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if line.startswith("Shell command: segmamba efficiency")]
    assert commands and all("--in-channels 2 --out-channels 4" in line for line in commands)  # T2 + ADC; 3 labels


def test_report_puts_the_own_table_and_figures_under_the_datasets_name(own_run):
    workdir, _, _ = own_run
    result = run_snakemake(workdir, "--configfile", str(workdir.parent / "own.yaml"), "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "report.html").read_text(errors="replace")
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", html).group(1))
    assert categories[NAME] == {
        "Table": [f"results/tables/{NAME}.csv"],
        "Fig. 4": [f"results/figures/fig4_{NAME}.png"],
        "Training curves": [f"results/figures/training_curves_{NAME}.png"],
        "Rank stability": [f"results/figures/rank_blobs_{NAME}.png", f"results/tables/rank_stability_{NAME}.csv"],
        "Significance map": [f"results/figures/significance_{NAME}.png"],
    }
    assert categories["Ablation"] == {NAME: ["results/tables/table4.csv"]}
