"""The cost table of a dataset from two training summaries and prediction logs (one CPU run, one GPU run)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from segmamba.cost.predict import LOG_FORMAT, PREDICTION_LOG
from segmamba.errors import InputError
from segmamba.report.build import write_artefact
from segmamba.report.paper import method_label

CPU_COST = {
    "parameters": 1_234_567,
    "forward_flops": 2_500_000_000,
    "forward_gflops": 2.5,
    "flops_input_shape": [1, 4, 32, 32, 32],
    "train_time_s": 90.0,
    "device": "cpu",
    "gpu_name": None,
    "gpus": None,
    "gpu_hours": None,
    "segments": 1,
    "peak_memory_allocated_mb": None,
    "peak_memory_reserved_mb": None,
    "energy_kwh": None,
}
GPU_COST = {
    **CPU_COST,
    "parameters": 67_416_196,
    "forward_gflops": 2960.4,
    "flops_input_shape": [1, 4, 128, 128, 128],
    "train_time_s": 36_000.0,
    "device": "cuda:0",
    "gpu_name": "NVIDIA H100",
    "gpus": 2,
    "gpu_hours": 20.0,
    "peak_memory_allocated_mb": 20_480.4,
    "peak_memory_reserved_mb": 24_000.0,
    "energy_kwh": 7.25,
}


def write_run(folder, cost, cases):
    """A run folder with train_summary.json and a prediction folder with prediction_log.json."""
    (folder / "predictions").mkdir(parents=True)
    (folder / "train_summary.json").write_text(
        json.dumps({"model": "x", "parameters": cost["parameters"], "cost": cost})
    )
    log = {"format": LOG_FORMAT, "cases": cases}
    (folder / "predictions" / PREDICTION_LOG).write_text(json.dumps(log))
    return {"train_summary": str(folder / "train_summary.json"), "predictions": str(folder / "predictions")}


def gpu_case(seconds, allocated, energy):
    return {"seconds": seconds, "peak_memory_allocated_mb": allocated, "peak_memory_reserved_mb": 30000.0,
            "energy_kwh": energy}  # fmt: skip


def cpu_case(seconds):
    return {"seconds": seconds, "peak_memory_allocated_mb": None, "peak_memory_reserved_mb": None, "energy_kwh": None}


def markdown_cells(path) -> dict[str, dict[str, str]]:
    """{model: {column: cell}} over the Markdown file's sections (each starts with its heading row)."""
    cells: dict[str, dict[str, str]] = {}
    header = None
    for line in path.read_text().splitlines():
        if not line.startswith("|") or line.startswith("|:"):
            header = None if not line.startswith("|") else header
            continue
        row = [cell.strip() for cell in line.strip("|").split("|")]
        if header is None:
            header = row
        else:
            cells.setdefault(row[0], {}).update(zip(header, row, strict=True))
    return cells


def test_cost_table_of_a_cpu_and_a_gpu_run(tmp_path):
    runs = {
        "segresnet": write_run(tmp_path / "a", CPU_COST, {"c1": cpu_case(2.0), "c2": cpu_case(4.0)}),
        "segmamba": write_run(
            tmp_path / "b", GPU_COST, {"c1": gpu_case(10.0, 900.0, 0.001), "c2": gpu_case(20.0, 1200.0, 0.002)}
        ),
    }
    write_artefact("cost_table", {"dataset": "brats2023", "runs": runs}, tmp_path / "cost_brats2023.csv")
    markdown = (tmp_path / "cost_brats2023.md").read_text()
    assert max(len(line) for line in markdown.splitlines()) <= 120
    cells = markdown_cells(tmp_path / "cost_brats2023.md")
    cpu, gpu = cells[method_label("segresnet")], cells[method_label("segmamba")]
    assert cpu == {
        "Model": method_label("segresnet"),
        "Params (M)": "1.23",
        "Fwd GFLOPs": "2.5",
        "FLOPs input": "1×4×32×32×32",
        "Train device": "cpu",
        "GPUs": "—",
        "Train time (h)": "0.025",  # 90 s
        "GPU-hours": "—",
        "Train peak alloc (MB)": "—",
        "Train peak reserved (MB)": "—",
        "Train energy (kWh)": "—",
        "Test cases": "2",
        "Test s/case": "3",
        "Test peak alloc (MB)": "—",
        "Test peak reserved (MB)": "—",
        "Test energy (kWh)": "—",
    }
    assert gpu == {
        "Model": method_label("segmamba"),
        "Params (M)": "67.42",
        "Fwd GFLOPs": "2960",
        "FLOPs input": "1×4×128×128×128",
        "Train device": "NVIDIA H100",
        "GPUs": "2",
        "Train time (h)": "10",
        "GPU-hours": "20",
        "Train peak alloc (MB)": "20480",
        "Train peak reserved (MB)": "24000",
        "Train energy (kWh)": "7.25",
        "Test cases": "2",
        "Test s/case": "15",
        "Test peak alloc (MB)": "1200",
        "Test peak reserved (MB)": "30000",
        "Test energy (kWh)": "0.003",
    }
    frame = pd.read_csv(tmp_path / "cost_brats2023.csv", na_values="—").set_index("Model")
    assert frame.loc[method_label("segmamba"), "GPU-hours"] == 20.0
    assert frame.loc[method_label("segresnet"), "Train time (h)"] == pytest.approx(0.025)
    assert frame.loc[method_label("segresnet")].isna().sum() == 8
    tex = (tmp_path / "cost_brats2023.tex").read_text()
    assert "NVIDIA H100" in tex and "---" in tex and r"\begin{tabular}" in tex


def test_missing_energy_of_one_case_leaves_the_inference_energy_unknown_and_no_log_is_dashes(tmp_path):
    runs = {
        "segmamba": write_run(tmp_path / "a", GPU_COST, {"c1": gpu_case(1.0, 5.0, 0.5), "c2": gpu_case(1, 5, None)}),
        "uxnet": {**write_run(tmp_path / "b", GPU_COST, {}), "predictions": str(tmp_path / "nowhere")},
    }
    write_artefact("cost_table", {"dataset": "brats2023", "runs": runs}, tmp_path / "cost.csv")
    cells = markdown_cells(tmp_path / "cost.md")
    assert cells[method_label("segmamba")]["Test energy (kWh)"] == "—"
    no_log = cells[method_label("uxnet")]
    assert no_log["Test cases"] == no_log["Test s/case"] == "—" and no_log["GPUs"] == "2"


def test_a_missing_summary_or_a_foreign_log_is_one_clear_error(tmp_path):
    runs = {"segmamba": {"train_summary": str(tmp_path / "missing.json"), "predictions": str(tmp_path)}}
    with pytest.raises(InputError, match="segmamba.*missing.json"):
        write_artefact("cost_table", {"dataset": "brats2023", "runs": runs}, tmp_path / "cost.csv")
    runs = {"segmamba": write_run(tmp_path / "c", GPU_COST, {})}
    (tmp_path / "c" / "predictions" / PREDICTION_LOG).write_text('{"cases": []}')
    with pytest.raises(InputError, match=f"segmamba.*{PREDICTION_LOG}"):
        write_artefact("cost_table", {"dataset": "brats2023", "runs": runs}, tmp_path / "cost.csv")
