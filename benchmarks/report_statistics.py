"""Wall time of the report's statistics on a realistic table (not a test).

Writes planted per-case metrics CSVs of the eight compared methods on ``--cases`` test cases into a temporary
folder: a dataset of your own with one label (4 metrics: Dice and HD95 of the label and their mean) and
BraTS2023 (Table 2's 8 BraTS metrics). Then times each ``segmamba report <artefact>`` command line (Python
start and imports included), ``--repeats`` times, and prints the median and min wall time per artefact and the
median CPU time (user + system) of the command, which a busy machine inflates less than the wall time. The default
statistics apply: 10,000 bootstrap resamples per CI and per rank table, seed 0. With ``--keep DIR`` the
outputs stay in DIR (the excerpt in docs/reading-the-tables.md comes from them).

    python benchmarks/report_statistics.py [--cases 250] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

METHODS = ["segresnet", "uxnet", "mednext", "unetr", "swinunetr", "swinunetr_v2", "nnunet_resenc_m", "segmamba"]


def planted(rng, columns: list[str], cases: list[str], offset: float) -> pd.DataFrame:
    """Per-case values: Dice-like columns around 0.85 + offset, HD95-like columns around 5 mm."""
    data = {"case": cases}
    for column in columns:
        if column.startswith("hd95"):
            data[column] = rng.gamma(2.0, 2.5, len(cases)) - 20 * offset
        else:
            data[column] = np.clip(rng.normal(0.85 + offset, 0.08, len(cases)), 0, 1)
    return pd.DataFrame(data)


def write_inputs(folder: str, n_cases: int) -> dict[str, dict]:
    """The ``--inputs`` of every timed artefact, with the CSVs written under ``folder``."""
    rng = np.random.default_rng(0)
    cases = [f"case{index:03d}" for index in range(n_cases)]
    root = os.path.join(folder, "raw")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "dataset.json"), "w") as handle:
        json.dump({"channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1}}, handle)
    own_columns = ["dice_tumour", "dice_mean", "hd95_tumour", "hd95_mean"]
    brats_columns = [f"{m}_{r}" for m in ("dice", "hd95") for r in ("wt", "tc", "et")]
    layouts = {"own": {}, "brats": {}}
    for index, method in enumerate(METHODS):
        offset = 0.004 * index
        for name, columns in (("own", own_columns), ("brats", brats_columns)):
            path = os.path.join(folder, f"{name}_{method}.csv")
            planted(rng, columns, cases, offset).to_csv(path, index=False)
            layouts[name][method] = path
    entry = {"format": "nnunet", "root": root}
    return {
        "dataset_table": {"dataset": "mydata", "entry": entry, "layout": layouts["own"], "synthetic": False},
        "table2": {"layout": {"brats2023": layouts["brats"]}, "synthetic": {"brats2023": False}},
        "rank_stability": {"dataset": "brats2023", "layout": layouts["brats"], "entry": {}},
        "rank_blobs": {"dataset": "brats2023", "layout": layouts["brats"], "entry": {}},
        "significance_map": {"dataset": "brats2023", "layout": layouts["brats"], "entry": {}},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="folder to keep the inputs and outputs in")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="report-statistics-")
    os.makedirs(folder, exist_ok=True)
    inputs = write_inputs(folder, args.cases)
    outputs = {"rank_blobs": "rank_blobs.png", "significance_map": "significance.png"}
    print(f"{len(METHODS)} methods x {args.cases} cases; {args.repeats} runs (s): wall median, wall min, CPU median")
    for artefact, artefact_inputs in inputs.items():
        out = os.path.join(folder, outputs.get(artefact, f"{artefact}.csv"))
        command = ["segmamba", "report", artefact, "--inputs", json.dumps(artefact_inputs), "--out", out]
        times, cpu = [], []
        for _ in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        wall = f"{statistics.median(times):6.2f} {min(times):6.2f}"
        print(f"{artefact:18s} {wall} {statistics.median(cpu):6.2f}")
    print(f"outputs in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
