""".ci/stage_timings.py on a planted results folder whose numbers are worked out by hand below."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def load_script():
    spec = importlib.util.spec_from_file_location("stage_timings", REPO / ".ci" / "stage_timings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("stage_timings", module)  # dataclasses look their module up while defining the class
    spec.loader.exec_module(module)
    return module


def plant(results: Path, rule_path: str, wall: float, cpu: float, end: float, log: str | None) -> None:
    """A benchmark record written at ``end`` (its mtime) and, unless None, the job's log text."""
    record = results / "benchmarks" / f"{rule_path}.tsv"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(HEADER + f"{wall}\t0:00:00\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    os.utime(record, (end, end))
    if log is not None:
        log_path = results / "logs" / f"{rule_path}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(log)


def test_per_rule_work_rest_run_wall_and_busy_cores(tmp_path, capsys):
    results = tmp_path / "results"
    line = 'segmamba-timing {{"command": "x", "work_s": {work}, "main_s": {main}}}\n'
    # train: 100 s wall ending at 1000 (so started at 900); 80 s of work, 95 s in main.
    plant(results, "train/d/m", 100, 90, 1000, "epoch 1\n" + line.format(work=80, main=95))
    # predict: 20 s ending at 1030 (started 1010); 5 s of work, 15 s in main; two timing lines: the last counts.
    plant(results, "predict/d/m", 20, 12, 1030, line.format(work=1, main=2) + line.format(work=5, main=15))
    # evaluate: 10 s ending at 1045 (started 1035), no log: its work is unknown.
    plant(results, "evaluate/d/m", 10, 8, 1045, None)

    assert load_script().main(["--cores", "2", str(results)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("work and the rest") :].splitlines()
    rows = {cells[0]: cells[1:] for cells in (row.split() for row in table[3:6])}
    assert [row.split()[0] for row in table[3:6]] == ["train", "predict", "evaluate"]  # by first start
    # jobs, wall, cpu, work, other = wall - work, other per job, other % of wall, main - work, wall - main
    assert rows["train"] == ["1", "100.0", "90.0", "80.0", "20.0", "20.00", "20", "15.0", "5.0"]
    assert rows["predict"] == ["1", "20.0", "12.0", "5.0", "15.0", "15.00", "75", "10.0", "5.0"]
    assert rows["evaluate"] == ["1", "10.0", "8.0", "-", "-", "-", "-", "-", "-"]
    # run wall 1045 - 900 = 145 s; jobs 130 s: 130 / (145 x 2) = 44.8 %; CPU 110 s: 110 / 290 = 37.9 %.
    assert table[6] == (
        "run wall 145.0 s; job wall summed 130.0 s; cores 2: busy 45 %; CPU time 110.0 s: 38 % of the cores"
    )


def test_records_without_cpu_time_leave_the_cpu_share_out(tmp_path, capsys):
    results = tmp_path / "results"
    record = results / "benchmarks" / "split" / "d.tsv"
    record.parent.mkdir(parents=True)
    record.write_text("s\th:m:s\n4.0\t0:00:04\n")
    os.utime(record, (50, 50))
    assert load_script().main(["--cores", "1", str(results)]) == 0
    assert (
        capsys.readouterr().out.rstrip().splitlines()[-1]
        == "run wall 4.0 s; job wall summed 4.0 s; cores 1: busy 100 %"
    )
