"""The workflow on a real SLURM cluster: `snakemake --profile slurm`, resource requests, preemption and resume, DDP.

A one-node cluster with two fake GPUs is brought up on localhost with the repository's ``.ci/local-slurm`` (root
and Debian's slurm-wlm needed; the script installs it with apt), so the GPU rules are scheduled while the code
runs on the CPU. The cluster is brought down again at the end unless it was already running. Every Snakemake
run is wrapped in ``timeout -s KILL`` (a Snakemake whose status queries fail waits forever and ignores SIGTERM).

The runs use a temporary copy of the workflow with the real ``slurm/`` profile, so ``--profile slurm`` resolves
exactly as from the repository root; only polling intervals, latency wait and retries are overridden on the
command line to keep the tests short.
"""

from __future__ import annotations

import csv
import fcntl
import json
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

from segmamba.models.checkpoint import load_model
from segmamba.train.checkpoint import read_latest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / ".ci" / "local-slurm"
SLURM_PACKAGES = ("munge", "slurm-client", "slurmctld", "slurmd", "slurmdbd", "mariadb-server")
CLUSTER_LOCK = Path("/tmp/segmamba-bench-local-slurm.lock")
FAKE_GPUS = 2
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "envs", "slurm")
GPU_RULES = {"train": "train", "predict": "predict", "efficiency": "efficiency"}
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
# The preempted training: two loader workers, stopped twice (once in its second epoch, once after resuming);
# the time limit of its third attempt is capped by max_runtime (30, 60, 90 minutes -> 30, 45, 45).
PREEMPT_MAX_RUNTIME = 45
PREEMPT_CONFIG = {
    "scales": {
        "demo": {
            "train": {"epochs": 6, "iters_per_epoch": 2, "val_every": 6, "num_workers": 2},
            "resources": {"max_runtime": PREEMPT_MAX_RUNTIME},
        }
    }
}
# The DDP training: two (fake) GPUs, one CPU core each; one iteration per rank.
DDP_CONFIG = {
    "scales": {
        "demo": {
            "train": {"epochs": 1, "iters_per_epoch": 2, "val_every": 1},
            "resources": {"train": {"gpus": 2, "cpus_per_gpu": 1}},
        }
    }
}
RUN_DIR = Path("results", "brats2023", "models", "segmamba")
TRAIN_LOG = Path("results", "logs", "train", "brats2023", "segmamba.log")
STOP_LINE = re.compile(r"SIGTERM received: saved checkpoint_latest\.pt at iteration (\d+)")
RESUME_LINE = re.compile(r"resumed from \S*checkpoint_latest\.pt at iteration (\d+)/(\d+)")


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


def harness(command: str) -> subprocess.CompletedProcess:
    """Run ``.ci/local-slurm COMMAND`` with the fake GPUs of these tests."""
    env = dict(os.environ, LOCAL_SLURM_GPUS=str(FAKE_GPUS))
    return subprocess.run(["bash", str(HARNESS), command], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running local SLURM cluster with fake GPUs; skipped only without root or installable packages."""
    if os.geteuid() != 0:
        pytest.skip("needs root: .ci/local-slurm installs Debian's slurm-wlm with apt and starts the SLURM daemons")
    if shutil.which("apt-get") is None and not packages_installed():
        pytest.skip("Debian's slurm-wlm is not installed and apt-get is unavailable")
    with CLUSTER_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one SLURM test session at a time on this machine
        was_running = cluster_running()
        had_packages = packages_installed()
        result = harness("up")
        if result.returncode != 0:
            if not had_packages and not packages_installed():
                pytest.skip(f"could not install slurm-wlm with apt: {result.stderr.strip()[-500:]}")
            pytest.fail(f".ci/local-slurm up failed:\n{result.stderr[-3000:]}")
        started = time.time()
        try:
            yield
        finally:
            cancel_jobs(started, tmp_path_factory.getbasetemp())
            if not was_running:
                harness("down")


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


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """Start Snakemake through SLURM in ``workdir``, its output going to ``workdir/snakemake.out``."""
    with (workdir / "snakemake.out").open("w") as output:
        return subprocess.Popen(
            snakemake_command(*args), cwd=workdir, env=snakemake_env(), stdout=output, stderr=subprocess.STDOUT
        )


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


def copy_of_run(workflow_run: dict, suffix: str) -> Path:
    """A copy of the tiny run's folder (results included) without its training, for another training of it."""
    source = workflow_run["workdir"]
    copy = source.with_name(f"{source.name}_{suffix}")
    shutil.copytree(source, copy, symlinks=True)
    shutil.rmtree(copy / RUN_DIR)
    (copy / TRAIN_LOG).unlink()
    return copy


def configured_resources() -> dict:
    """The per-job-kind cluster resources of the shipped config.yaml's scale."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return config["scales"][config["scale"]]["resources"]


def time_limit(kind: str, attempt: int = 1, max_runtime: int | None = None) -> str:
    """The time limit SLURM should show for a job kind's attempt: runtime x attempt, capped at max_runtime."""
    resources = configured_resources()
    cap = resources["max_runtime"] if max_runtime is None else max_runtime
    minutes = resources[kind]["runtime"] * attempt
    return minutes_to_slurm_time(minutes if cap is None else min(minutes, cap))


def minutes_to_slurm_time(minutes: int) -> str:
    """SLURM's [D-]HH:MM:SS spelling of a time limit in minutes, as sacct prints it."""
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def test_workflow_jobs_go_through_sbatch_with_the_configured_resources(workflow_run):
    jobs, output = workflow_run["jobs"], workflow_run["output"]
    resources = configured_resources()
    submitted_rules = set(re.findall(r"^rule (\w+):", output, re.M))
    local_rules = set(re.findall(r"^localrule (\w+):", output, re.M))
    assert set(GPU_RULES) <= submitted_rules
    assert {"report_table2", "report_table5"} <= local_rules
    assert all(rule.startswith(("report_", "all")) for rule in local_rules), local_rules
    assert len(jobs) == len(re.findall(r"^rule \w+:", output, re.M)), "one SLURM job per submitted Snakemake job"
    assert {rule_of(job) for job in jobs} == submitted_rules
    for job in jobs:
        rule, options = rule_of(job), sbatch_options(job)
        assert job["State"] == "COMPLETED", f"{rule}: {job}"
        kind = GPU_RULES.get(rule, "cpu")
        assert job["ReqMem"] == f"{resources[kind]['mem_mb']}M", f"{rule}: {job['ReqMem']}"
        assert job["Timelimit"] == time_limit(kind), f"{rule}: {job['Timelimit']}"
        if rule in GPU_RULES:
            assert f"--gpus={resources[kind]['gpus']}" in options, f"{rule}: {options}"
            assert f"--cpus-per-gpu={resources[kind]['cpus_per_gpu']}" in options, f"{rule}: {options}"
            assert int(job["AllocCPUS"]) == resources[kind]["cpus_per_gpu"] * resources[kind]["gpus"], job
        else:
            assert "--gpus" not in options and "--gres" not in options, f"{rule}: {options}"
            assert f"--cpus-per-task={job['AllocCPUS']}" in options, f"{rule}: {options}"
    train_options = sbatch_options(next(job for job in jobs if rule_of(job) == "train"))
    assert "--signal=TERM@600" in train_options and "--requeue" in train_options


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


def wait_for(condition, timeout_s: float, what: str, process: subprocess.Popen, context=lambda: ""):
    """Poll ``condition()`` every 0.2 s until it returns something true, and return that; fail after
    ``timeout_s`` or when ``process`` ended, with ``context()`` in the message."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if process.poll() is not None:
            pytest.fail(f"snakemake ended (rc {process.returncode}) while waiting for {what}\n{context()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}\n{context()}")
        time.sleep(0.2)
    return value


class RuleLog:
    """A rule's log file, which every attempt of the job rewrites; what earlier attempts wrote is kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = ""
        self.earlier: list[str] = []

    def text(self) -> str:
        """The log of the current attempt so far."""
        text = self.path.read_text() if self.path.exists() else ""
        first_line = self.current.split("\n", 1)[0]
        if self.current and not text.startswith(first_line):
            self.earlier.append(self.current)
        self.current = text
        return text

    def history(self) -> str:
        """The ends of every attempt's log, for failure messages."""
        parts = [*self.earlier, self.current]
        return "\n".join(f"--- {self.path.name}, attempt {i}:\n{part[-2500:]}" for i, part in enumerate(parts, 1))


def running_job_of_rule(rule: str, since: float, folder: Path, exclude: tuple[str, ...] = ()) -> str | None:
    """The SLURM job id of a running job of ``rule`` run in ``folder`` since ``since``, if any."""
    for job in sacct_jobs(since, folder):
        if job["State"] == "RUNNING" and rule_of(job) == rule and job["JobID"] not in exclude:
            return job["JobID"]
    return None


def processes_in(folder: Path) -> list[str]:
    """``pid command`` of every process whose working directory is ``folder`` or below it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours to read
            continue
        if folder in (cwd, *cwd.parents):
            found.append(f"{proc.name} {command[:200]}")
    return found


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        table[int(proc.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), command)
    return table


def job_processes(job_id: str) -> dict[int, str]:
    """pid -> command line of the processes of a running SLURM job: its ``slurmstepd: [JOB.STEP]`` processes
    and their descendants (what proctrack/linuxproc signals for ``scancel``)."""
    table = process_table()
    stepd = re.compile(rf"slurmstepd: \[{job_id}\.")
    found = {pid for pid, (_, command) in table.items() if stepd.match(command)}
    while more := {pid for pid, (parent, _) in table.items() if parent in found} - found:
        found |= more
    return {pid: table[pid][1] for pid in found}


def scancel_within_the_job(job_id: str, *options: str) -> None:
    """``scancel OPTIONS JOB`` after checking that the processes SLURM will signal are the job's own: its
    slurmstepd's descendants, which include the training and not this test session."""
    processes = job_processes(job_id)
    listing = "\n".join(f"{pid} {command[:200]}" for pid, command in sorted(processes.items()))
    assert os.getpid() not in processes, f"the test session is among job {job_id}'s processes:\n{listing}"
    assert any("segmamba" in command and " train" in command for command in processes.values()), listing
    subprocess.run(["scancel", *options, job_id], check=True)


def epochs_after_resume(log: str, resumed_at: int) -> list[int]:
    """Iterations of the epochs a training log reports after resuming at iteration ``resumed_at``."""
    resume = RESUME_LINE.search(log)
    if resume is None or int(resume.group(1)) != resumed_at:
        return []
    return [int(i) for i in re.findall(r"epoch \d+/\d+ iter (\d+)", log[resume.end() :]) if int(i) > resumed_at]


def test_training_stopped_by_sigterm_resumes_exactly(workflow_run, capsys):
    """A training with 2 loader workers, stopped twice.

    1. ``scancel --signal=TERM``: SIGTERM to every process of the job's step (the training, its loader workers,
       the Snakemake and shell around it), as the profile's ``--signal=TERM@600`` does before the time limit.
       The training saves checkpoint_latest.pt and exits 75; the retry resumes there.
    2. ``scancel --signal=TERM --full``: SIGTERM to every process of the job, the batch script included, as at
       a hard kill. The ``srun`` of the SLURM executor's job step answers SIGTERM by killing its step at once
       (SIGKILL), so the training rarely gets to save (it did once, when the SIGTERM reached it first); the
       retry resumes from the checkpoint on disk once the job's processes are gone.

    Each retry asks for runtime x attempt, capped at max_runtime; nothing is left running; the final weights
    equal those of an uninterrupted run trained at the same time.
    """
    workdir = copy_of_run(workflow_run, "preempt")
    reference_dir = copy_of_run(workflow_run, "reference")
    for folder in (workdir, reference_dir):
        write_yaml(folder / "preempt.yaml", PREEMPT_CONFIG)
    target = str(RUN_DIR / "checkpoint_final.pt")
    args = (target, "--configfile", "tiny.yaml", "preempt.yaml")
    latest = workdir / RUN_DIR / "checkpoint_latest.pt"
    rule_log = RuleLog(workdir / TRAIN_LOG)
    started = time.time()
    reference = start_snakemake(reference_dir, *args, "--retries", "0")
    process = start_snakemake(workdir, *args, "--retries", "2")
    jobs = []

    def wait(condition, what: str, timeout_s: float = 600):
        """wait_for the preempted run, with the training's log in a failure message."""
        return wait_for(condition, timeout_s, what, process, rule_log.history)

    def resumed_at() -> int | None:
        """The iteration the current attempt resumed at (None before it logged it)."""
        match = RESUME_LINE.search(rule_log.text())
        return int(match.group(1)) if match else None

    def third_attempt_resumed_at() -> int | None:
        """The iteration the third attempt resumed at (None before it logged it)."""
        resumed = resumed_at()  # reading the log notices that the next attempt rewrote it
        return resumed if len(rule_log.earlier) == 2 else None

    try:
        # 1: SIGTERM to the job's step as soon as the first epoch is checkpointed
        wait(latest.exists, "the first checkpoint")
        jobs.append(wait(lambda: running_job_of_rule("train", started, workdir), "the job", 60))
        scancel_within_the_job(jobs[0], "--signal=TERM")
        stopped_at = int(wait(lambda: STOP_LINE.search(rule_log.text()), "the first stop", 300).group(1))
        # 2: once the retry has resumed there and checkpointed another epoch, SIGTERM to every process of the job
        assert wait(resumed_at, "the first retry") == stopped_at, rule_log.history()
        epoch_end = max(wait(lambda: epochs_after_resume(rule_log.text(), stopped_at), "an epoch after the resume"))
        jobs.append(wait(lambda: running_job_of_rule("train", started, workdir, tuple(jobs)), "the retry", 60))
        killed = job_processes(jobs[1])
        scancel_within_the_job(jobs[1], "--signal=TERM", "--full")
        wait(lambda: not running_job_of_rule("train", started, workdir), "the end of the killed job", 120)
        # SLURM may report the job ended while its training still finishes saving (when the SIGTERM reached it
        # before the step's SIGKILL): the checkpoint on disk is the one left when the job's processes are gone.
        wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in killed), "the killed job's processes", 60)
        on_disk = read_latest(workdir / RUN_DIR)[1]["state"]["iteration"]  # what the next attempt resumes from
        second_resume = wait(third_attempt_resumed_at, "the second retry")
        for p in (process, reference):
            p.wait(timeout=WORKFLOW_TIMEOUT_S)
    finally:
        for p in (process, reference):
            if p.poll() is None:
                p.kill()
    output_tail = (workdir / "snakemake.out").read_text()[-5000:]
    assert process.returncode == 0, f"the retries did not finish the training:\n{output_tail}"
    assert reference.returncode == 0, (reference_dir / "snakemake.out").read_text()[-5000:]

    train_jobs = [job for job in sacct_jobs(started, workdir) if rule_of(job) == "train"]
    assert [job["JobID"] for job in train_jobs[:2]] == jobs
    assert [job["State"] for job in train_jobs] == ["FAILED", "FAILED", "COMPLETED"], train_jobs
    limits = [time_limit("train", attempt, PREEMPT_MAX_RUNTIME) for attempt in (1, 2, 3)]
    assert [job["Timelimit"] for job in train_jobs] == limits
    total = int(RESUME_LINE.search(rule_log.text()).group(2))
    assert 0 < stopped_at < epoch_end <= on_disk == second_resume < total, (stopped_at, epoch_end, on_disk, total)
    second_stop = STOP_LINE.search(rule_log.earlier[1])
    assert not processes_in(workdir), "processes of the stopped jobs are still running"
    with (workdir / RUN_DIR / "train_log.csv").open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(1, PREEMPT_CONFIG["scales"]["demo"]["train"]["epochs"] + 1)), epochs

    # the same training without interruption gives the same weights
    assert "resumed from" not in (reference_dir / TRAIN_LOG).read_text()
    resumed_weights = load_model(workdir / RUN_DIR / "checkpoint_final.pt")[0].state_dict()
    reference_weights = load_model(reference_dir / RUN_DIR / "checkpoint_final.pt")[0].state_dict()
    assert resumed_weights.keys() == reference_weights.keys()
    for name, tensor in reference_weights.items():
        assert torch.equal(resumed_weights[name], tensor), f"{name} differs from the uninterrupted run"
    with capsys.disabled():
        print(
            f"\npreemption with 2 loader workers, {total} iterations: scancel --signal=TERM -> saved at iteration "
            f"{stopped_at}, retry resumed there; scancel --signal=TERM --full -> "
            + (f"saved at iteration {second_stop.group(1)}" if second_stop else "killed without saving")
            + f", retry resumed at {second_resume} (the checkpoint on disk); SLURM jobs "
            + ", ".join(f"{job['JobID']} {job['State']} {job['Timelimit']}" for job in train_jobs)
        )


def job_steps(job_id: str) -> list[dict[str, str]]:
    """sacct records of a job and its steps (batch, extern, srun steps)."""
    fields = ["JobID", "JobName", "State", "ExitCode", "NTasks", "AllocCPUS", "AllocTRES", "Elapsed", "Timelimit"]
    result = subprocess.run(
        ["sacct", "-j", job_id, "-P", "-n", "-o", ",".join(fields)], capture_output=True, text=True, check=True
    )
    return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines() if line.strip()]


def test_training_on_two_gpus_runs_each_rank_once(workflow_run, capsys):
    workdir = copy_of_run(workflow_run, "ddp")
    write_yaml(workdir / "ddp.yaml", DDP_CONFIG)
    started = time.time()
    result = run_snakemake(
        workdir, "--configfile", "tiny.yaml", "ddp.yaml", "--retries", "0", str(RUN_DIR / "checkpoint_final.pt")
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    (job,) = [job for job in sacct_jobs(started, workdir) if rule_of(job) == "train"]
    steps = job_steps(job["JobID"])
    table = "\n".join("|".join(step.values()) for step in steps)
    with capsys.disabled():
        print(f"\nsacct of the 2-GPU training job:\n{'|'.join(steps[0])}\n{table}")

    allocation = steps[0]
    assert allocation["State"] == "COMPLETED", table
    assert "gres/gpu=2" in allocation["AllocTRES"] and allocation["AllocCPUS"] == "2", table
    assert "--gpus=2" in sbatch_options(job) and "--ntasks" not in sbatch_options(job), sbatch_options(job)
    # the rule ran once: one srun step with one task (not one per GPU)
    srun_steps = [step for step in steps if re.fullmatch(rf"{job['JobID']}\.\d+", step["JobID"])]
    assert [step["NTasks"] for step in srun_steps] == ["1"], table
    log = (workdir / TRAIN_LOG).read_text()
    joined = re.findall(r"rank (\d+)/(\d+) joined the gloo process group", log)
    assert sorted(joined) == [("0", "2"), ("1", "2")], log[-3000:]
    assert len(re.findall(r"training segmamba \(.*\) on cpu x2: ", log, re.M)) == 1, log[-3000:]
    summary = json.loads((workdir / RUN_DIR / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["iterations_per_epoch"] == 1, summary
    assert not processes_in(workdir)
