"""Markdown and LaTeX layouts of the tidy tables (``segmamba.report.tables``), and their notes.

Both layouts show one row per method with our mean ± std, a significance marker (``†``: p < 0.05 against
SegMamba), and beneath it a row with the paper's values where the paper has any. The exact p-values and
Δ (ours − paper) stay in the CSV. A Markdown table wider than ``MARKDOWN_WIDTH`` characters is split, first
into one table per dataset, then into one per column group (e.g. Dice, HD95); LaTeX keeps one table.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from segmamba.data.registry import dataset_label
from segmamba.io_utils import write_text_atomic
from segmamba.report import paper
from segmamba.report.tables import BACKGROUND_ONLY, COLLAPSED, MISSING, OOM, REFERENCE_MODEL, TEXT

#: Widest line (characters) of a Markdown table; wider tables are split.
MARKDOWN_WIDTH = 120

#: p-value below which a cell carries ``SIGNIFICANCE_MARKER``.
SIGNIFICANCE_LEVEL = 0.05
SIGNIFICANCE_MARKER = "†"

#: Label of the row with the paper's values beneath each method.
PAPER_ROW = "↳ paper"

#: Markers of the per-method notes (``paper.METHOD_NOTES``), in order (the footnote symbols after †).
NOTE_MARKERS = ("‡", "§", "¶", "‖")

#: Cell text of the statuses that replace our number.
STATUS_TEXT = {MISSING: "not run", COLLAPSED: "collapsed", BACKGROUND_ONLY: "all background", OOM: "OOM"}


@dataclass(frozen=True)
class Column:
    """One table column: its dataset ("" for Table 5), column group and heading."""

    dataset: str
    group: str
    label: str


def _is_nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: float, decimals: int) -> str:
    """A number with ``decimals`` decimals and thousands separators (``17,976``, ``93.61``)."""
    return f"{value:,.{int(decimals)}f}"


def is_significant(cell: Mapping) -> bool:
    """Whether a cell's method differs from SegMamba at p < ``SIGNIFICANCE_LEVEL``."""
    return cell["method"] != REFERENCE_MODEL and not _is_nan(cell["p_value"]) and cell["p_value"] < SIGNIFICANCE_LEVEL


def our_text(cell: Mapping) -> str:
    """Our value of a cell: ``mean ± std`` (``†`` when significant), or the status that replaces it."""
    if cell["status"] == TEXT:
        return str(cell["text"])
    if cell["status"] in STATUS_TEXT:
        return STATUS_TEXT[cell["status"]]
    if _is_nan(cell["mean"]):
        return "n/a"
    text = format_number(cell["mean"], cell["decimals"])
    if not _is_nan(cell["std"]):
        text += " ± " + format_number(cell["std"], cell["decimals"])
    return text + (" " + SIGNIFICANCE_MARKER if is_significant(cell) else "")


def has_paper_value(cell: Mapping) -> bool:
    """Whether the paper reports this cell (a number, or a text such as OOM)."""
    return cell["status"] != TEXT and (not _is_nan(cell["paper"]) or str(cell["text"]).startswith("paper: "))


def paper_text(cell: Mapping) -> str:
    """The paper's value of a cell (``–`` when the paper does not report it; empty for text cells)."""
    if cell["status"] == TEXT:
        return ""
    if not _is_nan(cell["paper"]):
        return format_number(cell["paper"], cell["decimals"])
    text = str(cell["text"])
    return text.removeprefix("paper: ") if text.startswith("paper: ") else "–"


def note_markers(tidy: pd.DataFrame) -> dict[str, str]:
    """``{method: marker}`` of the methods in the table that carry a note (``paper.METHOD_NOTES``)."""
    noted = [method for method in dict.fromkeys(tidy["method"]) if method in paper.METHOD_NOTES]
    return {method: NOTE_MARKERS[index % len(NOTE_MARKERS)] for index, method in enumerate(noted)}


def table_columns(tidy: pd.DataFrame) -> list[Column]:
    """The table's columns in first-seen order."""
    keys = dict.fromkeys(zip(tidy["dataset"], tidy["group"], tidy["column"], strict=True))
    return [Column(*key) for key in keys]


def body_rows(tidy: pd.DataFrame, columns: Sequence[Column]) -> list[list[str]]:
    """Rows of cell texts: per table row, our row and, where the paper reports any of ``columns``, its row."""
    cells = {(r["row"], r["dataset"], r["column"]): r for r in tidy.to_dict("records")}
    markers = note_markers(tidy)
    rows = []
    for label, method in dict.fromkeys(zip(tidy["row"], tidy["method"], strict=True)):
        records = [cells.get((label, column.dataset, column.label)) for column in columns]
        if all(record is None for record in records):
            continue
        marker = markers.get(method)
        rows.append([f"{label} {marker}" if marker else label] + [our_text(r) if r else "" for r in records])
        if any(r is not None and has_paper_value(r) for r in records):
            rows.append([PAPER_ROW] + [paper_text(r) if r else "" for r in records])
    return rows


def headings(columns: Sequence[Column]) -> list[str]:
    """Column headings, prefixed with the dataset when the columns span several datasets."""
    several = len({column.dataset for column in columns}) > 1
    return [f"{dataset_label(c.dataset)} {c.label}" if several and c.dataset else c.label for c in columns]


def markdown_grid(header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[bool]) -> list[str]:
    """A Markdown table padded to aligned columns; ``left[i]``: column i is left-aligned (else right-aligned)."""
    widths = [max(len(str(line[index])) for line in [header, *rows]) for index in range(len(header))]

    def line(cells):
        padded = [
            str(cell).ljust(width) if is_left else str(cell).rjust(width)
            for cell, width, is_left in zip(cells, widths, left, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    separator = (
        "|"
        + "|".join(
            (":" + "-" * (width + 1)) if is_left else ("-" * (width + 1) + ":")
            for width, is_left in zip(widths, left, strict=True)
        )
        + "|"
    )
    return [line(header), separator, *(line(row) for row in rows)]


def is_text_column(tidy: pd.DataFrame, column: Column) -> bool:
    """Whether every cell of a column is descriptive text (left-aligned), not a number."""
    cells = tidy[(tidy["dataset"] == column.dataset) & (tidy["column"] == column.label)]
    return bool((cells["status"] == TEXT).all())


def markdown_section(tidy: pd.DataFrame, columns: Sequence[Column]) -> list[str]:
    """One Markdown table of ``columns`` (Method column first, left-aligned like text columns)."""
    left = [True] + [is_text_column(tidy, column) for column in columns]
    return markdown_grid(["Method", *headings(columns)], body_rows(tidy, columns), left)


def fits(lines: Sequence[str]) -> bool:
    """Whether no line is wider than ``MARKDOWN_WIDTH``."""
    return max((len(line) for line in lines), default=0) <= MARKDOWN_WIDTH


def fitting_chunks(tidy: pd.DataFrame, columns: Sequence[Column]) -> list[list[Column]]:
    """``columns`` in consecutive chunks, each as long as still fits (a single column always makes a chunk)."""
    chunks = [[]]
    for column in columns:
        if chunks[-1] and not fits(markdown_section(tidy, [*chunks[-1], column])):
            chunks.append([])
        chunks[-1].append(column)
    return chunks


def markdown_sections(tidy: pd.DataFrame) -> list[tuple[str | None, list[Column]]]:
    """(heading, columns) of the Markdown tables: the whole table if it fits, else one per dataset, else one per
    column group, else the group's columns in chunks that fit (headings numbered "(1/2)")."""
    columns = table_columns(tidy)
    if fits(markdown_section(tidy, columns)):
        return [(None, columns)]
    sections = []
    for dataset in dict.fromkeys(column.dataset for column in columns):
        of_dataset = [column for column in columns if column.dataset == dataset]
        name = dataset_label(dataset) if dataset else ""
        if fits(markdown_section(tidy, of_dataset)):
            sections.append((name, of_dataset))
            continue
        for group in dict.fromkeys(column.group for column in of_dataset):
            heading = f"{name}: {group}" if name and group else (name or group)
            chunks = fitting_chunks(tidy, [column for column in of_dataset if column.group == group])
            for index, chunk in enumerate(chunks, start=1):
                sections.append((f"{heading} ({index}/{len(chunks)})" if len(chunks) > 1 else heading, chunk))
    return sections


def wrap_note(note: str) -> list[str]:
    """A note as a Markdown list item wrapped to ``MARKDOWN_WIDTH``."""
    return textwrap.wrap(
        note, width=MARKDOWN_WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
    )


def render_markdown(tidy: pd.DataFrame, title: str, notes: Sequence[str]) -> str:
    """A Markdown document: title, the table(s) in the paper's layout, then the notes."""
    lines = [f"# {title}", ""]
    for heading, columns in markdown_sections(tidy):
        if heading:
            lines += [f"## {heading}", ""]
        lines += markdown_section(tidy, columns) + [""]
    for note in notes:
        lines += wrap_note(note)
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "✓": r"$\checkmark$",
    "✗": r"$\times$",
    "³": r"$^3$",
    "<": r"$<$",
    "−": "-",
    "–": "--",
    "—": "---",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "§": r"\S{}",
    "¶": r"\P{}",
    "‖": r"$\|$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and map the tables' Unicode symbols to math-mode equivalents."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in str(text))


def render_latex(tidy: pd.DataFrame, title: str, notes: Sequence[str], label: str) -> str:
    """A LaTeX ``table`` (booktabs, scaled to the line width): one table, dataset spans when several, notes."""
    columns = table_columns(tidy)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(title)}}}",
        rf"\label{{tab:{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        r"\begin{tabular}{l" + "c" * len(columns) + "}",
        r"\toprule",
    ]
    datasets = list(dict.fromkeys(column.dataset for column in columns))
    if len(datasets) > 1:
        spans, rules, start = [], [], 2
        for dataset in datasets:
            width = sum(column.dataset == dataset for column in columns)
            spans.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(dataset_label(dataset))}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
            start += width
        lines += [" & " + " & ".join(spans) + r" \\", "".join(rules)]
    lines += ["Method & " + " & ".join(latex_escape(column.label) for column in columns) + r" \\", r"\midrule"]
    for row in body_rows(tidy, columns):
        first = r"\quad\textit{paper}" if row[0] == PAPER_ROW else latex_escape(row[0])
        lines.append(first + " & " + " & ".join(latex_escape(cell) for cell in row[1:]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\par\footnotesize"]
    lines += [latex_escape(note) + r"\\" for note in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _cells_with_status(tidy: pd.DataFrame, status: str) -> str:
    """ "SegresNet on BraTS2023, ..." for the (method, dataset) pairs whose cells have ``status``."""
    marked = tidy[tidy["status"] == status]
    pairs = dict.fromkeys(zip(marked["row"], marked["dataset"], strict=True))
    return ", ".join(f"{row} on {dataset_label(dataset)}" for row, dataset in pairs)


def synthetic_note(tidy: pd.DataFrame) -> list[str]:
    """The banner of tables computed on synthetic stand-ins (none for real data)."""
    synthetic = tidy[tidy["synthetic"].astype(bool) & (tidy["dataset"] != "") & (tidy["status"] != MISSING)]
    names = list(dict.fromkeys(dataset_label(d) for d in synthetic["dataset"]))
    if not names:
        return []
    return [
        f"COMPUTED ON SYNTHETIC DATA ({', '.join(names)}) at a reduced scale: synthetic stand-in volumes, "
        "narrow models and a short training. The numbers say how well each model, trained this briefly, "
        "segments these stand-ins; they do not rank the methods and are not comparable with the paper's."
    ]


def method_notes(tidy: pd.DataFrame) -> list[str]:
    """The per-method notes (``paper.METHOD_NOTES``) of the methods in the table, with their markers."""
    return [
        f"{marker} {paper.method_label(method)}: {paper.METHOD_NOTES[method]}."
        for method, marker in note_markers(tidy).items()
    ]


def accuracy_notes(tidy: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    """The notes under an accuracy table (Tables 2-4 and dataset tables)."""
    cells = "Cells: our mean ± sample std over the test cases"
    with_paper = any(has_paper_value(record) for record in tidy.to_dict("records"))
    if with_paper:
        cells += "; the row beneath each method (paper) holds the paper's value (– = not reported)"
    notes = [cells + "."]
    measured = tidy[(tidy["status"] != MISSING) & (tidy["status"] != TEXT) & (tidy["n"] > 0)]
    in_csv = "Exact p-values, Δ = ours − paper and n are" if with_paper else "Exact p-values and n are"
    significance = (
        f"{SIGNIFICANCE_MARKER} p < {SIGNIFICANCE_LEVEL} against SegMamba (two-sided paired Wilcoxon "
        f"signed-rank test on the test cases both have). {in_csv} in the CSV."
    )
    if len(measured) and measured["n"].max() <= 5:
        significance += " With at most 5 paired cases the exact test cannot reach p < 0.05."
    notes.append(significance)
    counts = measured.groupby("dataset", sort=False)["n"].max()
    if len(counts):
        notes.append("Test cases: " + ", ".join(f"{dataset_label(d)} n = {int(n)}" for d, n in counts.items()) + ".")
    collapsed = _cells_with_status(tidy, COLLAPSED)
    if collapsed:
        notes.append(
            f"collapsed: the training collapsed, its last validation predicted only background or its "
            f"loss did not fall (collapse_reason in its train_summary.json): {collapsed}. Their numbers "
            "are in the CSV."
        )
    background = _cells_with_status(tidy, BACKGROUND_ONLY)
    if background:
        notes.append(
            f"all background: every test prediction is background only: {background}. Their numbers are in the CSV."
        )
    return synthetic_note(tidy) + notes + method_notes(tidy) + list(extra)


def efficiency_notes(tidy: pd.DataFrame, reduced_scale: bool) -> list[str]:
    """The notes under Table 5."""
    notes = [
        "Cells: our median measurement; the row beneath (paper) holds the paper's A100 value, beside measurements "
        "at the paper's 128³ input only. TM / IM = peak training / inference memory in MB allocated by PyTorch "
        "(reserved = held by its caching allocator, where recorded; Δ against the paper uses allocated); "
        "IT = inference throughput in cases/s; OOM = out of memory. Δ = ours − paper and the repeats are in the CSV.",
        "Sequence length: the longest sequence a Mamba layer scans, stage 1 at half resolution, (size/2)³. "
        "Scan backend: the selective-scan implementation that ran (— = the model has no Mamba scan).",
    ]
    if reduced_scale:
        notes.insert(
            0,
            "MEASURED AT A REDUCED SCALE (demo model widths and input sizes on this machine's device): "
            "not comparable with the paper's A100 numbers.",
        )
    return notes + method_notes(tidy)


def write_table(tidy: pd.DataFrame, prefix: str | os.PathLike, title: str, notes: Sequence[str]) -> None:
    """Write ``<prefix>.csv`` (tidy), ``<prefix>.md`` and ``<prefix>.tex`` (paper layout) atomically."""
    prefix = str(prefix)
    write_text_atomic(prefix + ".csv", tidy.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(prefix + ".md", render_markdown(tidy, title, notes))
    write_text_atomic(prefix + ".tex", render_latex(tidy, title, notes, os.path.basename(prefix)))
