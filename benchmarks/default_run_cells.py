"""Did every cell of a finished default run learn? The bar of the default run: Dice and IoU >= 50 %, DLR and
DBR >= 25 % (the synthetic stand-ins are easy; a cell under the bar means a training that did not learn).

Usage: ``python benchmarks/default_run_cells.py [results]``. Prints, per table, dataset and metric kind, the
number of cells, the lowest value with its method and metric, and the bar; lists every cell under the bar or
not ``ok`` (a collapsed training, an all-background prediction). Exits 1 when there is one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

#: Metric kind (prefix of the tables' ``metric`` column) -> lowest acceptable mean, in %.
BARS = {"dice": 50.0, "iou": 50.0, "dlr": 25.0, "dbr": 25.0}
TABLES = ("table2.csv", "table3.csv", "table4.csv")


def accuracy_cells(tables: Path) -> pd.DataFrame:
    """The Dice/IoU/DLR/DBR cells of Tables 2-4 that exist in ``tables``, with their kind and bar."""
    frames = [pd.read_csv(tables / name) for name in TABLES if (tables / name).exists()]
    if not frames:
        raise SystemExit(f"{tables}: none of {', '.join(TABLES)}")
    cells = pd.concat(frames, ignore_index=True)
    cells = cells[cells["status"] != "text"].copy()
    cells["kind"] = cells["metric"].str.lower().str.extract(f"^({'|'.join(BARS)})", expand=False)
    cells = cells.dropna(subset=["kind"])
    cells["bar"] = cells["kind"].map(BARS)
    return cells


def main(argv: list[str]) -> int:
    """Print the minima table and the failing cells; 1 when a cell is under its bar or not ok."""
    cells = accuracy_cells(Path(argv[0] if argv else "results") / "tables")
    rows = []
    for (table, dataset, kind), group in cells.groupby(["table", "dataset", "kind"], sort=True):
        lowest = group.loc[group["mean"].idxmin()]
        rows.append(
            f"| {table} | {dataset} | {kind} | {len(group)} | {lowest['mean']:.2f} | "
            f"{lowest['method']} {lowest['metric']} | {lowest['bar']:g} |"
        )
    print("| table | dataset | metric | cells | lowest | where | bar |\n|---|---|---|---:|---:|---|---:|")
    print("\n".join(rows))
    failing = cells[(cells["status"] != "ok") | ~(cells["mean"] >= cells["bar"])]
    print(f"\n{len(cells)} cells; under the bar or not ok: {len(failing)}")
    for _, cell in failing.iterrows():
        print(
            f"  {cell['table']} {cell['dataset']} {cell['method']} {cell['metric']}: {cell['mean']} ({cell['status']})"
        )
    return 1 if len(failing) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
