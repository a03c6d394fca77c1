"""Wall time of every workflow step of one or more runs, in total and per unit of work, side by side.

    python .ci/stage_timings.py RESULTS [RESULTS ...]

RESULTS is a run's ``results/`` folder. The times come from Snakemake's ``benchmark:`` records
(``results/benchmarks/<rule>/...tsv``, summed over a rule's jobs); the units from the run's outputs: cases of the
dataset (``split.json``) for the steps over every case, test cases for prediction, ground truth, evaluation and
Table 2, and iterations for training (``train_summary.json``). Given runs of different sizes (e.g. 125 and 1,251
cases), the last column is the ratio of the time per unit of the last run to the first: a step whose cost grows
linearly with the number of cases stays near 1, anything that grows faster than linearly shows above it.

A second table per run splits every rule's job time into the work and the rest:

    python .ci/stage_timings.py [--cores N] RESULTS [RESULTS ...]

    rule  jobs  wall s  cpu s  work s  other s  other s/job  other %  imports+setup s  process s

``cpu s`` is the records' CPU time (on a loaded machine it shows what the jobs cost better than wall time).
``work`` is the time a job spent inside its stage's work (the training run, the predictions, the scoring:
what the ``segmamba`` command timed and logged as its ``segmamba-timing`` line, see segmamba/job_timing.py;
the job's log is ``results/logs/<the benchmark record's path>.log``); ``other`` is the job's wall time minus
that, split into ``imports+setup`` (inside ``segmamba``'s main but outside the work: the stage's imports,
reading settings and inputs, writing the summary) and ``process`` (outside main: the shell, the interpreter,
importing the command line, exit). A rule with a job whose log has no timing line shows ``-``.

Below it: the run's wall time (first job start to last job end; a job ends when its benchmark record was
written and starts its wall time earlier), the summed job wall time and how busy the run kept its N cores
(summed job wall / (run wall x N); N defaults to this machine's cores), and the same for the records' CPU
time. Only jobs with a benchmark record are counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

#: (rule, unit) in workflow order; the unit is what the step's time is divided by.
STAGES = (
    ("synth", "case"),
    ("check", "case"),
    ("split", "case"),
    ("preprocess", "case"),
    ("train", "iteration"),
    ("predict", "test case"),
    ("ground_truth", "test case"),
    ("evaluate", "test case"),
    ("report_table2", "test case"),
)


def wall_seconds(results: Path, rule: str) -> float | None:
    """Sum of the wall-clock seconds (``s`` column) of a rule's benchmark records; None when it has none."""
    records = sorted((results / "benchmarks" / rule).rglob("*.tsv"))
    if not records:
        return None
    total = 0.0
    for record in records:
        with record.open() as handle:
            total += sum(float(row["s"]) for row in csv.DictReader(handle, delimiter="\t"))
    return total


#: Start of the timing line a ``segmamba`` command writes to its log (segmamba.job_timing.PREFIX).
TIMING_PREFIX = "segmamba-timing "


@dataclass(frozen=True)
class Job:
    """One job's benchmark record (rule, wall and CPU seconds, end time) and its logged timing line."""

    rule: str
    wall_s: float
    cpu_s: float | None
    end: float
    timing: dict | None

    @property
    def start(self) -> float:
        """When the job's wall time began (end minus wall)."""
        return self.end - self.wall_s


def logged_timing(log: Path) -> dict | None:
    """The last timing line (``{"work_s": ..., "main_s": ...}``) in a job's log; None without log or line."""
    if not log.is_file():
        return None
    timing = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(TIMING_PREFIX):
            timing = json.loads(line[len(TIMING_PREFIX) :])
    return timing


def read_jobs(results: Path) -> list[Job]:
    """Every benchmarked job of a run (rule = first folder under benchmarks/), with its logged work time."""
    benchmarks = results / "benchmarks"
    jobs = []
    for record in sorted(benchmarks.rglob("*.tsv")):
        relative = record.relative_to(benchmarks)
        with record.open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            continue
        cpu = [row.get("cpu_time", "NA") for row in rows]
        jobs.append(
            Job(
                rule=relative.parts[0],
                wall_s=sum(float(row["s"]) for row in rows),
                cpu_s=None if any(v in ("", "NA", None) for v in cpu) else sum(float(v) for v in cpu),
                end=record.stat().st_mtime,
                timing=logged_timing(results / "logs" / relative.with_suffix(".log")),
            )
        )
    return jobs


def rule_rows(jobs: list[Job]) -> list[list[str]]:
    """Per rule (in order of first start): jobs, wall, CPU time, work, other (= wall - work), other per job,
    other's share of wall, and other split into imports+setup (main - work) and process (wall - main)."""
    rows = []
    for rule in dict.fromkeys(job.rule for job in sorted(jobs, key=lambda job: job.start)):
        mine = [job for job in jobs if job.rule == rule]
        wall = sum(job.wall_s for job in mine)
        cpu = [job.cpu_s for job in mine]
        row = [rule, str(len(mine)), f"{wall:.1f}", "-" if None in cpu else f"{sum(cpu):.1f}"]
        if any(job.timing is None for job in mine):
            row += ["-"] * 6
        else:
            work = sum(float(job.timing["work_s"]) for job in mine)
            main = sum(float(job.timing["main_s"]) for job in mine)
            other = wall - work
            share = f"{100 * other / wall:.0f}" if wall else "-"
            row += [f"{work:.1f}", f"{other:.1f}", f"{other / len(mine):.2f}", share]
            row += [f"{main - work:.1f}", f"{wall - main:.1f}"]
        rows.append(row)
    return rows


def run_summary(jobs: list[Job], cores: int) -> str:
    """Run wall time, summed job wall and CPU time, and how busy they kept ``cores`` cores."""
    run_wall = max(job.end for job in jobs) - min(job.start for job in jobs)
    job_wall = sum(job.wall_s for job in jobs)
    busy = f"{100 * job_wall / (run_wall * cores):.0f} %" if run_wall > 0 else "-"
    text = f"run wall {run_wall:.1f} s; job wall summed {job_wall:.1f} s; cores {cores}: busy {busy}"
    if all(job.cpu_s is not None for job in jobs):
        cpu = sum(job.cpu_s for job in jobs)
        cpu_busy = f"{100 * cpu / (run_wall * cores):.0f} %" if run_wall > 0 else "-"
        text += f"; CPU time {cpu:.1f} s: {cpu_busy} of the cores"
    return text


def print_table(header: list[str], rows: list[list[str]], text_columns: int) -> None:
    """Print rows under header, the first ``text_columns`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i < text_columns else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def units(results: Path) -> dict[str, int]:
    """Cases, test cases and training iterations of a run (summed over its datasets and trainings)."""
    counts = {"case": 0, "test case": 0, "iteration": 0}
    for split_path in results.glob("*/split.json"):
        split = json.loads(split_path.read_text())
        counts["case"] += sum(len(split[subset]) for subset in ("train", "val", "test"))
        counts["test case"] += len(split["test"])
    for summary in results.glob("*/models/*/train_summary.json"):
        counts["iteration"] += int(json.loads(summary.read_text())["iterations"])
    return counts


def main(argv: list[str]) -> int:
    """Print the tables for the results folders in ``argv``."""
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="stage_timings.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, help="cores the run had (default: this machine's)"
    )
    parser.add_argument("results", nargs="+", help="a run's results/ folder")
    args = parser.parse_args(argv)
    runs = [Path(arg) for arg in args.results]
    for run in runs:
        if not (run / "benchmarks").is_dir():
            print(f"{run}: no benchmarks/ folder (is it a run's results/ folder?)", file=sys.stderr)
            return 1
    counts = [units(run) for run in runs]
    header = ["step", "unit"]
    for run in runs:
        header += [f"n ({run.parent.name or run})", "wall s", "ms/unit"]
    if len(runs) > 1:
        header.append("ms/unit last/first")
    rows = []
    for rule, unit in STAGES:
        row, per_unit = [rule, unit], []
        for run, count in zip(runs, counts, strict=True):
            seconds = wall_seconds(run, rule)
            if seconds is None or not count[unit]:
                row += [str(count[unit]), "-", "-"]
                per_unit.append(None)
                continue
            per_unit.append(1000 * seconds / count[unit])
            row += [str(count[unit]), f"{seconds:.1f}", f"{per_unit[-1]:.2f}"]
        if len(runs) > 1:
            first, last = per_unit[0], per_unit[-1]
            row.append(f"{last / first:.2f}" if first and last is not None else "-")
        rows.append(row)
    totals = [sum(wall_seconds(run, rule) or 0.0 for rule, _ in STAGES) for run in runs]
    print_table(header, rows, text_columns=2)
    print(
        "total wall s of the steps: "
        + ", ".join(f"{run}: {total:.1f}" for run, total in zip(runs, totals, strict=True))
    )
    for run in runs:
        jobs = read_jobs(run)
        if not jobs:
            continue
        print(f"\n{run}: work and the rest (start-up, I/O) per rule")
        header = ["rule", "jobs", "wall s", "cpu s", "work s", "other s", "other s/job", "other %", "imports+setup s"]
        header.append("process s")
        print_table(header, rule_rows(jobs), text_columns=1)
        print(run_summary(jobs, args.cores))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
