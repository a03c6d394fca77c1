"""The workflow on a real SLURM cluster: `snakemake --profile slurm`, resource requests, preemption and resume.

A one-node cluster is brought up on localhost with ``../shared/tools/local-slurm.sh`` (relative to the
repository root; root and Debian's slurm-wlm needed, which the script installs with apt) with fake GPUs, so
the GPU rules are scheduled while the code itself runs on the CPU. The cluster is brought down again at the
end unless it was already running. Every Snakemake run is wrapped in ``timeout -s KILL`` (a Snakemake whose
status queries fail waits forever and ignores SIGTERM).

The runs use a temporary copy of the workflow with the real ``slurm/`` profile, so ``--profile slurm``
resolves exactly as from the repository root; only polling intervals, latency wait and retries are overridden
on the command line to keep the test short.
"""

from __future__ import annotations

import csv
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from segmamba.training.checkpoint import load_model

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
LOCAL_SLURM = REPO.parent / "shared" / "tools" / "local-slurm.sh"
SLURM_PACKAGES = ("munge", "slurm-client", "slurmctld", "slurmd", "slurmdbd", "mariadb-server")
CLUSTER_LOCK = Path("/tmp/segmamba-bench-local-slurm.lock")
FAKE_GPUS = 2
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "envs", "slurm")
GPU_RULES = {"train_model": "train", "predict_test_set": "predict", "benchmark_efficiency": "efficiency"}
# Fast polling for the test only; the profile's production values stay as they are.
TEST_OVERRIDES = (
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
    "--max-status-checks-per-second",
    "10",
    "--latency-wait",
    "5",
)
WORKFLOW_TIMEOUT_S = 900
# The smallest configuration that still builds tables: synthetic BraTS, SegMamba only, one training
# iteration, and one efficiency measurement.
TINY_CONFIG = {
    "datasets": {
        "brats2023": {"activate": True, "root": None},
        "aiib2023": {"activate": False, "root": None},
        "crc500": {"activate": False, "root": None},
    },
    "models": ["segmamba"],
    "ablation": {"activate": False},
    "efficiency": {"activate": True, "models": ["segmamba"]},
    "scales": {
        "demo": {
            "synthetic": {"cases": 8, "size": 32, "seed": 0},
            "train": {
                "epochs": 1,
                "iters_per_epoch": 1,
                "patch_size": [32, 32, 32],
                "batch_size": 1,
                "val_every": 1,
                "max_val_cases": 1,
                "num_workers": 0,
            },
            "efficiency": {"sizes": [32], "repeats": 1},
        }
    },
}
# The preempted training: stopped in its second epoch, as soon as the first one is checkpointed.
PREEMPT_CONFIG = {"scales": {"demo": {"train": {"epochs": 4, "iters_per_epoch": 2, "val_every": 4}}}}


def packages_installed() -> bool:
    """True when every Debian package of the local cluster is installed."""
    for package in SLURM_PACKAGES:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in status.stdout:
            return False
    return True


def cluster_running() -> bool:
    """True when slurmctld answers (a cluster brought up before this test)."""
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    return ping.returncode == 0 and "UP" in ping.stdout


def local_slurm(command: str) -> subprocess.CompletedProcess:
    """Run ``local-slurm.sh COMMAND`` with the fake GPUs of this test."""
    env = dict(os.environ, SLURM_FAKE_GPUS=str(FAKE_GPUS))
    return subprocess.run(["bash", str(LOCAL_SLURM), command], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running local SLURM cluster with fake GPUs; skipped only without root or installable packages."""
    if os.geteuid() != 0:
        pytest.skip("needs root: local-slurm.sh installs slurm-wlm with apt and starts the SLURM daemons")
    if not LOCAL_SLURM.is_file():
        pytest.skip(f"local-slurm.sh not found at {LOCAL_SLURM} (expected in ../shared/tools/ of the checkout)")
    if shutil.which("apt-get") is None and not packages_installed():
        pytest.skip("slurm-wlm is not installed and apt-get is unavailable")
    with CLUSTER_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one SLURM test session at a time on this machine
        was_running = cluster_running()
        had_packages = packages_installed()
        result = local_slurm("up")
        if result.returncode != 0:
            if not had_packages and not packages_installed():
                pytest.skip(f"could not install slurm-wlm with apt: {result.stderr.strip()[-500:]}")
            pytest.fail(f"local-slurm.sh up failed:\n{result.stderr[-3000:]}")
        started = time.time()
        try:
            yield
        finally:
            cancel_jobs(started, tmp_path_factory.getbasetemp())
            if not was_running:
                local_slurm("down")


def cancel_jobs(started: float, folder: Path) -> None:
    """Cancel the jobs run from ``folder`` that are still pending or running (after a failure)."""
    jobs = sacct_jobs(started, folder)
    active = [job["JobID"] for job in jobs if job["State"] in ("PENDING", "RUNNING", "REQUEUED")]
    if active:
        subprocess.run(["scancel", *active], capture_output=True)


def sacct_jobs(since: float, folder: Path) -> list[dict[str, str]]:
    """Accounting records (one per job, without steps) since the epoch time ``since`` of jobs run in ``folder``
    or below it."""
    fields = ["JobID", "State", "ExitCode", "ReqMem", "Timelimit", "AllocCPUS", "SubmitLine"]
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 1))
    result = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", start, "-o", ",".join(fields)], capture_output=True, text=True, check=True
    )
    # SubmitLine is last and may contain '|' inside the wrapped command: split at most len(fields) - 1 times
    jobs = [
        dict(zip(fields, line.split("|", len(fields) - 1), strict=True))
        for line in result.stdout.splitlines()
        if line.strip()
    ]
    return [job for job in jobs if folder in (job_folder(job), *job_folder(job).parents)]


def job_folder(job: dict[str, str]) -> Path:
    """The working directory a job was submitted with (sbatch -D), or "/" for jobs without one."""
    match = re.search(r" -D '?([^' ]+)'? ", job["SubmitLine"])
    return Path(match.group(1)) if match else Path("/")


def rule_of(job: dict[str, str]) -> str:
    """The Snakemake rule of a SLURM job (the plugin submits with --comment rule_<name>[_wildcards_...])."""
    match = re.search(r"--comment '?rule_(.+?)(?:_wildcards_\S*)?'? ", job["SubmitLine"])
    assert match, f"no rule comment in the sbatch line of job {job['JobID']}: {job['SubmitLine'][:300]}"
    return match.group(1)


def sbatch_options(job: dict[str, str]) -> str:
    """The sbatch options of a job's submit line (without the wrapped Snakemake command)."""
    return job["SubmitLine"].split("--wrap", 1)[0]


def write_yaml(path: Path, data: dict) -> Path:
    """Write ``data`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def snakemake_env() -> dict[str, str]:
    """Environment of the Snakemake runs: this interpreter's scripts (segmamba) first on PATH, USER set."""
    env = dict(os.environ, USER=os.environ.get("USER", "root"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def snakemake_command(*args: str, timeout_s: int = WORKFLOW_TIMEOUT_S) -> list[str]:
    """``timeout -s KILL ... python -m snakemake --cores all --profile slurm <test overrides> ARGS``."""
    return [
        "timeout",
        "-s",
        "KILL",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "all",
        "--profile",
        "slurm",
        *TEST_OVERRIDES,
        *args,
    ]


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run Snakemake through SLURM in ``workdir`` and wait for it."""
    return subprocess.run(snakemake_command(*args), cwd=workdir, env=snakemake_env(), capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflow_run(slurm_cluster, tmp_path_factory):
    """The tiny configuration of the workflow run through SLURM from a copy of the repository root."""
    workdir = tmp_path_factory.mktemp("slurm_workflow")
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, workdir / name)
    write_yaml(workdir / "tiny.yaml", TINY_CONFIG)
    started = time.time()
    result = run_snakemake(workdir, "--configfile", "tiny.yaml", "--retries", "0")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake --profile slurm failed (rc {result.returncode}):\n{output[-5000:]}"
    return {"workdir": workdir, "output": output, "jobs": sacct_jobs(started, workdir)}


def configured_resources() -> dict:
    """The per-job-kind cluster resources of the shipped config.yaml's scale."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return config["scales"][config["scale"]]["resources"]


def test_workflow_jobs_go_through_sbatch_with_the_configured_resources(workflow_run):
    jobs, output = workflow_run["jobs"], workflow_run["output"]
    resources = configured_resources()
    submitted_rules = set(re.findall(r"^rule (\w+):", output, re.M))
    local_rules = set(re.findall(r"^localrule (\w+):", output, re.M))
    assert set(GPU_RULES) <= submitted_rules
    assert {"render_table2", "render_table5"} <= local_rules
    assert all(rule.startswith(("render_", "all")) for rule in local_rules), local_rules
    assert len(jobs) == len(re.findall(r"^rule \w+:", output, re.M)), "one SLURM job per submitted Snakemake job"
    assert {rule_of(job) for job in jobs} == submitted_rules
    for job in jobs:
        rule, options = rule_of(job), sbatch_options(job)
        assert job["State"] == "COMPLETED", f"{rule}: {job}"
        kind = GPU_RULES.get(rule, "cpu")
        assert job["ReqMem"] == f"{resources[kind]['mem_mb']}M", f"{rule}: {job['ReqMem']}"
        assert job["Timelimit"] == minutes_to_slurm_time(resources[kind]["runtime"]), f"{rule}: {job['Timelimit']}"
        if rule in GPU_RULES:
            assert f"--gpus={resources[kind]['gpus']}" in options, f"{rule}: {options}"
            assert f"--cpus-per-gpu={resources[kind]['cpus_per_gpu']}" in options, f"{rule}: {options}"
            assert int(job["AllocCPUS"]) == resources[kind]["cpus_per_gpu"] * resources[kind]["gpus"], job
        else:
            assert "--gpus" not in options and "--gres" not in options, f"{rule}: {options}"
            assert f"--cpus-per-task={job['AllocCPUS']}" in options, f"{rule}: {options}"
    train_options = sbatch_options(next(job for job in jobs if rule_of(job) == "train_model"))
    assert "--signal=TERM@600" in train_options and "--requeue" in train_options


def minutes_to_slurm_time(minutes: int) -> str:
    """SLURM's [D-]HH:MM:SS spelling of a time limit in minutes, as sacct prints it."""
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def test_workflow_through_slurm_produces_the_tables(workflow_run):
    tables = workflow_run["workdir"] / "results" / "tables"
    for name in ("table2", "table5"):
        for ext in ("csv", "md", "tex"):
            assert (tables / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext} is empty"
    with (tables / "table2.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert any("segmamba" in " ".join(row.values()).lower() for row in rows), rows
    figures = workflow_run["workdir"] / "results" / "figures"
    assert (figures / "fig4_brats2023.png").stat().st_size > 0
    assert (figures / "efficiency.png").stat().st_size > 0


def wait_for(condition, timeout_s: float, what: str, process: subprocess.Popen) -> None:
    """Poll ``condition()`` every 0.2 s until it holds; fail after ``timeout_s`` or when ``process`` ended."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"snakemake ended (rc {process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def running_job_of_rule(rule: str, since: float, folder: Path) -> str | None:
    """The SLURM job id of a running job of ``rule`` run in ``folder`` since ``since``, if any."""
    for job in sacct_jobs(since, folder):
        if job["State"] == "RUNNING" and rule_of(job) == rule:
            return job["JobID"]
    return None


def test_training_stopped_with_sigterm_resumes_from_its_checkpoint(workflow_run, capsys):
    workdir = workflow_run["workdir"]
    write_yaml(workdir / "preempt.yaml", PREEMPT_CONFIG)
    run_dir = Path("results", "brats2023", "models", "segmamba")
    rule_log = Path("results", "logs", "train_model", "brats2023", "segmamba.log")
    shutil.rmtree(workdir / run_dir)  # a fresh training with the longer schedule
    # the uninterrupted reference trains at the same time in a copy (same code, same upstream results)
    reference_dir = workdir.with_name(workdir.name + "_reference")
    shutil.copytree(workdir, reference_dir, symlinks=True)
    target = str(run_dir / "checkpoint_final.pt")

    started = time.time()
    processes = []
    for folder, retries in ((reference_dir, "0"), (workdir, "1")):
        with (folder / "snakemake.out").open("w") as output:
            processes.append(
                subprocess.Popen(
                    snakemake_command("--configfile", "tiny.yaml", "preempt.yaml", "--retries", retries, target),
                    cwd=folder,
                    env=snakemake_env(),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    reference, process = processes

    def log_text() -> str:
        """The training's rule log so far."""
        return (workdir / rule_log).read_text() if (workdir / rule_log).exists() else ""

    try:
        # stop the job as soon as its first epoch is checkpointed (SLURM delivers SIGTERM to the job's step)
        wait_for(lambda: (workdir / run_dir / "checkpoint_latest.pt").exists(), 600, "the first checkpoint", process)
        job_id = running_job_of_rule("train_model", started, workdir)
        assert job_id, "the training is not running as a SLURM job"
        subprocess.run(["scancel", "--signal=TERM", job_id], check=True)
        stop_line = re.compile(r"SIGTERM received: saved checkpoint_latest\.pt at iteration (\d+)")
        wait_for(
            lambda: stop_line.search(log_text()), 300, "the training to save its checkpoint after SIGTERM", process
        )
        stopped_at = int(stop_line.search(log_text()).group(1))
        for p in processes:
            p.wait(timeout=WORKFLOW_TIMEOUT_S)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    output_tail = (workdir / "snakemake.out").read_text()[-5000:]
    assert process.returncode == 0, f"the retry did not finish the training:\n{output_tail}"
    assert reference.returncode == 0, (reference_dir / "snakemake.out").read_text()[-5000:]

    train_jobs = [job for job in sacct_jobs(started, workdir) if rule_of(job) == "train_model"]
    assert [job["State"] for job in train_jobs] == ["FAILED", "COMPLETED"], train_jobs
    assert train_jobs[0]["JobID"] == job_id
    # the retry asks for twice the runtime (runtime x attempt)
    runtime = configured_resources()["train"]["runtime"]
    assert [job["Timelimit"] for job in train_jobs] == [minutes_to_slurm_time(runtime * a) for a in (1, 2)]
    resumed = re.search(r"resumed from \S*checkpoint_latest\.pt at iteration (\d+)/(\d+)", log_text())
    assert resumed, log_text()[-3000:]
    resumed_at, total = int(resumed.group(1)), int(resumed.group(2))
    assert 0 < stopped_at == resumed_at < total
    with (workdir / run_dir / "train_log.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(1, PREEMPT_CONFIG["scales"]["demo"]["train"]["epochs"] + 1)), epochs

    # the same training without interruption gives the same weights
    assert "resumed from" not in (reference_dir / rule_log).read_text()
    resumed_weights = load_model(workdir / run_dir / "checkpoint_final.pt")[0].state_dict()
    reference_weights = load_model(reference_dir / run_dir / "checkpoint_final.pt")[0].state_dict()
    assert resumed_weights.keys() == reference_weights.keys()
    for name, tensor in reference_weights.items():
        assert torch.equal(resumed_weights[name], tensor), f"{name} differs from the uninterrupted run"
    with capsys.disabled():
        print(
            f"\npreemption: {len(epochs)} epochs, {total} iterations; SIGTERM -> saved at iteration {stopped_at}, "
            f"retry resumed at iteration {resumed_at}; SLURM jobs "
            + ", ".join(f"{job['JobID']} {job['State']} {job['Timelimit']}" for job in train_jobs)
        )
