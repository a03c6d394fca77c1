"""A tiny real training and prediction through the command line record their cost; the cost table reads them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segmamba.cost.predict import PREDICTION_LOG
from segmamba.models.flops import forward_flops
from segmamba.report.build import write_artefact
from segmamba.report.paper import method_label

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}
GPU_FIELDS = ("gpu_name", "gpus", "gpu_hours", "peak_memory_allocated_mb", "peak_memory_reserved_mb", "energy_kwh")


def segmamba_cli(*args: str) -> None:
    """Run ``segmamba <args>`` in a child process with one torch thread; fail the test with its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-m", "segmamba", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """segresnet trained for 2 iterations on three synthetic 16³ BraTS cases, then one test case predicted."""
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset

    root = tmp_path_factory.mktemp("cost")
    ids = write_synthetic_dataset("brats", root / "raw", cases=3, size=16, seed=0)
    split = write_split(root / "split.json", ids)
    preprocess_dataset("brats2023", root / "raw", root / "split.json", root / "pre")
    split.update(train=ids[:1], val=[ids[1]], test=[ids[2]])
    (root / "split.json").write_text(json.dumps(split))
    run, predictions = root / "run", root / "predictions"
    segmamba_cli(
        "train", "--preprocessed", str(root / "pre"), "--split", str(root / "split.json"), "--model", "segresnet",
        "--out", str(run), "--epochs", "1", "--iters-per-epoch", "2", "--patch-size", "16", "16", "16",
        "--batch-size", "1", "--num-workers", "0", "--device", "cpu", "--model-overrides", json.dumps(TINY_SEGRESNET),
    )  # fmt: skip
    segmamba_cli(
        "predict", "--checkpoint", str(run / "checkpoint_final.pt"), "--preprocessed", str(root / "pre"),
        "--split", str(root / "split.json"), "--out", str(predictions), "--device", "cpu", "--no-tta",
    )  # fmt: skip
    return root, run, predictions, ids[2]


@pytest.mark.slow
def test_train_summary_records_the_cost_with_gpu_fields_none_on_cpu(tiny_run):
    _, run, _, _ = tiny_run
    summary = json.loads((run / "train_summary.json").read_text())
    cost = summary["cost"]
    assert cost["parameters"] == summary["parameters"] > 0
    spec = {"name": "segresnet", "in_channels": 4, "out_channels": 4, "patch_size": [16] * 3, "overrides": {}}
    assert cost["forward_flops"] == forward_flops({**spec, "overrides": TINY_SEGRESNET}) > 0
    assert cost["forward_gflops"] == cost["forward_flops"] / 1e9
    assert cost["flops_input_shape"] == [1, 4, 16, 16, 16]
    assert cost["train_time_s"] == summary["train_time_s"] > 0 and cost["device"] == "cpu"
    assert cost["segments"] == 1
    assert all(cost[field] is None for field in GPU_FIELDS), {field: cost[field] for field in GPU_FIELDS}


@pytest.mark.slow
def test_prediction_log_has_seconds_per_case_and_no_gpu_readings_on_cpu(tiny_run):
    _, _, predictions, test_case = tiny_run
    log = json.loads((predictions / PREDICTION_LOG).read_text())
    assert list(log["cases"]) == [test_case]
    record = log["cases"][test_case]
    assert record["seconds"] > 0 and record["device"] == "cpu"
    assert record["peak_memory_allocated_mb"] is record["peak_memory_reserved_mb"] is record["energy_kwh"] is None


@pytest.mark.slow
def test_cost_table_of_the_tiny_run_says_not_measured_for_gpu_fields(tiny_run, tmp_path):
    root, run, predictions, _ = tiny_run
    summary = json.loads((run / "train_summary.json").read_text())
    runs = {"segresnet": {"train_summary": str(run / "train_summary.json"), "predictions": str(predictions)}}
    write_artefact("cost_table", {"dataset": "brats2023", "runs": runs}, tmp_path / "cost_brats2023.csv")
    rows = [line for line in (tmp_path / "cost_brats2023.md").read_text().splitlines() if line.startswith("| ")]
    headers = [row for row in rows if row.startswith("| Model |")]
    ours = [row for row in rows if row.startswith(f"| {method_label('segresnet')} |")]
    cells = {}
    for header, row in zip(headers, ours, strict=True):  # one row per section
        cells.update(zip(header.strip("| ").split(" | "), row.strip("| ").split(" | "), strict=True))
    assert len(cells) == 16 and cells["Params (M)"] == f"{summary['parameters'] / 1e6:.2f}"
    assert cells["FLOPs input"] == "1×4×16×16×16" and cells["Train device"] == "cpu" and cells["Test cases"] == "1"
    gpu_columns = [name for name in cells if "peak" in name or "energy" in name or name in ("GPUs", "GPU-hours")]
    assert len(gpu_columns) == 8 and all(cells[name] == "—" for name in gpu_columns)
    assert not any(cell in ("0", "0.0", "0.00") for cell in cells.values())
    import pandas as pd

    row = pd.read_csv(tmp_path / "cost_brats2023.csv", na_values="—").iloc[0]
    assert math.isnan(row["GPU-hours"]) and row["Train time (h)"] == pytest.approx(
        summary["train_time_s"] / 3600, rel=1e-5
    )  # CSV: 6 digits


@pytest.mark.slow
def test_a_resumed_run_adds_a_segment_and_keeps_the_time_of_its_checkpoint(tiny_run, tmp_path):
    import shutil

    from segmamba.models.checkpoint import read_checkpoint
    from segmamba.train.settings import build_settings
    from segmamba.train.trainer import run_training

    root, run, _, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    saved = read_checkpoint(copy / "checkpoint_latest.pt")
    assert saved["state"]["cost"]["segments"] == 1 and saved["state"]["cost"]["energy_kwh"] is None
    settings = {**saved["config"], "out": str(copy)}
    assert run_training(build_settings({}, settings)) == 0  # finished already: a segment without iterations
    before = json.loads((run / "train_summary.json").read_text())["cost"]
    after = json.loads((copy / "train_summary.json").read_text())["cost"]
    assert after["segments"] == 2 and after["train_time_s"] == before["train_time_s"]
    assert after["forward_flops"] == before["forward_flops"] and after["gpu_hours"] is None
