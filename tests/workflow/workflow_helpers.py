"""Shared helpers of the workflow tests (no tests here; ``from workflow_helpers import ...`` in tests/workflow/):
an isolated workflow copy, Snakemake runs in it, job counts expected from a config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

#: What a workflow run needs from the repository (results/ and .snakemake/ stay behind).
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "envs", ".test")


def copy_workflow(destination: Path) -> Path:
    """Copy the workflow definition into ``destination`` (a fresh directory without results)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def run_snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``workdir`` with this interpreter's scripts (segmamba) on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """Parse the "Job stats" table of a Snakemake (dry) run into ``{rule: count}`` (without the total)."""
    match = re.search(r"Job stats:\njob\s+count\n[-\s]+\n(.*?)\ntotal\s+(\d+)", output, re.S)
    if match is None:
        return {}
    counts = {}
    for line in match.group(1).strip().splitlines():
        rule, count = line.split()
        counts[rule] = int(count)
    assert sum(counts.values()) == int(match.group(2))
    return counts


def load_config(path: Path) -> dict:
    """Read a YAML config file."""
    return yaml.safe_load(path.read_text())


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge as Snakemake applies ``--configfile`` / ``--config`` on top of ``configfile:``."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def expected_job_counts(config: dict) -> dict[str, int]:
    """Job counts per rule of a full run from scratch, computed from the config independently of the workflow."""
    scale = config["scales"][config["scale"]]
    active = [d for d, entry in config["datasets"].items() if entry["activate"]]
    ablation = config["ablation"]
    trained = {d: list(config["models"]) for d in active}
    if ablation["activate"]:
        models = trained.setdefault(ablation["dataset"], [])
        models += [m for m in ablation["models"] if m not in models]
    trainings = sum(len(models) for models in trained.values())
    synthetic = [d for d in trained if not config["datasets"][d].get("root")]
    counts = {
        "synth": len(synthetic),
        "check": len(trained),
        "split": len(trained),
        "preprocess": len(trained),
        "ground_truth": len(trained),
        "train": trainings,
        "predict": trainings,
        "evaluate": trainings,
        "report_figure4": len(trained),
        "report_training_curves": len(trained),
        "report_cost_table": len(trained),
        "report_table2": int(any(d in active for d in ("brats2023", "aiib2023"))),
        "report_table3": int("crc500" in active),
        "report_dataset_table": sum(d not in ("brats2023", "aiib2023", "crc500") for d in active),  # your own
        "report_table4": int(ablation["activate"]),
        "report_lesionwise_table": int("brats2023" in active),
        "report_rank_stability": len(trained),
        "report_rank_blobs": len(trained),
        "report_significance_map": len(trained),
        "all": 1,
    }
    if config["efficiency"]["activate"]:
        counts["efficiency"] = len(config["efficiency"]["models"]) * len(scale["efficiency"]["sizes"])
        counts["report_table5"] = 1
        counts["report_efficiency_chart"] = 1
    return {rule: count for rule, count in counts.items() if count}
