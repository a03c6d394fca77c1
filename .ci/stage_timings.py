"""Wall time of every workflow step of one or more runs, in total and per unit of work, side by side.

    python .ci/stage_timings.py RESULTS [RESULTS ...]

RESULTS is a run's ``results/`` folder. The times come from Snakemake's ``benchmark:`` records
(``results/benchmarks/<rule>/...tsv``, summed over a rule's jobs); the units from the run's outputs: cases of the
dataset (``split.json``) for the steps over every case, test cases for prediction, ground truth, evaluation and
Table 2, and iterations for training (``train_summary.json``). Given runs of different sizes (e.g. 125 and 1,251
cases), the last column is the ratio of the time per unit of the last run to the first: a step whose cost grows
linearly with the number of cases stays near 1, anything that grows faster than linearly shows above it.
"""

from __future__ import annotations

import csv
import json
import sys
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
    """Print the table for the results folders in ``argv``."""
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs = [Path(arg) for arg in argv]
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
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i > 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    print(
        "total wall s of the steps: "
        + ", ".join(f"{run}: {total:.1f}" for run, total in zip(runs, totals, strict=True))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
