"""A test session killed by SIGTERM names the running test and prints the stacks (tests/conftest.py).

Each test runs a tiny pytest session in a subprocess, with the repository's ``tests/conftest.py``, whose one
test waits (in a child process, or in Python's ``time.sleep``) until this test signals the session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
TINY_TEST = """
import multiprocessing, subprocess, sys, threading, time
from pathlib import Path

def test_waits_for_the_signal():
    print("output of the waiting test")
    threading.Thread(target=time.sleep, args=(60,), name="helper", daemon=True).start()
    if sys.argv[-1] == "child":
        child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        Path("child.pid").write_text(str(child.pid))
        Path("ready").touch()
        child.wait()
    else:
        Path("ready").touch()
        time.sleep(60)


def test_terminates_a_forked_child():
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.start()
    child.terminate()  # SIGTERM
    child.join(30)
    assert child.exitcode == -15
"""


def signalled_session(tmp_path: Path, signum: int, *options: str, wait_in: str) -> tuple[int, str]:
    """Run the tiny session with ``options``, send it ``signum`` once its test waits (in a ``child`` process
    or in ``python``), and return its exit status and output."""
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the tiny session's own rootdir and settings
    (tmp_path / "test_tiny.py").write_text(TINY_TEST)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_tiny.py", wait_in]
    # the last argument only tells the test how to wait; pytest treats it as a (missing) path: make it exist
    (tmp_path / wait_in).mkdir()
    session = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert session.poll() is None, session.communicate()[0]
            assert time.monotonic() < deadline, "the tiny test did not start within 60 s"
            time.sleep(0.05)
        time.sleep(0.2)  # into the wait
        session.send_signal(signum)
        output = session.communicate(timeout=60)[0]
    finally:
        if session.poll() is None:
            session.kill()
        stop_orphaned_sleep(tmp_path / "child.pid")
    return session.returncode, output


def stop_orphaned_sleep(pidfile: Path) -> None:
    """Kill the ``sleep 60`` the tiny test started (it outlives the killed session), if the pid in ``pidfile``
    is still that process."""
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0060\x00":
            os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):  # it ended already
        pass


@pytest.mark.parametrize("wait_in", ["child", "python"])
@pytest.mark.parametrize("capture", [[], ["-s"]], ids=["captured", "not-captured"])
def test_sigterm_names_the_running_test_and_prints_the_stacks(tmp_path, wait_in, capture):
    status, output = signalled_session(tmp_path, signal.SIGTERM, *capture, wait_in=wait_in)
    assert status == -signal.SIGTERM, output  # died of the signal: a shell reports 143
    assert "while running: test_tiny.py::test_waits_for_the_signal" in output, output
    # the stacks of both threads, the main one inside the test function
    assert "in test_waits_for_the_signal" in output and output.count("(most recent call first)") >= 2, output
    waiting_line = "in wait" if wait_in == "child" else 'test_tiny.py", line 15'
    assert waiting_line in output, output
    assert "output of the waiting test" in output, output
    assert f"{os.getpid()} " in output.split("processes started in the last")[1], "the signalling test is listed"
    assert output.rstrip().endswith("==== exiting with SIGTERM"), output[-500:]


def test_a_forked_child_terminated_by_sigterm_is_not_reported_as_the_session(tmp_path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_tiny.py").write_text(TINY_TEST)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_tiny.py::test_terminates_a_forked_child",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SIGTERM received" not in output and "most recent call first" not in output, output


def test_sigint_keeps_pytests_interrupt_handling_and_names_the_test(tmp_path):
    status, output = signalled_session(tmp_path, signal.SIGINT, wait_in="python")
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert "SIGINT received while running test_tiny.py::test_waits_for_the_signal" in output, output
    assert "in test_waits_for_the_signal" in output and "KeyboardInterrupt" in output, output
