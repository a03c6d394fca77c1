"""The cost table of one dataset: what each model's training and test prediction cost (``cost_<dataset>``).

One row per model from its ``train_summary.json`` (``cost`` entry, written by ``segmamba.cost.train``) and its
``prediction_log.json`` (``segmamba.cost.predict``). A quantity that was not measured (GPU memory, GPU-hours
and energy on the CPU, energy without NVML's counter, FLOPs a model could not be counted for) is "—" in
every file, the CSV included, never 0. Field definitions: docs/cost.md.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from segmamba.data.registry import dataset_label
from segmamba.errors import InputError
from segmamba.io_utils import write_text_atomic
from segmamba.report import paper

NOT_MEASURED = "—"

#: Columns: heading and how a row's value is shown (decimals; None: as is).
COLUMNS = (
    ("Model", None),
    ("Params (M)", 2),
    ("Fwd GFLOPs", "auto"),
    ("FLOPs input", None),
    ("Train device", None),
    ("GPUs", None),
    ("Train time (h)", "auto"),
    ("GPU-hours", "auto"),
    ("Train peak alloc (MB)", 0),
    ("Train peak reserved (MB)", 0),
    ("Train energy (kWh)", "auto"),
    ("Test cases", None),
    ("Test s/case", "auto"),
    ("Test peak alloc (MB)", 0),
    ("Test peak reserved (MB)", 0),
    ("Test energy (kWh)", "auto"),
)

#: The Markdown file shows the columns in three sections (each fits a 120-character screen), Model in each.
MARKDOWN_SECTIONS = (
    ("Size and training time", ("Params (M)", "Fwd GFLOPs", "FLOPs input", "Train device", "GPUs", "Train time (h)",
                                "GPU-hours")),
    ("Training memory and energy", ("Train peak alloc (MB)", "Train peak reserved (MB)", "Train energy (kWh)")),
    ("Test prediction", ("Test cases", "Test s/case", "Test peak alloc (MB)", "Test peak reserved (MB)",
                         "Test energy (kWh)")),
)  # fmt: skip


def format_value(value: Any, decimals: int | str | None) -> str:
    """A cell's text: "—" for None or NaN; numbers with ``decimals`` ("auto": 3 significant digits below 100,
    whole numbers above); anything else as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_MEASURED
    if decimals is None or isinstance(value, str | bool):
        return str(value)
    if decimals == "auto":
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:.{decimals}f}"


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    """Sum, or None when any value is missing (a partial total would read as the whole)."""
    return None if not values or any(v is None for v in values) else sum(values)


def _max_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _training_label(training: str) -> str:
    """The paper's name of a training's model, with its run kept: ``"segmamba (fold 0, seed 1)"`` -> ``"SegMamba
    (fold 0, seed 1)"``."""
    model, bracket, run = training.partition(" (")
    return paper.method_label(model) + bracket + run


def cost_row(model: str, summary: Mapping[str, Any], log: Mapping[str, Any] | None) -> dict[str, Any]:
    """One model's row (raw values, None where not measured) from its training summary and prediction log."""
    cost = summary.get("cost") or {}
    cases = list((log or {}).get("cases", {}).values())
    seconds = [case["seconds"] for case in cases]
    train_time = cost.get("train_time_s", summary.get("train_time_s"))
    parameters = cost.get("parameters", summary.get("parameters"))
    shape = cost.get("flops_input_shape")
    return {
        "Model": _training_label(model),
        "Params (M)": None if parameters is None else parameters / 1e6,
        "Fwd GFLOPs": cost.get("forward_gflops"),
        "FLOPs input": None if not shape else "×".join(str(s) for s in shape),
        "Train device": cost.get("gpu_name") or cost.get("device") or summary.get("device"),
        "GPUs": cost.get("gpus"),
        "Train time (h)": None if train_time is None else train_time / 3600,
        "GPU-hours": cost.get("gpu_hours"),
        "Train peak alloc (MB)": cost.get("peak_memory_allocated_mb"),
        "Train peak reserved (MB)": cost.get("peak_memory_reserved_mb"),
        "Train energy (kWh)": cost.get("energy_kwh"),
        "Test cases": len(cases) if log is not None else None,
        "Test s/case": sum(seconds) / len(seconds) if seconds else None,
        "Test peak alloc (MB)": _max_or_none([c.get("peak_memory_allocated_mb") for c in cases]),
        "Test peak reserved (MB)": _max_or_none([c.get("peak_memory_reserved_mb") for c in cases]),
        "Test energy (kWh)": _sum_or_none([c.get("energy_kwh") for c in cases]),
    }


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], title: str, notes: Sequence[str]) -> str:
    """The table in MARKDOWN_SECTIONS, then the notes wrapped at 120 characters."""
    import textwrap

    lines = [f"# {title}"]
    for section, names in MARKDOWN_SECTIONS:
        keep = [0] + [header.index(name) for name in names]
        lines += ["", f"## {section}", "", "| " + " | ".join(header[i] for i in keep) + " |"]
        lines += ["|" + "|".join(":---" if i == 0 else "---:" for i in keep) + "|"]
        lines += ["| " + " | ".join(row[i] for i in keep) + " |" for row in rows]
    lines.append("")
    for note in notes:
        lines += textwrap.wrap(note, 120)
    return "\n".join(lines) + "\n"


def _latex(header: Sequence[str], rows: Sequence[Sequence[str]], title: str, label: str) -> str:
    from segmamba.report.render import latex_escape

    lines = [
        r"\begin{table}",
        r"\centering",
        rf"\caption{{{latex_escape(title)}}}",
        rf"\label{{tab:{latex_escape(label)}}}",
        r"\resizebox{\textwidth}{!}{%",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\hline",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\hline",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in rows),
        r"\hline",
        r"\end{tabular}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def build_cost_rows(runs: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Rows of ``{model: {"train_summary": path, "predictions": prediction folder}}`` in the given order.

    Raises:
        InputError: a training summary is missing or unreadable, or a prediction log is malformed (naming it).
    """
    from segmamba.cost.predict import PREDICTION_LOG, read_prediction_log
    from segmamba.report.result_files import read_optional_json

    rows = []
    for model, paths in runs.items():
        summary = read_optional_json(paths["train_summary"])
        if summary is None:
            raise InputError(f"cost table: model {model}: {paths['train_summary']} does not exist")
        log = None
        if paths.get("predictions"):
            log_path = os.path.join(paths["predictions"], PREDICTION_LOG)
            try:
                log = read_prediction_log(log_path) if os.path.exists(log_path) else None
            except ValueError as exc:
                raise InputError(f"cost table: model {model}: {exc}") from exc
        rows.append(cost_row(model, summary, log))
    return rows


def make_cost_table(dataset: str, runs: Mapping[str, Mapping[str, str]], prefix: str) -> None:
    """Write ``<prefix>.csv``, ``.md`` and ``.tex``: what every model's training and prediction on ``dataset`` cost."""
    rows = build_cost_rows(runs)
    header = [name for name, _ in COLUMNS]
    cells = [[format_value(row[name], decimals) for name, decimals in COLUMNS] for row in rows]
    title = f"Cost of training and test prediction on {dataset_label(dataset)}"
    notes = [
        f"{NOT_MEASURED}: not measured (GPU memory, GPU-hours and energy on the CPU; energy without NVML's "
        "counter; FLOPs a model could not be counted for).",
        "Fwd GFLOPs: one forward pass of one training patch (FLOPs input), torch.utils.flop_counter with the "
        "selective scan counted by formula. Peaks: PyTorch's allocator on the main process's GPU. Test: "
        "mean seconds per test case, largest peak, energy summed over the cases. Definitions: docs/cost.md.",
    ]
    import pandas as pd

    prefix = str(prefix)
    numeric = [{name: NOT_MEASURED if row[name] is None else row[name] for name in header} for row in rows]
    write_text_atomic(prefix + ".csv", pd.DataFrame(numeric, columns=header).to_csv(index=False, float_format="%.6g"))
    write_text_atomic(prefix + ".md", _markdown(header, cells, title, notes))
    write_text_atomic(prefix + ".tex", _latex(header, cells, title, os.path.basename(prefix)))
