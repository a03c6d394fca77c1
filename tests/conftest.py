"""Hooks for the whole test session: a run killed by SIGTERM says where it was and who was around.

A test run that ends with exit status 143 (SIGTERM) used to print nothing. Now, on SIGTERM:

1. at once, from C (``faulthandler``, so even while the main thread waits in a C call), the Python stacks of
   all threads go to the session's real stderr (a copy of file descriptor 2 taken before output capture);
2. as soon as the main thread runs Python again (a blocking wait is interrupted for this), the node id of the
   running test, the output the test printed so far (captured by pytest) and the processes started in the
   last minute plus this process's ancestors (the likely senders: Linux does not tell a Python handler who
   sent a signal) are written there too;
3. the process then dies from the same signal, with its default action, so the exit status stays 143.

On SIGINT (Ctrl-C) pytest keeps its own handling (KeyboardInterrupt: the fixtures are torn down, the
interrupted location is shown); the stacks of all threads and the running test's node id are added.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from pathlib import Path

import pytest

# The node id of the test being run (set and cleared by the runtest hooks below).
RUNNING: dict[str, str | None] = {"nodeid": None}
RECENT_S = 60  # processes started this many seconds before the signal are listed
TAIL_CHARS = 4000  # the last characters of the running test's captured output that are shown
STDERR_FD = pytest.StashKey[int]()  # a copy of the session's real stderr
SIGTERM_HANDLER = pytest.StashKey[object]()  # the handler installed here (none if another one was there)


def pytest_configure(config: pytest.Config) -> None:
    """Install the SIGTERM and SIGINT reports (output capture is suspended here: fd 2 is the real stderr)."""
    stderr_fd = os.dup(2)
    config.stash[STDERR_FD] = stderr_fd
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        config.stash[SIGTERM_HANDLER] = lambda signum, frame: die_reporting(config, signum)
        signal.signal(signal.SIGTERM, config.stash[SIGTERM_HANDLER])
    # after signal.signal: faulthandler's C handler runs first, then chains to the Python one
    for signum in (signal.SIGTERM, signal.SIGINT):
        faulthandler.register(signum, file=stderr_fd, all_threads=True, chain=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the reports again (pytest may run in-process, e.g. under pytester)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        faulthandler.unregister(signum)
    if signal.getsignal(signal.SIGTERM) is config.stash.get(SIGTERM_HANDLER, None):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if STDERR_FD in config.stash:
        os.close(config.stash[STDERR_FD])
        del config.stash[STDERR_FD]


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    """Remember the test that starts running (its setup, call and teardown)."""
    RUNNING["nodeid"] = nodeid


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    """Forget the test that finished."""
    RUNNING["nodeid"] = None


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo) -> None:
    """Name the test that Ctrl-C (SIGINT) interrupted; pytest shows where it was."""
    sys.stderr.write(f"\nSIGINT received while running {RUNNING['nodeid'] or 'no test (outside a test)'}\n")


def die_reporting(config: pytest.Config, signum: int) -> None:
    """Write the running test, its captured output and the likely senders to the real stderr, then die of
    ``signum`` with its default action (the exit status of a process killed by it)."""
    name = signal.Signals(signum).name
    lines = [
        "",
        f"==== {name} received by the test session (pid {os.getpid()}, parent {os.getppid()}) "
        f"at {time.strftime('%H:%M:%S')} while running: {RUNNING['nodeid'] or 'no test (outside a test)'}",
        "     (the stacks of all threads at that moment are printed above)",
    ]
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None and capture.is_globally_capturing():
        capture.suspend_global_capture(in_=True)
        out, err = capture.read_global_capture()
        for stream, text in (("stdout", out), ("stderr", err)):
            if text:
                lines += [f"---- captured {stream} of the running test (last {TAIL_CHARS} characters):"]
                lines += [text[-TAIL_CHARS:]]
    lines += [f"---- this process's ancestors and the processes started in the last {RECENT_S} s (pid ppid age):"]
    lines += [f"{pid} {ppid} {age:.0f}s {command[:300]}" for pid, ppid, age, command in suspects(RECENT_S)]
    lines += [f"==== exiting with {name}", ""]
    os.write(config.stash[STDERR_FD], "\n".join(lines).encode(errors="replace"))
    faulthandler.unregister(signum)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def suspects(recent_s: float) -> list[tuple[int, int, float, str]]:
    """(pid, parent pid, age in seconds, command line) of this process's ancestors and of every process
    started in the last ``recent_s`` seconds, oldest first."""
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid ... starttime (22nd)
        age = uptime - int(fields[19]) / ticks
        table[int(proc.name)] = (int(fields[1]), age, command or stat[stat.index("(") : stat.rindex(")") + 1])
    ancestors, pid = set(), os.getpid()
    while pid in table and pid not in ancestors:
        ancestors.add(pid)
        pid = table[pid][0]
    chosen = [pid for pid, (_, age, _) in table.items() if pid in ancestors or age <= recent_s]
    return sorted(((pid, *table[pid]) for pid in chosen), key=lambda row: -row[2])
