"""Paper tables from hand-made metric CSVs: values, p-values and paper columns checked independently."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from segmamba.errors import InputError
from segmamba.reporting import build, tables

CASES = ["c1", "c2", "c3", "c4", "c5", "c6"]
SEGMAMBA_DICE = [0.90, 0.85, 0.80, 0.95, 0.70, 0.88]
UXNET_DICE = [0.80, 0.84, 0.70, 0.90, 0.60, 0.81]
SEGMAMBA_HD95 = [2.0, 3.0, 4.0, 1.0, 8.0, 2.5]
UXNET_HD95 = [3.0, 3.5, 6.0, 2.0, 9.0, 2.0]


def write_csv(path, columns: dict) -> str:
    """Write a per-case metrics CSV like `segmamba evaluate` does."""
    pd.DataFrame({"case": CASES, **columns}).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def crc_layout(tmp_path):
    """CRC metrics of SegMamba and UX-Net (the other five methods not run)."""
    return {
        "segmamba": write_csv(tmp_path / "segmamba.csv", {"dice": SEGMAMBA_DICE, "hd95": SEGMAMBA_HD95}),
        "uxnet": write_csv(tmp_path / "uxnet.csv", {"dice": UXNET_DICE, "hd95": UXNET_HD95}),
    }


def cell(tidy: pd.DataFrame, method: str, metric: str) -> dict:
    """The single tidy row of one method and metric."""
    rows = tidy[(tidy["method"] == method) & (tidy["metric"] == metric)]
    assert len(rows) == 1, (method, metric, len(rows))
    return rows.iloc[0].to_dict()


def test_table3_values_pvalues_and_paper_columns(tmp_path, crc_layout):
    build.make_table3(crc_layout, synthetic=True, prefix=str(tmp_path / "table3"))
    tidy = pd.read_csv(tmp_path / "table3.csv")

    ux_dice = cell(tidy, "uxnet", "dice")
    assert ux_dice["n"] == 6
    assert ux_dice["mean"] == pytest.approx(100 * np.mean(UXNET_DICE), abs=1e-4)
    assert ux_dice["std"] == pytest.approx(100 * np.std(UXNET_DICE, ddof=1), abs=1e-4)
    assert ux_dice["paper"] == pytest.approx(45.73)
    assert ux_dice["diff"] == pytest.approx(100 * np.mean(UXNET_DICE) - 45.73, abs=1e-4)
    assert ux_dice["p_value"] == pytest.approx(wilcoxon(UXNET_DICE, SEGMAMBA_DICE).pvalue, rel=1e-4)

    ux_hd = cell(tidy, "uxnet", "hd95")
    assert ux_hd["mean"] == pytest.approx(np.mean(UXNET_HD95), abs=1e-4)
    assert ux_hd["p_value"] == pytest.approx(wilcoxon(UXNET_HD95, SEGMAMBA_HD95).pvalue, rel=1e-4)

    ours = cell(tidy, "segmamba", "dice")
    assert ours["paper"] == pytest.approx(48.02)
    assert math.isnan(ours["p_value"])  # the reference is not tested against itself

    missing = cell(tidy, "mednext", "dice")
    assert missing["status"] == "missing" and math.isnan(missing["paper"])

    markdown = (tmp_path / "table3.md").read_text()
    assert "SYNTHETIC" in markdown
    assert f"{100 * np.mean(UXNET_DICE):.2f} ± {100 * np.std(UXNET_DICE, ddof=1):.2f}" in markdown
    assert "paper 45.73" in markdown and "not run" in markdown
    latex = (tmp_path / "table3.tex").read_text()
    assert latex.startswith(r"\begin{table}") and r"$\pm$" in latex and r"\end{tabular}" in latex


def test_real_data_tables_carry_no_synthetic_warning(tmp_path, crc_layout):
    build.make_table3(crc_layout, synthetic=False, prefix=str(tmp_path / "table3"))
    assert "SYNTHETIC" not in (tmp_path / "table3.md").read_text()


def test_table2_average_is_the_per_case_mean_of_the_three_regions(tmp_path):
    rng = np.random.default_rng(0)
    layout = {}
    region_values = {}
    for model in ("segmamba", "unetr"):
        columns = {f"dice_{r}": rng.uniform(0.5, 1.0, 6) for r in ("wt", "tc", "et")}
        columns |= {f"hd95_{r}": rng.uniform(1.0, 9.0, 6) for r in ("wt", "tc", "et")}
        region_values[model] = columns
        layout[model] = write_csv(tmp_path / f"brats_{model}.csv", columns)
    build.make_table2({"brats2023": layout}, {"brats2023": True}, str(tmp_path / "table2"))
    tidy = pd.read_csv(tmp_path / "table2.csv")

    unetr, ours = region_values["unetr"], region_values["segmamba"]
    per_case_avg = (unetr["dice_wt"] + unetr["dice_tc"] + unetr["dice_et"]) / 3 * 100
    reference_avg = (ours["dice_wt"] + ours["dice_tc"] + ours["dice_et"]) / 3 * 100
    avg = cell(tidy, "unetr", "dice_avg")
    assert avg["mean"] == pytest.approx(per_case_avg.mean(), abs=1e-4)
    assert avg["std"] == pytest.approx(per_case_avg.std(ddof=1), abs=1e-4)
    assert avg["p_value"] == pytest.approx(wilcoxon(per_case_avg, reference_avg).pvalue, rel=1e-4)
    assert avg["paper"] == pytest.approx(87.68)
    assert cell(tidy, "unetr", "hd95_et")["mean"] == pytest.approx(unetr["hd95_et"].mean(), abs=1e-4)
    # AIIB was not run: its seven rows exist with the paper's numbers only
    assert cell(tidy, "segmamba", "iou")["status"] == "missing"
    assert cell(tidy, "segmamba", "iou")["paper"] == pytest.approx(88.59)


def test_wilcoxon_pairs_cases_by_id_not_by_row_order(tmp_path):
    reference = write_csv(tmp_path / "ref.csv", {"dice": SEGMAMBA_DICE, "hd95": SEGMAMBA_HD95})
    shuffled = pd.DataFrame({"case": CASES[::-1], "dice": UXNET_DICE[::-1], "hd95": UXNET_HD95[::-1]})
    shuffled.to_csv(tmp_path / "ux.csv", index=False)
    build.make_table3({"segmamba": reference, "uxnet": str(tmp_path / "ux.csv")}, True, str(tmp_path / "t3"))
    tidy = pd.read_csv(tmp_path / "t3.csv")
    assert cell(tidy, "uxnet", "dice")["p_value"] == pytest.approx(wilcoxon(UXNET_DICE, SEGMAMBA_DICE).pvalue,
                                                                   rel=1e-4)


def test_table4_has_module_marks_and_ablation_paper_values(tmp_path, crc_layout):
    build.make_table4(crc_layout, "crc500", True, str(tmp_path / "table4"))
    tidy = pd.read_csv(tmp_path / "table4.csv", keep_default_na=False)
    marks = tidy[(tidy["status"] == "text") & (tidy["method"] == "segmamba_m2")].set_index("column")["text"]
    assert marks.to_dict() == {"LC": "", "GSC": "✓", "ToM": ""}
    assert float(cell(tidy, "segmamba_m1", "hd95")["paper"]) == pytest.approx(43.01)
    markdown = (tmp_path / "table4.md").read_text()
    assert "| M3 |" in markdown and "CRC-500" in markdown


def test_table5_shows_oom_and_paper_values_only_at_128(tmp_path):
    def quantity(value):
        return {"median": value, "values": [value]}

    def record(model, size, tm, im, it, device):
        return {"model": model, "size": size, "device": "cuda", "device_name": device,
                "training_memory": quantity(tm), "inference_memory": quantity(im),
                "inference_throughput": quantity(it)}

    records = [
        record("segmamba", 128, 17000.0, 6000.0, 1.4, "A100"),
        record("segmamba_m6", 128, "OOM", "OOM", "OOM", "A100"),
        record("uxnet", 32, 100.0, 50.0, 9.0, "cpu"),
    ]
    paths = []
    for record in records:
        path = tmp_path / f"{record['model']}_{record['size']}.json"
        path.write_text(json.dumps(record))
        paths.append(str(path))
    build.make_table5(paths, reduced_scale=False, prefix=str(tmp_path / "table5"))
    tidy = pd.read_csv(tmp_path / "table5.csv", keep_default_na=False, na_values=[""])

    ours_tm = cell(tidy, "segmamba", "tm")
    assert ours_tm["mean"] == pytest.approx(17000.0) and ours_tm["paper"] == pytest.approx(17976)
    assert ours_tm["diff"] == pytest.approx(17000.0 - 17976)
    assert cell(tidy, "segmamba_m6", "tm")["status"] == "OOM"
    assert math.isnan(cell(tidy, "uxnet", "tm")["paper"])  # 32³ is not the paper's size
    markdown = (tmp_path / "table5.md").read_text()
    m6_line = next(line for line in markdown.splitlines() if line.startswith("| M6 @ 128³"))
    assert "OOM" in m6_line and "✓" in m6_line
    ux_line = next(line for line in markdown.splitlines() if line.startswith("| M4 (UX-Net) @ 32³"))
    assert "✗" in ux_line and "paper" not in ux_line
    assert "REDUCED SCALE" not in markdown


def test_missing_metric_column_is_an_input_error(tmp_path):
    path = write_csv(tmp_path / "bad.csv", {"dice": SEGMAMBA_DICE})
    with pytest.raises(InputError, match="hd95"):
        build.make_table3({"segmamba": path}, True, str(tmp_path / "t"))


def test_csv_without_case_column_is_an_input_error(tmp_path):
    path = tmp_path / "nocase.csv"
    pd.DataFrame({"dice": [0.5]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="case"):
        tables.read_case_metrics(path)


@pytest.mark.parametrize(("p_value", "text"), [(0.0312, "p=0.031"), (0.0004, "p<0.001"), (float("nan"), "")])
def test_format_p_value(p_value, text):
    assert tables.format_p_value(p_value) == text


def test_latex_escape_handles_specials():
    assert tables.latex_escape("Dice (%) ± 1_2 & Δ") == r"Dice (\%) $\pm$ 1\_2 \& $\Delta$"


def test_efficiency_json_without_quantities_is_an_input_error(tmp_path):
    path = tmp_path / "eff.json"
    path.write_text(json.dumps({"model": "segmamba", "size": 32}))
    with pytest.raises(InputError, match="training_memory"):
        tables.read_efficiency(path)
