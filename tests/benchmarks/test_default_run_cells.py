"""benchmarks/default_run_cells.py: the default run's bar (Dice/IoU >= 50 %, DLR/DBR >= 25 %) on hand-made tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "default_run_cells.py"


@pytest.fixture(scope="module")
def cells_script():
    spec = importlib.util.spec_from_file_location("default_run_cells", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_table2(folder: Path, rows: list[tuple[str, str, float, str]]) -> None:
    """A table2.csv with (method, metric, mean, status) rows, plus a text row the check must skip."""
    frame = pd.DataFrame(
        [
            {"table": "table2", "dataset": "aiib2023", "method": m, "metric": k, "mean": v, "status": s}
            for m, k, v, s in rows
        ]
        + [
            {
                "table": "table2",
                "dataset": "aiib2023",
                "method": "segmamba",
                "metric": "dice_note",
                "mean": None,
                "status": "text",
            }
        ]
    )
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "tables" / "table2.csv", index=False)


def test_cells_above_their_bars_pass(tmp_path, cells_script, capsys):
    write_table2(tmp_path, [("uxnet", "iou", 50.0, "ok"), ("uxnet", "dlr", 25.0, "ok"), ("uxnet", "dbr", 30.0, "ok")])
    assert cells_script.main([str(tmp_path)]) == 0
    assert "3 cells; under the bar or not ok: 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "row",
    [("uxnet", "iou", 49.9, "ok"), ("uxnet", "dbr", 24.0, "ok"), ("unetr", "dlr", 90.0, "collapsed")],
    ids=["iou-under-50", "dbr-under-25", "collapsed"],
)
def test_a_cell_under_its_bar_or_not_ok_fails(tmp_path, cells_script, capsys, row):
    write_table2(tmp_path, [("segmamba", "iou", 80.0, "ok"), row])
    assert cells_script.main([str(tmp_path)]) == 1
    assert f"{row[0]} {row[1]}" in capsys.readouterr().out
