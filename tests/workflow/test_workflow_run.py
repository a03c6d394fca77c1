"""A tiny real run of the whole workflow (.test/config.yaml), then reruns, --forcerun and the report."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from workflow_helpers import REPO, copy_workflow, job_counts, load_config, merge, run_snakemake

pytestmark = pytest.mark.slow

TINY = ("--configfile", ".test/config.yaml")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Run the tiny configuration to completion once; the tests below inspect and rerun it."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny"))
    result = run_snakemake(workdir, "--cores", "2", *TINY, timeout=900)
    logs = "\n".join(
        f"--- {p}\n{p.read_text()[-1500:]}"
        for p in (workdir / "results/logs").rglob("*.log")
        if "rror" in p.read_text()
    )
    assert result.returncode == 0, result.stderr[-4000:] + logs
    return workdir


def tiny_config() -> dict:
    """config.yaml with .test/config.yaml merged on top, as the run sees it."""
    return merge(load_config(REPO / "config.yaml"), load_config(REPO / ".test/config.yaml"))


def test_tables_and_figures_exist_with_numbers(finished_run):
    for name in ("table2", "table3", "table4", "table5"):
        for ext in ("csv", "md", "tex"):
            assert (finished_run / f"results/tables/{name}.{ext}").stat().st_size > 0
    table2 = pd.read_csv(finished_run / "results/tables/table2.csv")
    ours = table2[(table2["method"] == "segmamba") & (table2["dataset"] == "brats2023")]
    assert len(ours) == 12  # Dice and HD95 of WT, TC, ET and their average, and the NSD of the same four
    assert all(0 <= v <= 100 for v in ours[ours["metric"].str.startswith(("dice", "nsd"))]["mean"])
    assert (ours["n"] == ours["n"].iloc[0]).all() and ours["n"].iloc[0] >= 1
    assert set(table2["status"]) <= {"ok", "missing", "collapsed", "background only"}
    for name in ("table2", "table3", "table4", "table5"):  # readable on a 120-character screen
        assert max(len(line) for line in (finished_run / f"results/tables/{name}.md").read_text().splitlines()) <= 120
    assert "SYNTHETIC" in (finished_run / "results/tables/table2.md").read_text()
    table5 = pd.read_csv(finished_run / "results/tables/table5.csv")
    tm = table5[(table5["method"] == "segmamba") & (table5["metric"] == "tm")]
    assert len(tm) == 1 and (tm["status"].iloc[0] == "OOM" or not math.isnan(tm["mean"].iloc[0]))
    length = table5[(table5["method"] == "segmamba") & (table5["column"] == "Sequence length")]["text"]
    assert list(length) == ["4,096"]  # stage 1 of a 32³ input: (32/2)³
    for summary in (finished_run / "results").glob("*/models/*/train_summary.json"):
        content = json.loads(summary.read_text())
        assert isinstance(content["collapsed"], bool) and "validations" in content["collapse_check"], summary
    for dataset in ("brats2023", "crc500"):
        for figure in (f"fig4_{dataset}.png", f"training_curves_{dataset}.png"):
            assert (finished_run / "results/figures" / figure).read_bytes()[:4] == b"\x89PNG"
    assert (finished_run / "results/figures/efficiency.png").exists()
    # logs and benchmarks where docs/outputs.md says
    assert (finished_run / "results/logs/train/crc500/segmamba.log").exists()
    assert (finished_run / "results/benchmarks/train/crc500/segmamba.tsv").exists()


def test_resume_checkpoint_is_kept_but_not_an_output(finished_run):
    run_dir = finished_run / "results/crc500/models/segmamba"
    assert (run_dir / "checkpoint_final.pt").exists() and (run_dir / "checkpoint_latest.pt").exists()


def test_second_run_has_nothing_to_do(finished_run):
    result = run_snakemake(finished_run, "-n", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {}


def test_forcerun_of_one_training_reruns_only_its_dependents(finished_run):
    config = tiny_config()
    assert "segmamba" in config["models"] and config["ablation"]["dataset"] == "crc500"
    target = "results/crc500/models/segmamba/checkpoint_final.pt"
    result = run_snakemake(finished_run, "-n", *TINY, "--forcerun", target)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {
        "train": 1,
        "predict": 1,
        "evaluate": 1,  # this (dataset, model) only
        "report_table3": 1,
        "report_table4": 1,  # the CRC-500 tables; not Table 2 (BraTS) or 5
        "report_figure4": 1,
        "report_training_curves": 1,
        "report_cost_table": 1,  # the CRC-500 cost table reads the new training summary
        "report_rank_stability": 1,
        "report_rank_blobs": 1,
        "report_significance_map": 1,
        "all": 1,  # the CRC-500 figures only
    }


def test_forcerun_of_a_rule_reruns_its_jobs_and_downstream_only(finished_run):
    config = tiny_config()
    evaluations = sum(len(config["models"]) for d, e in config["datasets"].items() if e["activate"])
    result = run_snakemake(finished_run, "-n", *TINY, "--forcerun", "evaluate")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == {
        "evaluate": evaluations,
        "report_table2": 1,
        "report_table3": 1,
        "report_table4": 1,
        "report_lesionwise_table": 1,
        "report_rank_stability": 2,  # BraTS2023 and CRC-500
        "report_rank_blobs": 2,
        "report_significance_map": 2,
        "all": 1,
    }


def test_report_contains_every_table_and_figure(finished_run):
    result = run_snakemake(finished_run, *TINY, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (finished_run / "results/report.html").read_text(errors="replace")
    for name in (
        "table2.csv",
        "table3.csv",
        "table4.csv",
        "table5.csv",
        "fig4_brats2023.png",
        "training_curves_crc500.png",
        "efficiency.png",
        "table2_lesionwise.csv",
        "rank_stability_crc500.csv",
        "rank_blobs_brats2023.png",
        "significance_crc500.png",
    ):
        assert name in html, name


def test_train_predict_and_efficiency_name_the_scan_backend_that_ran(finished_run):
    import json

    results = finished_run / "results"
    summaries = {
        m: json.loads((results / f"crc500/models/{m}/train_summary.json").read_text()) for m in ("segmamba", "uxnet")
    }
    assert summaries["segmamba"]["scan_backend"] == "numba"  # the numba kernels, the CPU default
    assert summaries["uxnet"]["scan_backend"] is None  # no Mamba layer
    assert "(scan backend: numba)" in (results / "logs/predict/crc500/segmamba.log").read_text()
    record = json.loads((results / "efficiency/segmamba_32.json").read_text())
    assert record["scan_backend"] == "numba" and record["sequence_length"] == 16**3 and record["variant"] is None
