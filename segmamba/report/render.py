"""Markdown and LaTeX layouts of the tidy tables (``segmamba.report.tables``), and their notes.

Both layouts show one row per method with our mean ± std and a significance marker (``†``: Holm-adjusted
p < 0.05 against the reference method, SegMamba unless configured), beneath it a row with the bootstrap 95% CI
of the mean and a row with the paper's values where the paper has any. The exact p-values, Δ (ours − paper)
and the paired differences to the reference stay in the CSV. Text from the data (label and region names) is
escaped for each format: ``|`` in Markdown table cells, LaTeX's specials in LaTeX. The notes beneath a table
are written by ``segmamba.report.notes``. A Markdown table wider than ``MARKDOWN_WIDTH`` characters is split, first
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
from segmamba.report.tables import BACKGROUND_ONLY, COLLAPSED, MISSING, OOM, TEXT

#: Widest line (characters) of a Markdown table; wider tables are split.
MARKDOWN_WIDTH = 120

#: Holm-adjusted p-value below which a cell carries ``SIGNIFICANCE_MARKER``.
SIGNIFICANCE_LEVEL = 0.05
SIGNIFICANCE_MARKER = "†"

#: Label of the row with the paper's values beneath each method.
PAPER_ROW = "↳ paper"

#: Label of the row with the bootstrap 95% CI of our mean beneath each method.
CI_ROW = "↳ 95% CI"

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
    """Whether a cell's method differs from the reference method at Holm-adjusted p < ``SIGNIFICANCE_LEVEL``."""
    p_holm = cell.get("p_holm")
    return cell["method"] != cell.get("reference") and not _is_nan(p_holm) and p_holm < SIGNIFICANCE_LEVEL


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


def ci_text(cell: Mapping) -> str:
    """The bootstrap CI of a cell's mean, ``[low, high]`` (empty when the cell has none or a status replaces its
    number)."""
    if cell["status"] == TEXT or cell["status"] in STATUS_TEXT or _is_nan(cell.get("ci_low")):
        return ""
    return f"[{format_number(cell['ci_low'], cell['decimals'])}, {format_number(cell['ci_high'], cell['decimals'])}]"


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
    """Rows of cell texts: per table row, our row, the CI row where any of ``columns`` has a CI and, where the paper
    reports any of ``columns``, its row."""
    cells = {(r["row"], r["dataset"], r["column"]): r for r in tidy.to_dict("records")}
    markers = note_markers(tidy)
    rows = []
    for label, method in dict.fromkeys(zip(tidy["row"], tidy["method"], strict=True)):
        records = [cells.get((label, column.dataset, column.label)) for column in columns]
        if all(record is None for record in records):
            continue
        marker = markers.get(method)
        rows.append([f"{label} {marker}" if marker else label] + [our_text(r) if r else "" for r in records])
        intervals = [ci_text(r) if r else "" for r in records]
        if any(intervals):
            rows.append([CI_ROW, *intervals])
        if any(r is not None and has_paper_value(r) for r in records):
            rows.append([PAPER_ROW] + [paper_text(r) if r else "" for r in records])
    return rows


def headings(columns: Sequence[Column]) -> list[str]:
    """Column headings, prefixed with the dataset when the columns span several datasets."""
    several = len({column.dataset for column in columns}) > 1
    return [f"{dataset_label(c.dataset)} {c.label}" if several and c.dataset else c.label for c in columns]


def markdown_escape(text) -> str:
    """Text for a Markdown table cell: ``|`` (which would end the cell) and ``\\`` escaped with a backslash."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|")


def markdown_grid(header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[bool]) -> list[str]:
    """A Markdown table padded to aligned columns; ``left[i]``: column i is left-aligned (else right-aligned)."""
    header = [markdown_escape(cell) for cell in header]
    rows = [[markdown_escape(cell) for cell in row] for row in rows]
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
    """A Markdown document: title, the table(s) in the paper's layout (none for a table without rows), then the
    notes."""
    lines = [f"# {title}", ""]
    for heading, columns in markdown_sections(tidy) if len(tidy) else []:
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
    "|": r"\textbar{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
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
        first = {PAPER_ROW: r"\quad\textit{paper}", CI_ROW: r"\quad\textit{95\% CI}"}.get(row[0], latex_escape(row[0]))
        lines.append(first + " & " + " & ".join(latex_escape(cell) for cell in row[1:]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\par\footnotesize"]
    lines += [latex_escape(note) + r"\\" for note in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(tidy: pd.DataFrame, prefix: str | os.PathLike, title: str, notes: Sequence[str]) -> None:
    """Write ``<prefix>.csv`` (tidy), ``<prefix>.md`` and ``<prefix>.tex`` (paper layout) atomically."""
    prefix = str(prefix)
    write_text_atomic(prefix + ".csv", tidy.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(prefix + ".md", render_markdown(tidy, title, notes))
    write_text_atomic(prefix + ".tex", render_latex(tidy, title, notes, os.path.basename(prefix)))
