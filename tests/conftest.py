"""Hooks for the whole test session: a run killed by SIGTERM says where it was and who was around (and, without
CUDA, Triton in interpreter mode from the start).

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

A process forked by the session (e.g. a data-loader worker) dies of SIGTERM without a report, as without these
hooks: it is not the session.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

# Triton fixes its mode when it is first imported, and torch's flop counter (segmamba.models.flops) imports it: on
# a machine without CUDA the whole session runs Triton in its interpreter (tests/ops/test_ops_triton.py needs it).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# The node id of the test being run (set and cleared by the runtest hooks below).
RUNNING: dict[str, str | None] = {"nodeid": None}
RECENT_S = 60  # processes started this many seconds before the signal are listed
TAIL_CHARS = 4000  # the last characters of the running test's captured output that are shown
STDERR_FD = pytest.StashKey[int]()  # a copy of the session's real stderr
# While a session runs: its pid, the SIGTERM handler it installed (None if it kept another one); the signal
# mask to restore after a fork; "fork hooks": they are registered (os.register_at_fork cannot unregister).
SESSION: dict[str, object] = {"pid": None, "sigterm_handler": None, "mask": None, "fork hooks": False}


def pytest_configure(config: pytest.Config) -> None:
    """Install the SIGTERM and SIGINT reports (output capture is suspended here: fd 2 is the real stderr)."""
    stderr_fd = os.dup(2)
    config.stash[STDERR_FD] = stderr_fd
    if not SESSION["fork hooks"]:
        os.register_at_fork(before=hold_sigterm, after_in_parent=release_sigterm, after_in_child=default_in_child)
        SESSION["fork hooks"] = True
    SESSION["pid"] = os.getpid()
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        SESSION["sigterm_handler"] = lambda signum, frame: die_reporting(config, signum)
        signal.signal(signal.SIGTERM, SESSION["sigterm_handler"])
    # after signal.signal: faulthandler's C handler runs first, then chains to the Python one
    for signum in (signal.SIGTERM, signal.SIGINT):
        faulthandler.register(signum, file=stderr_fd, all_threads=True, chain=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the reports again (pytest may run in-process, e.g. under pytester)."""
    stop_reporting()
    if STDERR_FD in config.stash:
        os.close(config.stash[STDERR_FD])
        del config.stash[STDERR_FD]


def stop_reporting() -> None:
    """Unregister the reports: SIGTERM and SIGINT act as before pytest_configure."""
    if SESSION["pid"] is None:
        return
    SESSION["pid"] = None
    for signum in (signal.SIGTERM, signal.SIGINT):
        faulthandler.unregister(signum)
    if SESSION["sigterm_handler"] is not None and signal.getsignal(signal.SIGTERM) is SESSION["sigterm_handler"]:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    SESSION["sigterm_handler"] = None


def hold_sigterm() -> None:
    """Before a fork: block SIGTERM, so that one sent to the new child right away waits until the child has
    SIGTERM's default action back (Python drops the signals that reach its handlers in a fork's first moment)."""
    if SESSION["pid"] is not None:
        SESSION["mask"] = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def release_sigterm() -> None:
    """After a fork, in the session: unblock SIGTERM again (a signal that came meanwhile is handled now)."""
    mask, SESSION["mask"] = SESSION["mask"], None
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def default_in_child() -> None:
    """In a process forked from the session (e.g. a data-loader worker): SIGTERM and SIGINT as without these
    hooks, then unblock SIGTERM."""
    if SESSION["pid"] is not None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            faulthandler.unregister(signum)
        if SESSION["sigterm_handler"] is not None and signal.getsignal(signal.SIGTERM) is SESSION["sigterm_handler"]:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        SESSION.update(pid=None, sigterm_handler=None)
    release_sigterm()


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
