"""The paper's Tables 2-5 from per-case metric CSVs and efficiency JSONs, beside the paper's reported numbers.

Every table is first built as a *tidy* frame (one row per table cell: method x metric), which is what the CSV
holds. The Markdown and LaTeX files pivot it into the paper's layout (methods as rows, metrics as columns);
each accuracy cell reads ``ours mean ± std (paper value, Δ ours − paper, Wilcoxon p vs SegMamba)``.

Accuracy statistics are computed over the test cases of one run: mean, sample standard deviation (ddof=1)
and the two-sided paired Wilcoxon signed-rank p-value of each method against SegMamba on the cases both
have (``segmamba.evaluation.stats.paired_wilcoxon``). Fractions are reported in percent, as in the paper.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from segmamba.errors import InputError
from segmamba.io_utils import write_text_atomic
from segmamba.reporting import paper

#: The model every other method is tested against.
REFERENCE_MODEL = "segmamba"

#: Columns of the tidy table CSV, in order.
TIDY_COLUMNS = [
    "table", "dataset", "row", "column", "method", "metric", "size", "n", "mean", "std", "status", "paper",
    "diff", "p_value", "decimals", "synthetic", "text",
]


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric: how to derive its per-case value from a metrics CSV.

    Args:
        key: the metric's name in the paper tables (``segmamba.reporting.paper``), e.g. ``"dice_wt"``.
        label: column heading, e.g. ``"WT Dice (%)"``.
        columns: metrics-CSV columns whose per-case mean is the value (one column, or several for "Avg").
        scale: factor applied to the value (100 turns fractions into percent).
    """

    key: str
    label: str
    columns: tuple[str, ...]
    scale: float = 1.0


#: The metrics each dataset reports, in the paper's column order.
DATASET_METRICS: dict[str, list[MetricSpec]] = {
    "brats2023": [
        MetricSpec("dice_wt", "WT Dice (%)", ("dice_wt",), 100.0),
        MetricSpec("hd95_wt", "WT HD95 (mm)", ("hd95_wt",)),
        MetricSpec("dice_tc", "TC Dice (%)", ("dice_tc",), 100.0),
        MetricSpec("hd95_tc", "TC HD95 (mm)", ("hd95_tc",)),
        MetricSpec("dice_et", "ET Dice (%)", ("dice_et",), 100.0),
        MetricSpec("hd95_et", "ET HD95 (mm)", ("hd95_et",)),
        MetricSpec("dice_avg", "Avg Dice (%)", ("dice_wt", "dice_tc", "dice_et"), 100.0),
        MetricSpec("hd95_avg", "Avg HD95 (mm)", ("hd95_wt", "hd95_tc", "hd95_et")),
    ],
    "aiib2023": [
        MetricSpec("iou", "Airway IoU (%)", ("iou",), 100.0),
        MetricSpec("dlr", "Airway DLR (%)", ("dlr",), 100.0),
        MetricSpec("dbr", "Airway DBR (%)", ("dbr",), 100.0),
    ],
    "crc500": [
        MetricSpec("dice", "Dice (%)", ("dice",), 100.0),
        MetricSpec("hd95", "HD95 (mm)", ("hd95",)),
    ],
}

#: Short dataset names used in column headings of multi-dataset tables.
DATASET_LABELS = {"brats2023": "BraTS2023", "aiib2023": "AIIB2023", "crc500": "CRC-500"}


def read_case_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``segmamba evaluate`` per-case CSV, indexed by case id.

    Raises:
        InputError: the file has no ``case`` column.
    """
    frame = pd.read_csv(path)
    if "case" not in frame.columns:
        raise InputError(f"metrics file {path}: no 'case' column (columns: {', '.join(frame.columns)})")
    return frame.set_index(frame["case"].astype(str)).drop(columns="case")


def case_values(frame: pd.DataFrame, spec: MetricSpec, source: str = "metrics") -> pd.Series:
    """Per-case values of one metric (mean over ``spec.columns``, times ``spec.scale``), NaN cases dropped.

    Raises:
        InputError: a required column is missing from the metrics of ``source``.
    """
    missing = [column for column in spec.columns if column not in frame.columns]
    if missing:
        raise InputError(f"{source}: metric column(s) {', '.join(missing)} missing (needed for {spec.key})")
    values = frame[list(spec.columns)].astype(float).mean(axis=1, skipna=False) * spec.scale
    return values.dropna()


def wilcoxon_against(values: pd.Series, reference: pd.Series) -> float:
    """Paired Wilcoxon p-value of ``values`` against ``reference`` on the cases both have (NaN if none)."""
    from segmamba.evaluation.stats import paired_wilcoxon

    common = values.index.intersection(reference.index)
    if len(common) == 0:
        return math.nan
    return float(paired_wilcoxon(values.loc[common].to_numpy(), reference.loc[common].to_numpy()))


def _empty_cell(**fields) -> dict:
    """A tidy row with every column present (NaN / empty defaults), updated with ``fields``."""
    row = {column: math.nan for column in TIDY_COLUMNS}
    row.update({"size": math.nan, "status": "ok", "paper": math.nan, "text": "", "synthetic": False, "decimals": 2})
    row.update(fields)
    return row


def accuracy_rows(
    table: str,
    dataset: str,
    metrics_by_model: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    paper_values: Mapping[str, Mapping[str, float | None]],
    synthetic: bool,
    column_prefix: str = "",
) -> list[dict]:
    """Tidy rows (one per method x metric) comparing our per-case metrics with the paper.

    Args:
        table: table name written into every row (e.g. ``"table2"``).
        dataset: dataset name (selects the metrics in ``DATASET_METRICS``).
        metrics_by_model: per-case metric frames (``read_case_metrics``) of the models that were run.
        methods: row order; methods absent from ``metrics_by_model`` get status ``"missing"`` (paper only).
        paper_values: the paper's numbers per method and metric key (``None`` when unknown).
        synthetic: whether the dataset was a synthetic stand-in.
        column_prefix: prefix of the column headings (the dataset label in multi-dataset tables).
    """
    rows = []
    for spec in DATASET_METRICS[dataset]:
        reference = None
        if REFERENCE_MODEL in metrics_by_model:
            reference = case_values(metrics_by_model[REFERENCE_MODEL], spec, f"{dataset}/{REFERENCE_MODEL}")
        for method in methods:
            paper_value = paper_values.get(method, {}).get(spec.key)
            cell = _empty_cell(
                table=table, dataset=dataset, row=paper.method_label(method), column=column_prefix + spec.label,
                method=method, metric=spec.key, synthetic=synthetic,
                paper=math.nan if paper_value is None else float(paper_value),
            )
            if method not in metrics_by_model:
                cell.update(status="missing", n=0)
                rows.append(cell)
                continue
            values = case_values(metrics_by_model[method], spec, f"{dataset}/{method}")
            mean = float(values.mean()) if len(values) else math.nan
            cell.update(
                n=len(values), mean=mean,
                std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                diff=mean - cell["paper"],
            )
            if reference is not None and method != REFERENCE_MODEL:
                cell["p_value"] = wilcoxon_against(values, reference)
            rows.append(cell)
    return rows


def text_rows(table: str, dataset: str, method: str, texts: Mapping[str, str], **fields) -> list[dict]:
    """Tidy rows for descriptive (non-numeric) cells, e.g. the ablation's module check marks."""
    return [
        _empty_cell(table=table, dataset=dataset, row=paper.method_label(method), column=column, method=method,
                    metric=column, status="text", text=text, **fields)
        for column, text in texts.items()
    ]


def build_table2(metrics: Mapping[str, Mapping[str, pd.DataFrame]], synthetic: Mapping[str, bool]) -> pd.DataFrame:
    """Table 2: BraTS2023 WT/TC/ET/Avg Dice and HD95 and AIIB2023 IoU/DLR/DBR for the seven methods.

    Args:
        metrics: ``{dataset: {model: per-case frame}}`` for ``brats2023`` and/or ``aiib2023``.
        synthetic: ``{dataset: True if synthetic}``.
    """
    methods = list(paper.TABLE2)
    rows = []
    for dataset in ("brats2023", "aiib2023"):
        rows += accuracy_rows("table2", dataset, metrics.get(dataset, {}), methods, paper.TABLE2,
                              synthetic.get(dataset, False), DATASET_LABELS[dataset] + " ")
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def build_table3(metrics: Mapping[str, pd.DataFrame], synthetic: bool) -> pd.DataFrame:
    """Table 3: CRC-500 Dice and HD95 for the seven methods (``metrics``: ``{model: per-case frame}``)."""
    rows = accuracy_rows("table3", "crc500", metrics, list(paper.TABLE3), paper.TABLE3, synthetic)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def build_table4(metrics: Mapping[str, pd.DataFrame], dataset: str, synthetic: bool) -> pd.DataFrame:
    """Table 4: the ablation (UX-Net, M1, M2, M3, SegMamba) with module check marks, Dice and HD95."""
    methods = list(paper.TABLE4)
    rows = []
    for method in methods:
        marks = {module: "✓" if present else "" for module, present in paper.ABLATION_MODULES[method].items()}
        rows += text_rows("table4", dataset, method, marks, synthetic=synthetic)
    rows += accuracy_rows("table4", dataset, metrics, methods, paper.TABLE4, synthetic)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def read_efficiency(path: str | os.PathLike) -> dict:
    """Read a ``segmamba efficiency`` JSON into ``{model, size, tm, im, it, status, device}``.

    The JSON holds ``training_memory``, ``inference_memory`` (MB) and ``inference_throughput`` (cases/s),
    each with a ``median`` that is a number or ``"OOM"``. TM and IM are returned in MB, IT in cases/s;
    ``status`` is ``"OOM"`` when any quantity ran out of memory (its value is then NaN).

    Raises:
        InputError: the file is not valid JSON or lacks the model, size or a quantity.
    """
    try:
        record = json.loads(open(path).read())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"efficiency result {path}: cannot read JSON ({exc})") from exc
    quantities = {"tm": "training_memory", "im": "inference_memory", "it": "inference_throughput"}
    missing = [key for key in ("model", "size", *quantities.values()) if key not in record]
    if missing:
        raise InputError(f"efficiency result {path}: missing {', '.join(missing)}")
    values, oom = {}, False
    for short, key in quantities.items():
        median = record[key].get("median") if isinstance(record[key], dict) else record[key]
        oom = oom or median == "OOM"
        values[short] = float(median) if isinstance(median, int | float) else math.nan
    device = record.get("device_name") or record.get("device", "")
    return {"model": record["model"], "size": int(record["size"]), **values,
            "status": "OOM" if oom else "ok", "device": device}


#: Table 5's measured columns: key, heading, decimals.
EFFICIENCY_COLUMNS = [("tm", "TM (MB)", 0), ("im", "IM (MB)", 0), ("it", "IT (cases/s)", 2)]


def build_table5(results: Sequence[dict], reduced_scale: bool) -> pd.DataFrame:
    """Table 5: training memory, inference memory, inference throughput and "is global" per model and size.

    Args:
        results: records from ``read_efficiency``. Paper values are shown for the paper's size (128³) only.
        reduced_scale: whether the models were measured at a reduced (demo) width, flagged in the notes.
    """
    rows = []
    for record in sorted(results, key=lambda r: (list(paper.EFFICIENCY_MODELS).index(r["model"])
                                                 if r["model"] in paper.EFFICIENCY_MODELS else 99, r["size"])):
        model, size = record["model"], record["size"]
        info = paper.EFFICIENCY_MODELS.get(model, {"row": paper.method_label(model), "core": "", "is_global": ""})
        label = f"{info['row']} @ {size}³"
        common = {"table": "table5", "dataset": "", "row": label, "method": model, "size": size,
                  "synthetic": reduced_scale}
        is_global = "" if info["is_global"] == "" else ("✓" if info["is_global"] else "✗")
        descriptive = {"Core module": info["core"], "Sequence length": f"{size ** 3:,}", "Device": record["device"]}
        for column, text in descriptive.items():
            rows.append(_empty_cell(column=column, metric=column, status="text", text=text, **common))
        paper_row = paper.TABLE5.get(model, {}) if size == paper.TABLE5_SIZE else {}
        for key, heading, decimals in EFFICIENCY_COLUMNS:
            paper_value = paper_row.get(key)
            ours = record[key]
            status = "OOM" if record["status"] == "OOM" and math.isnan(ours) else "ok"
            paper_number = float(paper_value) if isinstance(paper_value, int | float) else math.nan
            cell = _empty_cell(column=heading, metric=key, n=1, mean=ours, status=status, paper=paper_number,
                               diff=ours - paper_number, decimals=decimals, **common)
            if paper_value == "OOM":
                cell["text"] = "paper: OOM"
            rows.append(cell)
        rows.append(_empty_cell(column="Is global", metric="is_global", status="text", text=is_global, **common))
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def format_p_value(p_value: float) -> str:
    """Format a p-value: ``p<0.001``, ``p=0.031``; empty for NaN."""
    if p_value is None or (isinstance(p_value, float) and math.isnan(p_value)):
        return ""
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def format_cell(row: Mapping) -> str:
    """Render one tidy row as the text of its table cell."""
    if row["status"] == "text":
        return str(row["text"])
    decimals = int(row["decimals"])
    paper_value = row["paper"]
    has_paper = not (isinstance(paper_value, float) and math.isnan(paper_value))
    paper_text = row["text"].removeprefix("paper: ") if row["text"] else ""
    if has_paper:
        paper_text = f"{paper_value:.{decimals}f}"
    if row["status"] == "missing":
        return f"not run (paper {paper_text})" if paper_text else "not run"
    if row["status"] == "OOM":
        ours = "OOM"
    elif math.isnan(row["mean"]):
        ours = "n/a"
    elif math.isnan(row["std"]):
        ours = f"{row['mean']:.{decimals}f}"
    else:
        ours = f"{row['mean']:.{decimals}f} ± {row['std']:.{decimals}f}"
    extras = []
    if paper_text:
        extras.append(f"paper {paper_text}")
    if has_paper and not math.isnan(row["diff"]):
        extras.append(f"Δ {row['diff']:+.{decimals}f}")
    p_text = format_p_value(row["p_value"])
    if p_text:
        extras.append(p_text)
    return f"{ours} ({', '.join(extras)})" if extras else ours


def wide_layout(tidy: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Pivot a tidy table into (row labels, column labels, {(row, column): cell text}), keeping first-seen order."""
    rows = list(dict.fromkeys(tidy["row"]))
    columns = list(dict.fromkeys(tidy["column"]))
    cells = {(r["row"], r["column"]): format_cell(r) for r in tidy.to_dict("records")}
    return rows, columns, cells


def render_markdown(tidy: pd.DataFrame, title: str, notes: Sequence[str]) -> str:
    """Render a tidy table as a Markdown document: title, the table in the paper's layout, then notes."""
    rows, columns, cells = wide_layout(tidy)
    lines = [f"# {title}", "", "| Method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(cells.get((row, column), "") for column in columns) + " |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "±": r"$\pm$", "Δ": r"$\Delta$", "✓": r"$\checkmark$",
                  "✗": r"$\times$", "³": r"$^3$", "<": r"$<$", "−": "-"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and map the tables' Unicode symbols to math-mode equivalents."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in str(text))


def render_latex(tidy: pd.DataFrame, title: str, notes: Sequence[str], label: str) -> str:
    """Render a tidy table as a LaTeX ``table`` (booktabs, scaled to the line width) with notes below."""
    rows, columns, cells = wide_layout(tidy)
    lines = [
        r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(title)}}}", rf"\label{{tab:{label}}}",
        r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{l" + "c" * len(columns) + "}", r"\toprule",
        "Method & " + " & ".join(latex_escape(column) for column in columns) + r" \\", r"\midrule",
    ]
    for row in rows:
        lines.append(latex_escape(row) + " & " + " & ".join(latex_escape(cells.get((row, column), ""))
                                                           for column in columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\par\footnotesize"]
    lines += [latex_escape(note) + r"\\" for note in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def table_notes(tidy: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    """The notes printed under a table: cell format, synthetic-data warning, and ``extra`` lines."""
    if (tidy["table"] == "table5").all():
        notes = ["Cells: our median measurement (paper value, only at the paper's 128³ input; "
                 "Δ = ours − paper); OOM = out of memory; TM/IM in MB, IT in cases/s."]
    else:
        notes = ["Cells: our mean ± sample std over the test cases (paper value, Δ = ours − paper, "
                 "two-sided paired Wilcoxon signed-rank p-value against SegMamba on the same cases)."]
        measured = tidy[(tidy["status"] == "ok") & (tidy["n"] > 0)]
        counts = measured.groupby("dataset")["n"].max()
        if len(counts):
            notes.append("Test cases: " + ", ".join(f"{DATASET_LABELS.get(d, d)} n = {int(n)}"
                                                    for d, n in counts.items()) + ".")
    synthetic_rows = tidy[tidy["synthetic"].astype(bool)]
    synthetic = sorted({DATASET_LABELS.get(d, d) for d in synthetic_rows["dataset"] if isinstance(d, str) and d})
    if (tidy["table"] == "table5").all() and len(synthetic_rows):
        notes.append("MEASURED AT A REDUCED SCALE (demo model widths and input sizes on this machine's device): "
                     "not comparable with the paper's A100 numbers.")
    elif synthetic:
        notes.append("COMPUTED ON SYNTHETIC DATA (" + ", ".join(synthetic) + ") at a reduced scale: the numbers "
                     "show that the pipeline runs and learns; they are not comparable with the paper's.")
    return notes + list(extra)


def write_table(tidy: pd.DataFrame, prefix: str | os.PathLike, title: str, extra_notes: Sequence[str] = ()) -> None:
    """Write ``<prefix>.csv`` (tidy), ``<prefix>.md`` and ``<prefix>.tex`` (paper layout) atomically."""
    prefix = str(prefix)
    notes = table_notes(tidy, extra_notes)
    write_text_atomic(prefix + ".csv", tidy.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(prefix + ".md", render_markdown(tidy, title, notes))
    write_text_atomic(prefix + ".tex", render_latex(tidy, title, notes, os.path.basename(prefix)))
