"""Paper tables from hand-made metric CSVs and efficiency JSONs: values, p-values, paper columns, collapse marks."""

from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.errors import InputError
from segmamba.report import build, efficiency_table, protocol_inputs, render, tables

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


def make_table3(layout: dict, synthetic: bool, prefix: str, outcome_files: dict | None = None) -> None:
    """Table 3 from ``{model: CRC-500 metrics CSV}`` (the workflow passes ``{dataset: ...}`` for every table)."""
    outcomes = {"crc500": outcome_files} if outcome_files else None
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": synthetic}, prefix, outcomes)


def cell(tidy: pd.DataFrame, method: str, metric: str) -> dict:
    """The single tidy row of one method and metric."""
    rows = tidy[(tidy["method"] == method) & (tidy["metric"] == metric)]
    assert len(rows) == 1, (method, metric, len(rows))
    return rows.iloc[0].to_dict()


def table_lines(markdown: str) -> list[str]:
    """The Markdown table rows (header and separator included)."""
    return [line for line in markdown.splitlines() if line.startswith("|")]


def row_cells(markdown: str, label: str) -> list[list[str]]:
    """Cells (label first) of every table row whose label is ``label``."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table_lines(markdown)]
    return [row for row in rows if row[0] == label]


def test_table3_values_pvalues_and_paper_columns(tmp_path, crc_layout):
    make_table3(crc_layout, synthetic=True, prefix=str(tmp_path / "table3"))
    tidy = pd.read_csv(tmp_path / "table3.csv")
    required = "table dataset row column method metric size n mean std status paper diff p_value".split()
    assert list(tidy.columns[: len(required)]) == required  # the columns the issue asks for, in its order

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
    (ux_row,) = row_cells(markdown, "UX-Net")
    p_dice = wilcoxon(UXNET_DICE, SEGMAMBA_DICE).pvalue  # 0.03125 for six cases, all worse: significant
    assert p_dice < 0.05
    assert ux_row[1] == f"{100 * np.mean(UXNET_DICE):.2f} ± {100 * np.std(UXNET_DICE, ddof=1):.2f} †"
    assert ux_row[2] == f"{np.mean(UXNET_HD95):.2f} ± {np.std(UXNET_HD95, ddof=1):.2f}"  # p = 0.0625: no marker
    assert row_cells(markdown, "MedNeXt") == [["MedNeXt", "not run", "not run"]]
    assert row_cells(markdown, "↳ paper") == [["↳ paper", "45.73", "49.73"], ["↳ paper", "48.02", "30.89"]]
    latex = (tmp_path / "table3.tex").read_text()
    assert latex.startswith(r"\begin{table}") and r"$\pm$" in latex and r"\end{tabular}" in latex
    assert r"\quad\textit{paper} & 45.73 & 49.73 \\" in latex and r"$^\dagger$" in latex


def test_real_data_tables_carry_no_synthetic_warning(tmp_path, crc_layout):
    make_table3(crc_layout, synthetic=False, prefix=str(tmp_path / "table3"))
    assert "SYNTHETIC" not in (tmp_path / "table3.md").read_text()


def test_synthetic_note_says_what_the_numbers_are(tmp_path, crc_layout):
    make_table3(crc_layout, synthetic=True, prefix=str(tmp_path / "table3"))
    markdown = " ".join((tmp_path / "table3.md").read_text().split())
    assert "runs and learns" not in markdown
    assert "COMPUTED ON SYNTHETIC DATA (CRC-500)" in markdown and "do not rank the methods" in markdown


def test_table2_average_is_the_per_case_mean_of_the_three_regions(tmp_path):
    rng = np.random.default_rng(0)
    layout = {}
    region_values = {}
    for model in ("segmamba", "unetr"):
        columns = {f"dice_{r}": rng.uniform(0.5, 1.0, 6) for r in ("wt", "tc", "et")}
        columns |= {f"hd95_{r}": rng.uniform(1.0, 9.0, 6) for r in ("wt", "tc", "et")}
        region_values[model] = columns
        layout[model] = write_csv(tmp_path / f"brats_{model}.csv", columns)
    build.make_paper_table("table2", {"brats2023": layout}, {"brats2023": True}, str(tmp_path / "table2"))
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
    make_table3({"segmamba": reference, "uxnet": str(tmp_path / "ux.csv")}, True, str(tmp_path / "t3"))
    tidy = pd.read_csv(tmp_path / "t3.csv")
    assert cell(tidy, "uxnet", "dice")["p_value"] == pytest.approx(wilcoxon(UXNET_DICE, SEGMAMBA_DICE).pvalue, rel=1e-4)


def test_table4_has_module_marks_and_ablation_paper_values(tmp_path, crc_layout):
    build.make_table4(crc_layout, dataset_file(tmp_path, "crc500"), str(tmp_path / "table4"))
    tidy = pd.read_csv(tmp_path / "table4.csv", keep_default_na=False)
    marks = tidy[(tidy["status"] == "text") & (tidy["method"] == "segmamba_m2")].set_index("column")["text"]
    assert marks.to_dict() == {"LC": "", "GSC": "✓", "ToM": ""}
    assert float(cell(tidy, "segmamba_m1", "hd95")["paper"]) == pytest.approx(43.01)
    markdown = (tmp_path / "table4.md").read_text()
    assert row_cells(markdown, "M3") == [["M3", "", "", "✓", "not run", "not run"]]
    assert "CRC-500" in markdown


def test_table4_on_another_dataset_has_no_paper_values(tmp_path):
    rng = np.random.default_rng(1)
    columns = {f"{m}_{r}": rng.uniform(0.5, 1.0, 6) for m in ("dice", "hd95") for r in ("wt", "tc", "et")}
    layout = {"segmamba": write_csv(tmp_path / "s.csv", columns)}
    build.make_table4(layout, dataset_file(tmp_path, "brats2023"), str(tmp_path / "table4"))
    tidy = pd.read_csv(tmp_path / "table4.csv")
    assert tidy[tidy["status"] != "text"]["paper"].isna().all()
    assert "↳ paper" not in (tmp_path / "table4.md").read_text()


def test_table4_on_a_dataset_of_your_own_reports_its_labels(tmp_path):
    """The ablation pointed at a dataset of your own: its Dice/HD95 per label and mean, no paper values."""
    meta = {"channel_names": {"0": "T1"}, "labels": {"background": 0, "Grey Matter": 1, "white": 2}}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    entry = {"activate": False, "format": "nnunet", "root": str(tmp_path)}
    columns = ["dice_grey_matter", "dice_white", "dice_mean", "hd95_grey_matter", "hd95_white", "hd95_mean"]
    rng = np.random.default_rng(2)
    per_model = {m: {c: rng.uniform(0.3, 0.9, 6) for c in columns} for m in ("segmamba", "segmamba_m2")}
    layout = {m: write_csv(tmp_path / f"{m}.csv", values) for m, values in per_model.items()}
    build.make_table4(layout, dataset_file(tmp_path, "brain", entry), str(tmp_path / "table4"))
    tidy = pd.read_csv(tmp_path / "table4.csv")
    measured = tidy[tidy["status"] != "text"]
    assert list(dict.fromkeys(measured["metric"])) == [
        "dice_grey_matter",
        "hd95_grey_matter",
        "dice_white",
        "hd95_white",
        "dice_mean",
        "hd95_mean",
    ]
    assert measured["paper"].isna().all() and set(tidy["dataset"]) == {"brain"}
    m2 = cell(tidy, "segmamba_m2", "dice_white")
    assert m2["mean"] == pytest.approx(100 * per_model["segmamba_m2"]["dice_white"].mean())
    white = per_model["segmamba_m2"]["dice_white"], per_model["segmamba"]["dice_white"]
    assert m2["p_value"] == pytest.approx(wilcoxon(*white).pvalue)
    markdown = " ".join((tmp_path / "table4.md").read_text().split())
    assert "Dataset: brain (the paper's ablation uses CRC-500; no paper values)." in markdown
    assert row_cells((tmp_path / "table4.md").read_text(), "M1")[0][1:4] == ["", "", ""]  # M1 not run: no modules


def dataset_file(folder, name, entry=None) -> str:
    """The dataset file of config entry ``entry`` (default: a paper dataset's synthetic stand-in)."""
    path = folder / f"{name}.dataset.json"
    resolve_dataset_file(name, entry or {}, (entry or {}).get("root", "")).write(path)
    return str(path)


def write_json(path, content) -> str:
    path.write_text(json.dumps(content))
    return str(path)


def test_collapsed_and_all_background_trainings_are_marked_not_printed_as_zero(tmp_path, crc_layout):
    zeros = {"dice": [0.0] * 6, "hd95": [50.0] * 6}
    layout = {
        **crc_layout,
        "mednext": write_csv(tmp_path / "mednext.csv", zeros),
        "unetr": write_csv(tmp_path / "unetr.csv", zeros),
        "swinunetr": write_csv(tmp_path / "swin.csv", zeros),
    }
    reason = "the last validation (epoch 4) predicted only background on all 1 case(s)"

    def evaluation_summary(name, empty):
        metric = {"mean": 0.0, "n": 6, "n_empty_prediction": empty}
        content = {"n_cases": 6, "metrics": {"dice": metric, "hd95": metric}}
        return write_json(tmp_path / f"{name}.summary.json", content)

    outcome_files = {
        "uxnet": {"train_summary": write_json(tmp_path / "ux.json", {"collapsed": True, "collapse_reason": reason})},
        "segmamba": {"train_summary": write_json(tmp_path / "sm.json", {"collapsed": False, "collapse_reason": None})},
        # no train summary: every test prediction empty -> marked; five of six empty -> a number (control)
        "mednext": {"train_summary": str(tmp_path / "absent.json"), "metrics_summary": evaluation_summary("m", 6)},
        "unetr": {"metrics_summary": evaluation_summary("u", 5)},
        # a summary written before collapse detection existed says nothing
        "swinunetr": {"train_summary": write_json(tmp_path / "old.json", {"model": "swinunetr"})},
    }
    make_table3(layout, True, str(tmp_path / "table3"), outcome_files)
    tidy = pd.read_csv(tmp_path / "table3.csv", keep_default_na=False, na_values=[""])

    ux = cell(tidy, "uxnet", "dice")
    assert ux["status"] == "collapsed" and ux["note"] == reason
    assert ux["mean"] == pytest.approx(100 * np.mean(UXNET_DICE), abs=1e-4)  # the number stays in the CSV
    assert cell(tidy, "mednext", "hd95")["status"] == "background only"
    for method in ("segmamba", "unetr", "swinunetr"):
        assert cell(tidy, method, "dice")["status"] == "ok", method

    markdown = (tmp_path / "table3.md").read_text()
    assert row_cells(markdown, "UX-Net") == [["UX-Net", "collapsed", "collapsed"]]
    ci_rows = row_cells(markdown, "↳ 95% CI")  # SegMamba, UNETR, SwinUNETR: no CI beneath a status
    assert len(ci_rows) == 3 and all(cell.startswith("[") for row in ci_rows for cell in row[1:])
    assert row_cells(markdown, "MedNeXt") == [["MedNeXt", "all background", "all background"]]
    # p = 0.03125 (six cases, all worse), but four comparisons per column: Holm-adjusted 0.125, no marker
    assert row_cells(markdown, "UNETR") == [["UNETR", "0.00 ± 0.00", "50.00 ± 0.00"]]
    notes = " ".join(markdown.split())
    assert "collapsed: the training collapsed" in notes and "UX-Net on CRC-500." in notes
    assert "every test prediction is background only: MedNeXt on CRC-500." in notes


def test_all_background_mark_reads_the_evaluation_summary_that_segmamba_evaluate_writes(tmp_path):
    from segmamba.evaluate.evaluate import run_evaluation, summary_path

    truth = np.zeros((8, 8, 8), dtype=np.uint8)
    truth[2:5, 2:5, 2:5] = 1
    for folder in ("gt", "empty", "partial"):
        (tmp_path / folder).mkdir()
    for index, case in enumerate(("a", "b")):
        nib.save(nib.Nifti1Image(truth, np.eye(4)), tmp_path / "gt" / f"{case}.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros_like(truth), np.eye(4)), tmp_path / "empty" / f"{case}.nii.gz")
        partial = truth if index == 0 else np.zeros_like(truth)
        nib.save(nib.Nifti1Image(partial, np.eye(4)), tmp_path / "partial" / f"{case}.nii.gz")
    outcomes = {}
    for name in ("empty", "partial"):
        csv_path = tmp_path / f"{name}.csv"
        run_evaluation("crc500", tmp_path / name, tmp_path / "gt", csv_path)
        outcomes[name] = protocol_inputs.read_outcomes({name: {"metrics_summary": str(summary_path(csv_path))}})[name]
    assert outcomes["empty"].status == tables.BACKGROUND_ONLY
    assert outcomes["partial"].status == tables.OK


def test_corrupt_train_summary_is_an_input_error_naming_the_file(tmp_path):
    bad = tmp_path / "train_summary.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="train_summary.json"):
        protocol_inputs.read_outcomes({"segmamba": {"train_summary": str(bad)}})


def efficiency_json(tmp_path, model, size, tm, im, it, device="NVIDIA H200", **fields) -> str:
    """An efficiency JSON as `segmamba efficiency` writes it (quantities with median, values, unit)."""

    def quantity(value, unit="MB"):
        return None if value is None else {"median": value, "values": [value] * 3, "unit": unit}

    record = {
        "model": model,
        "size": size,
        "device": "cuda",
        "device_name": device,
        "training_memory": quantity(tm),
        "inference_memory": quantity(im),
        "inference_throughput": quantity(it, "cases/s"),
    }
    for key in ("training_memory_reserved", "inference_memory_reserved"):
        if key in fields:
            fields[key] = quantity(fields[key])
    record.update(fields)
    name = f"{model}_{size}_{fields.get('variant') or 'plain'}.json".replace(" ", "_")
    return write_json(tmp_path / name, record)


@pytest.fixture
def efficiency_results(tmp_path):
    """Hand-made JSONs in the shape of the scan-backend-aware `segmamba efficiency`, plus an older one."""
    return [
        efficiency_json(
            tmp_path,
            "segmamba",
            128,
            17000.0,
            6000.0,
            1.4,
            scan_backend="triton",
            sequence_length=262144,
            training_memory_reserved=18500.0,
            inference_memory_reserved=6500.0,
        ),
        efficiency_json(
            tmp_path,
            "segmamba_m6",
            128,
            "OOM",
            "OOM",
            "OOM",
            scan_backend=None,
            variant=None,
            sequence_length=262144,
            training_memory_reserved="OOM",
            inference_memory_reserved="OOM",
        ),
        efficiency_json(
            tmp_path,
            "segmamba_m6",
            128,
            30000.0,
            9000.0,
            0.9,
            scan_backend=None,
            variant="fused attention",
            sequence_length=262144,
            training_memory_reserved=31000.0,
            inference_memory_reserved=9500.0,
        ),
        efficiency_json(
            tmp_path,
            "swinunetr",
            32,
            300.0,
            200.0,
            5.0,
            device="cpu",
            scan_backend=None,
            sequence_length=4096,
            training_memory_reserved=None,
            inference_memory_reserved=None,
        ),
        efficiency_json(tmp_path, "uxnet", 32, 100.0, 50.0, 9.0, device="cpu"),  # written before the new fields
    ]


def test_table5_names_the_dataset_whose_shape_the_inputs_have(tmp_path):
    paths = [efficiency_json(tmp_path, "segmamba", 32, 10.0, 5.0, 2.0, in_channels=2, out_channels=4)]
    build.make_table5(paths, reduced_scale=True, prefix=str(tmp_path / "table5"), dataset="tiny_lesions")
    markdown = " ".join((tmp_path / "table5.md").read_text().split())
    assert "Inputs: random volumes shaped like tiny_lesions (2 input channel(s), 4 output classes)." in markdown


def test_table5_columns_rows_and_paper_values(tmp_path, efficiency_results):
    build.make_table5(efficiency_results, reduced_scale=False, prefix=str(tmp_path / "table5"))
    tidy = pd.read_csv(tmp_path / "table5.csv", keep_default_na=False, na_values=[""])

    def text(row, column):
        (value,) = tidy[(tidy["row"] == row) & (tidy["column"] == column)]["text"]
        return value

    assert text("SegMamba @ 128³", "Sequence length") == "262,144"
    assert text("M4 (UX-Net) @ 32³", "Sequence length") == "4,096"  # (32/2)³ when the JSON does not say
    assert text("SegMamba @ 128³", "Scan backend") == "triton"
    assert text("M6 @ 128³", "Scan backend") == "—"
    assert text("M4 (UX-Net) @ 32³", "Scan backend") == "not recorded"
    assert text("M6 @ 128³ (fused attention)", "Core module") == "Self-attention"

    segmamba = tidy[tidy["row"] == "SegMamba @ 128³"].set_index("metric")
    assert segmamba.loc["tm", "mean"] == pytest.approx(17000.0) and segmamba.loc["tm", "paper"] == pytest.approx(17976)
    assert segmamba.loc["tm", "diff"] == pytest.approx(17000.0 - 17976) and segmamba.loc["tm", "n"] == 3
    assert segmamba.loc["tm_reserved", "mean"] == pytest.approx(18500.0)
    assert math.isnan(segmamba.loc["tm_reserved", "paper"])
    fused = tidy[(tidy["row"] == "M6 @ 128³ (fused attention)") & (tidy["metric"] == "tm")].iloc[0]
    assert fused["mean"] == pytest.approx(30000.0) and math.isnan(fused["paper"])  # not the paper's variant
    m6 = tidy[(tidy["row"] == "M6 @ 128³") & (tidy["metric"] == "tm")].iloc[0]
    assert m6["status"] == "OOM" and m6["text"] == "paper: OOM"
    assert text("M4 (UX-Net) @ 32³", "TM reserved (MB)") == "–"  # not recorded by this JSON
    assert math.isnan(cell(tidy, "uxnet", "tm")["paper"])  # 32³ is not the paper's size

    markdown = (tmp_path / "table5.md").read_text()
    assert "## Set-up" in markdown and "## Measured" in markdown
    assert all(len(line) <= 120 for line in markdown.splitlines())
    measured = markdown[markdown.index("## Measured") :]
    header = [c.strip() for c in table_lines(measured)[0].strip("|").split("|")]
    assert header == ["Method", "TM (MB)", "TM reserved (MB)", "IM (MB)", "IM reserved (MB)", "IT (cases/s)"]
    lines = table_lines(measured)
    index = next(i for i, line in enumerate(lines) if line.startswith("| SegMamba @ 128³ "))
    assert [c.strip() for c in lines[index].strip("|").split("|")] == [
        "SegMamba @ 128³",
        "17,000",
        "18,500",
        "6,000",
        "6,500",
        "1.40",
    ]
    assert [c.strip() for c in lines[index + 1].strip("|").split("|")] == [
        "↳ paper",
        "17,976",
        "–",
        "6,279",
        "–",
        "1.51",
    ]  # the paper reports no reserved memory
    index = next(i for i, line in enumerate(lines) if line.startswith("| M6 @ 128³ "))
    assert [c.strip() for c in lines[index + 1].strip("|").split("|")] == ["↳ paper", "OOM", "–", "–", "–", "–"]
    assert "OOM" in lines[index]
    index = next(i for i, line in enumerate(lines) if line.startswith("| M6 @ 128³ (fused attention)"))
    assert not lines[index + 1].startswith("| ↳ paper")
    ux_line = next(line for line in lines if line.startswith("| M4 (UX-Net) @ 32³"))
    assert [c.strip() for c in ux_line.strip("|").split("|")] == ["M4 (UX-Net) @ 32³", "100", "–", "50", "–", "9.00"]
    setup = markdown[: markdown.index("## Measured")]
    m6_setup = next(line for line in table_lines(setup) if line.startswith("| M6 @ 128³ "))
    assert "✓" in m6_setup and "262,144" in m6_setup
    assert "REDUCED SCALE" not in markdown


def test_efficiency_chart_labels_variants(tmp_path, efficiency_results):
    build.make_efficiency_chart(efficiency_results, str(tmp_path / "efficiency.png"))
    assert (tmp_path / "efficiency.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_metric_column_is_an_input_error(tmp_path):
    path = write_csv(tmp_path / "bad.csv", {"dice": SEGMAMBA_DICE})
    with pytest.raises(InputError, match="hd95"):
        make_table3({"segmamba": path}, True, str(tmp_path / "t"))


def test_csv_without_case_column_is_an_input_error(tmp_path):
    path = tmp_path / "nocase.csv"
    pd.DataFrame({"dice": [0.5]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="case"):
        tables.read_case_metrics(path)


def test_latex_escape_handles_specials():
    assert render.latex_escape("Dice (%) ± 1_2 & Δ †") == r"Dice (\%) $\pm$ 1\_2 \& $\Delta$ $^\dagger$"


def test_efficiency_json_without_quantities_is_an_input_error(tmp_path):
    path = tmp_path / "eff.json"
    path.write_text(json.dumps({"model": "segmamba", "size": 32}))
    with pytest.raises(InputError, match="training_memory"):
        efficiency_table.read_efficiency(path)


def test_a_table_no_registered_dataset_belongs_to_is_an_input_error():
    with pytest.raises(InputError, match="table9"):
        tables.build_paper_table("table9", {}, {})
