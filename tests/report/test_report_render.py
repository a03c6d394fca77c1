"""The Markdown and LaTeX layout of Table 2: widths, sections, paper rows, significance markers and method notes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from segmamba.data.dataset_config import resolve_dataset
from segmamba.report import build, notes, render, tables

SCREEN = 120  # characters: the widest Markdown line allowed
N = 12  # with 7 comparisons per column, 8 cases could not reach a Holm-adjusted p < 0.05 (7 * 2/2^8 > 0.05)
CASES = [f"case{i}" for i in range(N)]
METHODS = ["segresnet", "uxnet", "mednext", "unetr", "swinunetr", "swinunetr_v2", "segmamba", "nnunet_resenc_m"]
LABELS = ["SegresNet", "UX-Net", "MedNeXt", "UNETR", "SwinUNETR", "SwinUNETR-V2", "SegMamba", "nnU-Net ResEnc M ‡"]
BRATS = [("dice_wt", "WT Dice (%)"), ("dice_tc", "TC Dice (%)"), ("dice_et", "ET Dice (%)")]


def per_case_values(rng) -> dict[str, dict[str, np.ndarray]]:
    """Per-case metrics of every method: UX-Net always below SegMamba (significant), SwinUNETR HD95 near
    the BraTS one-empty value 373.13 (the widest cells), the others random."""
    segmamba = {f"dice_{r}": rng.uniform(0.6, 0.9, N) for r in ("wt", "tc", "et")}
    segmamba |= {f"hd95_{r}": rng.uniform(1.0, 10.0, N) for r in ("wt", "tc", "et")}
    segmamba |= {m: rng.uniform(0.3, 0.9, N) for m in ("iou", "dlr", "dbr")}
    values = {"segmamba": segmamba}
    for method in METHODS:
        if method == "segmamba":
            continue
        if method == "uxnet":
            values[method] = {k: v - 0.05 - rng.uniform(0, 0.01, N) for k, v in segmamba.items()}
        else:
            values[method] = {k: rng.uniform(0.0, 1.0, N) * v.max() for k, v in segmamba.items()}
    values["swinunetr"] |= {f"hd95_{r}": rng.uniform(150.0, 373.13, N) for r in ("wt", "tc", "et")}
    return values


@pytest.fixture(scope="module")
def table2(tmp_path_factory):
    """Table 2 of eight methods (the paper's seven and nnU-Net ResEnc M) on BraTS2023 and AIIB2023."""
    folder = tmp_path_factory.mktemp("table2")
    values = per_case_values(np.random.default_rng(3))
    layout = {"brats2023": {}, "aiib2023": {}}
    for method, columns in values.items():
        brats = {k: v for k, v in columns.items() if k.startswith(("dice", "hd95"))}
        aiib = {k: v for k, v in columns.items() if k in ("iou", "dlr", "dbr")}
        for dataset, metric_columns in (("brats2023", brats), ("aiib2023", aiib)):
            path = folder / f"{dataset}_{method}.csv"
            pd.DataFrame({"case": CASES, **metric_columns}).to_csv(path, index=False)
            layout[dataset][method] = str(path)
    build.make_paper_table("table2", layout, {"brats2023": True, "aiib2023": True}, str(folder / "table2"))
    return values, (folder / "table2.md").read_text(), (folder / "table2.tex").read_text(), folder / "table2.csv"


def sections(markdown: str) -> dict[str, list[list[str]]]:
    """{section heading: table rows as cell lists} of a Markdown document."""
    result, heading = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            heading = line[3:]
            result[heading] = []
        elif line.startswith("|") and heading is not None:
            result[heading].append([cell.strip() for cell in line.strip("|").split("|")])
    return result


def holm_adjusted(values: dict, metric) -> dict[str, float]:
    """{method: Holm-adjusted Wilcoxon p-value against SegMamba} of one column, with scipy and statsmodels;
    ``metric(columns)`` gives a method's per-case values."""
    others = [method for method in METHODS if method != "segmamba"]
    p_values = [wilcoxon(metric(values[m]), metric(values["segmamba"])).pvalue for m in others]
    return dict(zip(others, multipletests(p_values, method="holm")[1], strict=True))


def expected_cell(values: np.ndarray, p_holm: float | None, scale: float) -> str:
    """``mean ± std`` with the marker (Holm-adjusted p < 0.05), computed with numpy."""
    text = f"{scale * values.mean():.2f} ± {scale * values.std(ddof=1):.2f}"
    return text + (" †" if p_holm is not None and p_holm < 0.05 else "")


def our_rows(section: list[list[str]]) -> dict[str, list[str]]:
    """{method label: cells} of a section's method rows (not its CI and paper rows)."""
    return {row[0]: row[1:] for row in section[2:] if not row[0].startswith("↳")}


def test_no_markdown_line_is_wider_than_a_screen(table2):
    _, markdown, _, csv_path = table2
    widths = [len(line) for line in markdown.splitlines()]
    assert max(widths) <= SCREEN, max(widths)
    tidy = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
    unsplit = render.markdown_section(tidy, render.table_columns(tidy))
    assert max(len(line) for line in unsplit) > SCREEN  # one table of all eleven columns would not fit


def test_table2_is_split_into_the_papers_column_groups(table2):
    _, markdown, _, _ = table2
    tables = sections(markdown)
    assert list(tables) == ["BraTS2023: Dice (%)", "BraTS2023: HD95 (mm)", "AIIB2023"]
    assert tables["BraTS2023: Dice (%)"][0] == ["Method", "WT Dice (%)", "TC Dice (%)", "ET Dice (%)", "Avg Dice (%)"]
    assert tables["AIIB2023"][0] == ["Method", "Airway IoU (%)", "Airway DLR (%)", "Airway DBR (%)"]


def test_each_paper_method_is_followed_by_its_paper_row(table2):
    _, markdown, _, _ = table2
    rows = sections(markdown)["BraTS2023: Dice (%)"][2:]
    labels = [row[0] for row in rows]
    expected = [label for label in LABELS[:-1] for label in (label, "↳ 95% CI", "↳ paper")]
    assert labels == expected + [LABELS[-1], "↳ 95% CI"]
    paper_rows = dict(zip(labels[::3], rows[2::3], strict=False))
    assert paper_rows["SegMamba"] == ["↳ paper", "93.61", "92.65", "87.71", "91.32"]  # the paper's Table 2
    assert paper_rows["SegresNet"] == ["↳ paper", "92.02", "89.10", "83.66", "88.26"]
    assert set(our_rows(sections(markdown)["AIIB2023"])) == set(LABELS)


def test_cells_are_mean_std_with_the_significance_marker(table2):
    values, markdown, _, _ = table2
    dice = our_rows(sections(markdown)["BraTS2023: Dice (%)"])
    hd95 = our_rows(sections(markdown)["BraTS2023: HD95 (mm)"])

    def average(columns):
        return np.mean([columns[f"dice_{r}"] for r in ("wt", "tc", "et")], axis=0)

    adjusted = {key: holm_adjusted(values, lambda columns, key=key: columns[key]) for key, _ in BRATS}
    adjusted["dice_avg"] = holm_adjusted(values, average)
    adjusted["hd95_wt"] = holm_adjusted(values, lambda columns: columns["hd95_wt"])
    markers = 0
    for method, label in zip(METHODS, LABELS, strict=True):
        for index, (key, _) in enumerate(BRATS):
            expected = expected_cell(values[method][key], adjusted[key].get(method), 100)
            assert dice[label][index] == expected, (method, key)
            markers += expected.endswith("†")
        assert dice[label][3] == expected_cell(average(values[method]), adjusted["dice_avg"].get(method), 100)
        assert hd95[label][0] == expected_cell(values[method]["hd95_wt"], adjusted["hd95_wt"].get(method), 1)
    assert dice["UX-Net"][0].endswith("†") and not dice["SegMamba"][0].endswith("†")
    assert 0 < markers < 3 * (len(METHODS) - 1)  # the test covers both marked and unmarked cells


def test_p_values_and_differences_stay_out_of_the_tables(table2):
    _, markdown, latex, _ = table2
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert not any("p=" in line or "p<" in line or "Δ" in line or "(paper" in line for line in table_lines)
    notes = " ".join(line for line in markdown.splitlines() if not line.startswith(("|", "#")))
    notes = " ".join(notes.split())
    assert "† Holm-adjusted p < 0.05 against SegMamba: two-sided paired Wilcoxon signed-rank test" in notes
    assert "Holm-adjusted over the comparisons of each column (one metric on one dataset)" in notes
    assert "Exact and adjusted p-values (p_value, p_holm)" in notes and "Δ = ours − paper" in notes
    assert "cannot reach" not in notes  # n = 12 with 7 comparisons can reach a Holm-adjusted p < 0.05
    assert "Test cases: BraTS2023 n = 12, AIIB2023 n = 12." in notes


def test_method_note_is_rendered_at_the_row_and_under_the_table(table2):
    _, markdown, latex, _ = table2
    notes = " ".join(markdown.split())
    assert "‡ nnU-Net ResEnc M: not in the paper: compute-matched CNN reference (nnU-Net Revisited)." in notes
    assert r"nnU-Net ResEnc M $^\ddagger$ &" in latex
    assert r"$^\ddagger$ nnU-Net ResEnc M: not in the paper" in latex


def test_latex_keeps_the_papers_one_table_layout(table2):
    _, _, latex, _ = table2
    assert r"\multicolumn{8}{c}{BraTS2023} & \multicolumn{3}{c}{AIIB2023} \\" in latex
    assert r"\cmidrule(lr){2-9}\cmidrule(lr){10-12}" in latex
    assert latex.count(r"\quad\textit{paper}") == 7
    segmamba_paper = "93.61 & 3.37 & 92.65 & 3.85 & 87.71 & 3.48 & 91.32 & 3.56 & 88.59 & 70.21 & 61.33"
    assert rf"\quad\textit{{paper}} & {segmamba_paper} \\" in latex


def own_dataset(tmp_path, label_names: list[str], regions=None):
    """The registry definition of a dataset of your own with these foreground labels (dataset.json only)."""
    labels = {"background": 0, **{name: value for value, name in enumerate(label_names, start=1)}}
    meta = {"channel_names": {"0": "CT"}, "labels": labels, "file_ending": ".nii.gz"}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    return resolve_dataset("mydata", {"format": "nnunet", "root": str(tmp_path), "regions": regions})


def own_metrics(definition, methods, rng) -> dict[str, pd.DataFrame]:
    """Per-case metrics of ``methods`` in the dataset's CSV columns (Dice fractions, HD95 in mm)."""
    return {
        method: pd.DataFrame(
            {
                c: rng.uniform(0.2, 0.9, N) if c.startswith("dice") else rng.uniform(1, 373.13, N)
                for c in definition.metric_columns()
            },
            index=CASES,
        )
        for method in methods
    }


def test_a_dataset_of_its_own_with_many_labels_is_split_to_fit_the_screen(tmp_path):
    """Twelve labels, some with long names, eight methods: our numbers only, in chunks no wider than the screen."""
    names = [f"label {i}" for i in range(1, 10)] + ["Left Anterior Descending Artery", "Inferior Vena Cava", "Aorta"]
    definition = own_dataset(tmp_path, names)
    metrics = own_metrics(definition, METHODS, np.random.default_rng(5))
    tidy = tables.build_dataset_table(definition, metrics, synthetic=False)
    markdown = render.render_markdown(tidy, "mydata", notes.accuracy_notes(tidy, [build.dataset_note(definition)]))
    assert max(len(line) for line in markdown.splitlines()) <= SCREEN
    headings = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    assert len(headings) >= 4 and all(h.startswith(("mydata: Dice (%) (", "mydata: HD95 (mm) (")) for h in headings)
    header_cells = [c.strip() for line in markdown.splitlines() if line.startswith("| Method") for c in line.split("|")]
    expected = [f"{n} {metric}" for metric in ("Dice (%)", "HD95 (mm)") for n in [*names, "Mean"]]
    assert [c for c in header_cells if c.endswith(("Dice (%)", "HD95 (mm)"))] == expected  # all, in order
    for section in sections(markdown).values():
        labels = [row[0] for row in section[2:]]
        assert labels == [label for label in LABELS for label in (label, "↳ 95% CI")]  # every method, no paper rows
    assert "↳ paper" not in markdown and "SYNTHETIC" not in markdown
    note_text = " ".join(markdown.split())
    assert "Dataset mydata (nnU-Net dataset; channels CT; labels 1 label 1," in note_text
    assert "the CI (ci_low, ci_high) and n are in the CSV." in note_text
    assert "Δ" not in note_text  # no paper values to differ from
    ours = tidy[(tidy["method"] == "nnunet_resenc_m") & (tidy["metric"] == "dice_left_anterior_descending_artery")]
    values = metrics["nnunet_resenc_m"]["dice_left_anterior_descending_artery"]
    reference = metrics["segmamba"]["dice_left_anterior_descending_artery"]
    assert ours["mean"].item() == pytest.approx(100 * values.mean())
    assert ours["std"].item() == pytest.approx(100 * values.std(ddof=1))
    assert ours["p_value"].item() == pytest.approx(wilcoxon(values, reference).pvalue)
    assert tidy["paper"].isna().all() and set(tidy["table"]) == {"mydata"} and set(tidy["dataset"]) == {"mydata"}


def test_a_dataset_of_its_own_that_fits_is_one_table(tmp_path):
    definition = own_dataset(tmp_path, ["Edema", "Necrosis", "Enhancing"], regions={"core": [2, 3]})
    metrics = own_metrics(definition, ["segmamba", "uxnet"], np.random.default_rng(6))
    markdown = render.render_markdown(tables.build_dataset_table(definition, metrics, False), "mydata", [])
    assert "## " not in markdown and max(len(line) for line in markdown.splitlines()) <= SCREEN
    header = next(line for line in markdown.splitlines() if line.startswith("| Method"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Method",
        "core Dice (%)",
        "core HD95 (mm)",
        "Mean Dice (%)",
        "Mean HD95 (mm)",
    ]
