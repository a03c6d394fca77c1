"""Dry runs of the workflow: the full paper-scale DAG, partial targets, resources, checkpoint handling, lint."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from workflow_helpers import (
    REPO,
    copy_workflow,
    expected_job_counts,
    job_counts,
    load_config,
    merge,
    run_snakemake,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An isolated copy of the workflow (no results), shared by the dry runs of this module."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.fixture(scope="module")
def paper_dry_run(workdir):
    """Dry run of the default target at paper scale (synthetic stand-ins, every dataset, ablation, efficiency)."""
    result = run_snakemake(workdir, "--dry-run", "--printshellcmds", "--config", "scale=paper")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_paper_scale_dag_has_every_rule_with_the_expected_job_counts(paper_dry_run):
    config = merge(load_config(REPO / "config.yaml"), {"scale": "paper"})
    expected = expected_job_counts(config)
    assert job_counts(paper_dry_run) == expected
    # the shipped config runs everything: 3 datasets x 8 models + 3 ablation-only variants
    assert expected["train"] == 27 and expected["efficiency"] == 4


def test_paper_scale_jobs_request_gpus_and_growing_runtime(paper_dry_run):
    paper = load_config(REPO / "config.yaml")["scales"]["paper"]
    train = paper["resources"]["train"]
    train_jobs = [block for block in paper_dry_run.split("\n\n") if "rule train:" in block]
    assert train_jobs
    for block in train_jobs:
        assert f"gpu={train['gpus']}" in block and f"cpus_per_gpu={train['cpus_per_gpu']}" in block
        assert f"mem_mb={train['mem_mb']}" in block and f"runtime={train['runtime']}" in block
        settings = json.loads(re.search(r"--settings '(\{[^']*\})'", block).group(1))
        assert settings == paper["train"]  # the scale's whole train block, as one argument
    assert "checkpoint_final.pt" in paper_dry_run
    assert "checkpoint_latest" not in paper_dry_run  # the resume state is never an output Snakemake deletes


def test_several_gpus_launch_ddp(workdir, tmp_path):
    override = {"scales": {"paper": {"resources": {"train": {"gpus": 4}}}}}
    (tmp_path / "multi.yaml").write_text(yaml.safe_dump(override))
    result = run_snakemake(
        workdir,
        "results/crc500/models/segmamba/checkpoint_final.pt",
        "-n",
        "-p",
        "--configfile",
        str(tmp_path / "multi.yaml"),
        "--config",
        "scale=paper",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--nproc 4" in result.stdout and "gpu=4" in result.stdout


def runtimes_by_rule(output: str) -> dict[str, set[int]]:
    """{rule: the runtimes (minutes) its jobs ask for} from a dry run's job blocks."""
    runtimes: dict[str, set[int]] = {}
    for rule, runtime in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: .*?\bruntime=(\d+)", output, re.M):
        runtimes.setdefault(rule, set()).add(int(runtime))
    return runtimes


@pytest.mark.parametrize(("max_runtime", "attempt"), [(None, 2), (7000, 1), (7000, 2), (7000, 3)])
def test_runtime_grows_with_the_attempt_up_to_max_runtime(workdir, tmp_path, max_runtime, attempt):
    paper = load_config(REPO / "config.yaml")["scales"]["paper"]["resources"]
    override = {"scales": {"paper": {"resources": {"max_runtime": max_runtime}}}}
    (tmp_path / "cap.yaml").write_text(yaml.safe_dump(override))
    # --attempt sets the attempt number that a retry (or SLURM's resubmission) would run with
    target = "results/crc500/models/segmamba/checkpoint_final.pt"
    options = ["--configfile", str(tmp_path / "cap.yaml"), "--config", "scale=paper", "--attempt", str(attempt)]
    result = run_snakemake(workdir, target, "-n", *options)
    assert result.returncode == 0, result.stderr[-3000:]

    def expected(kind):
        minutes = paper[kind]["runtime"] * attempt
        return minutes if max_runtime is None else min(minutes, max_runtime)

    runtimes = runtimes_by_rule(result.stdout)
    cpu_rules = {"synth", "check", "split", "preprocess"}
    assert runtimes.keys() == cpu_rules | {"train"}
    assert runtimes["train"] == {expected("train")}
    for rule in cpu_rules:
        assert runtimes[rule] == {expected("cpu")}, rule


def test_shipped_paper_scale_caps_retries_at_max_runtime():
    resources = load_config(REPO / "config.yaml")["scales"]["paper"]["resources"]
    assert resources["max_runtime"] <= 4 * 24 * 60  # no retry asks for more than 4 days
    first_attempts = [kind["runtime"] for name, kind in resources.items() if name != "max_runtime"]
    assert resources["max_runtime"] >= max(first_attempts)  # the cap only shortens retries


def test_real_dataset_roots_skip_synthesis(workdir, tmp_path):
    roots = {}
    for dataset in ("brats2023", "crc500"):
        (tmp_path / dataset).mkdir()
        roots[dataset] = {"root": str(tmp_path / dataset)}
    (tmp_path / "roots.yaml").write_text(yaml.safe_dump({"datasets": roots}))
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "roots.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    config = merge(load_config(REPO / "config.yaml"), {"datasets": roots})
    counts = job_counts(result.stdout)
    assert counts == expected_job_counts(config)
    assert counts["synth"] == 1  # only AIIB2023 still runs on a stand-in


@pytest.mark.parametrize(
    ("target", "present", "absent"),
    [
        ("preprocess_only", {"preprocess", "ground_truth"}, {"train", "report_table2"}),
        ("train_only", {"train", "preprocess"}, {"predict", "efficiency"}),
        ("efficiency_only", {"efficiency", "report_table5", "report_efficiency_chart"}, {"train"}),
        ("ablation", {"report_table4", "train"}, {"report_table2", "efficiency"}),
        ("tables", {"report_table2", "report_table3", "report_table4", "report_table5"}, {"report_figure4"}),
        ("figures", {"report_figure4", "report_training_curves", "report_efficiency_chart"}, {"report_table2"}),
    ],
)
def test_partial_targets(workdir, target, present, absent):
    result = run_snakemake(workdir, "-n", target)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(job_counts(result.stdout))
    assert present <= rules and not (absent & rules), rules


def test_ablation_variants_only_train_on_the_ablation_dataset(workdir):
    result = run_snakemake(workdir, "-n", "ablation")
    assert result.returncode == 0, result.stderr[-3000:]
    trained = set(re.findall(r"results/(\w+)/models/(\w+)/checkpoint_final\.pt", result.stdout))
    assert {model for _, model in trained} == {"uxnet", "segmamba_m1", "segmamba_m2", "segmamba_m3", "segmamba"}
    assert {dataset for dataset, _ in trained} == {"crc500"}


def test_lint_passes(workdir):
    result = run_snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Congratulations" in result.stdout + result.stderr


def test_m6_is_measured_with_explicit_attention_and_the_switch_adds_a_fused_attention_row(workdir, tmp_path):
    (tmp_path / "fused.yaml").write_text(yaml.safe_dump({"efficiency": {"fused_attention_row": True}}))
    result = run_snakemake(workdir, "efficiency_only", "-n", "-p", "--config", "scale=paper", "--configfiles",
                           "config.yaml", str(tmp_path / "fused.yaml"))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    commands = [line for line in output.splitlines() if "segmamba efficiency --model" in line]
    m6 = [c for c in commands if "--model segmamba_m6 " in c]
    assert len(m6) == 2 and len(commands) == 5  # four models, plus M6's fused-attention row
    explicit, fused = sorted(m6, key=lambda c: "fused" in c)
    assert '\'{"attention_kernel":"math"}\'' in explicit and "--variant" not in explicit
    assert "segmamba_m6_fused-attention_128.json" in fused and "--variant 'fused attention'" in fused
    assert '\'{"attention_kernel":"auto"}\'' in fused
    assert not any("attention_kernel" in c for c in commands if "segmamba_m6" not in c)
