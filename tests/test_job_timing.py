"""The work time a segmamba command logs (segmamba/job_timing.py) and its line in a real command's output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from segmamba import job_timing

REPO = Path(__file__).resolve().parents[1]


def test_work_blocks_add_up_and_the_line_parses_back(monkeypatch):
    monkeypatch.setattr(job_timing, "_work_seconds", [])
    assert job_timing.report_line("train", 1.0) is None  # nothing timed: no line
    for _ in range(2):
        with job_timing.work():
            time.sleep(0.05)
    record = job_timing.parse_line(job_timing.report_line("train", 2.5))
    assert record["command"] == "train" and record["main_s"] == 2.5
    assert 0.1 <= record["work_s"] < 2.5
    assert job_timing.parse_line("epoch 1 loss 0.5") is None
    job_timing.reset()  # a second command in the same process starts from zero
    assert job_timing.report_line("train", 1.0) is None


def test_a_command_logs_its_timing_line_on_stderr(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["synth", "--kind", "crc", "--out", str(tmp_path / "data"), "--cases", "2", "--size", "16"]
    done = subprocess.run([sys.executable, "-m", "segmamba", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    lines = [job_timing.parse_line(line) for line in done.stderr.splitlines()]
    records = [record for record in lines if record is not None]
    assert len(records) == 1 and records[0]["command"] == "synth"
    assert 0 < records[0]["work_s"] <= records[0]["main_s"]
