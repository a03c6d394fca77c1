"""The local SLURM cluster harness ``.ci/local-slurm`` never signals a process by a stale pid file.

SLURM's daemons leave their pid files behind when they stop. Pids wrap around within the hour, so such a file may
name any process by the next ``up``. Here each daemon's pid file names a live ``sleep`` (a reused pid) when
``up`` runs after ``down``, which rewrites the configuration and so restarts the daemons: the ``sleep`` processes
must survive and the daemons must start. Needs root and Debian's slurm-wlm, like tests/workflow/test_slurm.py.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / ".ci" / "local-slurm"
RUN = Path("/run/segmamba-local-slurm")  # where the harness keeps the SLURM daemons' pid files
SLURM_DAEMONS = ("slurmdbd", "slurmctld", "slurmd")
CLUSTER_LOCK = Path("/tmp/segmamba-bench-local-slurm.lock")  # shared with tests/workflow/test_slurm.py


def harness(command: str) -> subprocess.CompletedProcess:
    """Run ``.ci/local-slurm COMMAND`` (the fake GPUs of tests/workflow/test_slurm.py, so its cluster is the same)."""
    env = dict(os.environ, LOCAL_SLURM_GPUS="2")
    return subprocess.run(["bash", str(HARNESS), command], env=env, capture_output=True, text=True, timeout=900)


def executable(pid: int) -> str:
    """The program that process ``pid`` runs."""
    return os.readlink(f"/proc/{pid}/exe")


def program(daemon: str) -> str:
    """The executable of a SLURM daemon (Debian's /usr/sbin/slurmd is a link to slurmd-wlm)."""
    return os.path.realpath(f"/usr/sbin/{daemon}")


@pytest.fixture
def cluster_lock():
    """Root, the harness's packages (it installs them with apt), and no other SLURM test session meanwhile; a
    cluster that ran before is brought up again afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: .ci/local-slurm starts the SLURM daemons")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("Debian's slurm-wlm is not installed and apt-get is unavailable")
    with CLUSTER_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_running = shutil.which("scontrol") is not None and "UP" in scontrol_ping()
        yield
        if was_running:
            assert harness("up").returncode == 0


def scontrol_ping() -> str:
    """What ``scontrol ping`` says about the controller."""
    return subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout


def test_up_after_down_spares_the_processes_that_stale_pid_files_name(cluster_lock):
    first_up = harness("up")
    if first_up.returncode != 0 and shutil.which("slurmctld") is None:
        pytest.skip(f"could not install slurm-wlm with apt: {first_up.stderr.strip()[-500:]}")
    assert first_up.returncode == 0, first_up.stderr
    assert {daemon: executable(int((RUN / f"{daemon}.pid").read_text())) for daemon in SLURM_DAEMONS} == {
        daemon: program(daemon) for daemon in SLURM_DAEMONS
    }
    down = harness("down")
    assert down.returncode == 0, down.stderr
    assert [daemon for daemon in SLURM_DAEMONS if (RUN / f"{daemon}.pid").exists()] == [], "down left pid files"

    sleeps = {daemon: subprocess.Popen(["sleep", "600"]) for daemon in SLURM_DAEMONS}
    try:
        for daemon, sleep in sleeps.items():
            (RUN / f"{daemon}.pid").write_text(f"{sleep.pid}\n")
        up = harness("up")
        assert up.returncode == 0, up.stderr
        assert {daemon: sleep.poll() for daemon, sleep in sleeps.items()} == dict.fromkeys(SLURM_DAEMONS), up.stderr
        for daemon, sleep in sleeps.items():
            pid = int((RUN / f"{daemon}.pid").read_text())
            assert pid != sleep.pid and executable(pid) == program(daemon), (daemon, up.stderr)
            assert f"removing the stale {RUN}/{daemon}.pid (pid {sleep.pid} does not run {daemon})" in up.stderr
        status = harness("status")
        for daemon in SLURM_DAEMONS:
            assert f"{daemon:<10} running (pid " in status.stdout, status.stdout

        down = harness("down")
        assert down.returncode == 0, down.stderr
        assert {daemon: sleep.poll() for daemon, sleep in sleeps.items()} == dict.fromkeys(SLURM_DAEMONS)
        assert [daemon for daemon in SLURM_DAEMONS if (RUN / f"{daemon}.pid").exists()] == [], "down left pid files"
    finally:
        for sleep in sleeps.values():
            sleep.kill()
            sleep.wait()
