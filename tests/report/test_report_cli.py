"""``segmamba report <artefact>``: the artefact registry behind the report rules, through the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from segmamba.cli import main
from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.report.build import ARTEFACTS, output_stem


def metrics_csv(path, dice, hd95) -> str:
    """A CRC-500 per-case metrics CSV as `segmamba evaluate` writes it."""
    pd.DataFrame({"case": [f"c{i}" for i in range(len(dice))], "dice": dice, "hd95": hd95}).to_csv(path, index=False)
    return str(path)


def test_report_writes_table3_from_an_inputs_file(tmp_path):
    layout = {
        "segmamba": metrics_csv(tmp_path / "segmamba.csv", [0.9, 0.8, 0.85, 0.7], [2.0, 3.0, 2.5, 6.0]),
        "uxnet": metrics_csv(tmp_path / "uxnet.csv", [0.8, 0.7, 0.8, 0.6], [3.0, 4.0, 3.0, 7.0]),
    }
    inputs = tmp_path / "inputs.json"
    dataset_file = tmp_path / "crc500.dataset.json"
    resolve_dataset_file("crc500", {}, "").write(dataset_file)
    inputs.write_text(json.dumps({"layout": {"crc500": layout}, "dataset_files": {"crc500": str(dataset_file)}}))
    out = tmp_path / "tables" / "table3.csv"
    assert main(["report", "table3", "--inputs", str(inputs), "--out", str(out)]) == 0
    tidy = pd.read_csv(out)
    ours = tidy[(tidy["method"] == "segmamba") & (tidy["metric"] == "dice")]
    assert ours["mean"].iloc[0] == pytest.approx((0.9 + 0.8 + 0.85 + 0.7) / 4 * 100)
    assert (tmp_path / "tables" / "table3.md").read_text().count("SegMamba") >= 1
    assert (tmp_path / "tables" / "table3.tex").exists()


def test_report_names_inputs_the_artefact_does_not_take(tmp_path, capsys):
    inputs = json.dumps({"layout": {}, "synthetic": {}, "bogus": 1})
    assert main(["report", "table3", "--inputs", inputs, "--out", str(tmp_path / "t.csv")]) == 2
    error = capsys.readouterr().err
    assert "table3" in error and "bogus" in error


def test_report_rejects_inputs_that_are_no_json_object(tmp_path, capsys):
    assert main(["report", "table5", "--inputs", "[1, 2]", "--out", str(tmp_path / "t.csv")]) == 2
    assert "expected a JSON object" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "out", "stem"),
    [("table2", "r/table2.csv", "r/table2"), ("table4", "r/table4.md", "r/table4"), ("table5", "r/t5", "r/t5")]
    + [("figure4", "f/fig4_x.png", "f/fig4_x")],
)
def test_tables_write_beside_their_stem_and_figures_to_their_path(name, out, stem):
    expected = stem if ARTEFACTS[name].kind == "table" else out
    assert output_stem(ARTEFACTS[name], out) == expected
