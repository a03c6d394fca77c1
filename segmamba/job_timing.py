"""Seconds a command spends in its own work, logged as one machine-readable line for the stage timings.

A stage's command-line handler wraps its work (training, prediction, scoring, ...) in :func:`work`; when the
command ends, :func:`report_line` gives one line ``segmamba-timing {"command": ..., "work_s": ..., "main_s":
...}`` that the command line prints to stderr (the workflow's job logs keep it). ``.ci/stage_timings.py`` reads
it: the job's wall time (Snakemake's benchmark record) minus ``work_s`` is its start-up and I/O around the
work (interpreter, imports, reading settings, writing outputs, exit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Start of the line :func:`report_line` writes; the timing script finds the line by it.
PREFIX = "segmamba-timing "

_work_seconds: list[float] = []


def reset() -> None:
    """Forget the work timed so far (the command line calls it when a command starts)."""
    _work_seconds.clear()


@contextmanager
def work() -> Iterator[None]:
    """Count the time spent inside the ``with`` block as the command's work (blocks add up)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _work_seconds.append(time.perf_counter() - start)


def report_line(command: str, main_seconds: float) -> str | None:
    """The timing line of ``command`` (``main_seconds``: its time in ``segmamba.cli.main``); None without work."""
    if not _work_seconds:
        return None
    record = {"command": command, "work_s": round(sum(_work_seconds), 3), "main_s": round(main_seconds, 3)}
    return PREFIX + json.dumps(record)


def parse_line(line: str) -> dict | None:
    """The record of a timing line (as written by :func:`report_line`); None for any other line."""
    if not line.startswith(PREFIX):
        return None
    return json.loads(line[len(PREFIX) :])
