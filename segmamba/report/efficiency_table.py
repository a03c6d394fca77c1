"""Table 5 from the ``segmamba efficiency`` JSONs: TM, IM and IT per model and size beside the paper's 128³
numbers, as a tidy frame with the columns of ``segmamba.report.tables.TIDY_COLUMNS``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence

import pandas as pd

from segmamba.errors import InputError
from segmamba.report import paper
from segmamba.report.tables import OK, OOM, TEXT, TIDY_COLUMNS, empty_cell


def _quantity(record: Mapping, key: str, path) -> tuple[float, bool, int]:
    """(median or NaN, out of memory?, number of measurements) of one efficiency quantity."""
    entry = record[key]
    median = entry.get("median") if isinstance(entry, Mapping) else entry
    if median is not None and median != "OOM" and not isinstance(median, int | float):
        raise InputError(f"efficiency result {path}: {key}.median is {median!r}; expected a number or 'OOM'")
    values = entry.get("values") if isinstance(entry, Mapping) else None
    count = len(values) if isinstance(values, list) else 1
    return (float(median) if isinstance(median, int | float) else math.nan), median == "OOM", count


def read_efficiency(path: str | os.PathLike) -> dict:
    """Read a ``segmamba efficiency`` JSON into the record Table 5 and the efficiency chart use.

    The JSON holds ``model``, ``size``, ``training_memory``, ``inference_memory`` (MB) and
    ``inference_throughput`` (cases/s), each with a ``median`` that is a number or ``"OOM"``; optionally
    ``training_memory_reserved`` / ``inference_memory_reserved`` (same shape, null on CPU), ``scan_backend``
    (null for a model without a Mamba scan), ``sequence_length`` (stage-1 length, (size/2)³ when absent),
    ``variant`` (e.g. ``"fused attention"``, a second row of the same model), ``in_channels`` and
    ``out_channels`` (None when absent).

    Returns:
        ``{model, size, variant, tm, im, it, tm_reserved, im_reserved, in_channels, out_channels, repeats, status,
        device, scan_backend, sequence_length}``: TM and IM in MB, IT in cases/s (NaN when out of memory),
        reserved memory None when not recorded, ``status`` ``"OOM"`` when any quantity ran out of memory,
        ``scan_backend`` ``""`` when the JSON does not record it.

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
    size = int(record["size"])
    result = {"model": record["model"], "size": size, "variant": record.get("variant")}
    oom, repeats = False, 1
    for short, key in quantities.items():
        result[short], out_of_memory, count = _quantity(record, key, path)
        oom, repeats = oom or out_of_memory, max(repeats, count)
    for short, key in (("tm_reserved", "training_memory_reserved"), ("im_reserved", "inference_memory_reserved")):
        result[short] = None if record.get(key) is None else _quantity(record, key, path)[0]
    result.update(
        in_channels=record.get("in_channels"),
        out_channels=record.get("out_channels"),
        repeats=repeats,
        status=OOM if oom else OK,
        device=record.get("device_name") or record.get("device", ""),
        scan_backend=record.get("scan_backend", ""),
        sequence_length=int(record.get("sequence_length") or stage1_sequence_length(size)),
    )
    return result


def stage1_sequence_length(size: int) -> int:
    """Length of the longest sequence a Mamba layer scans for a size³ input: stage 1 at half resolution."""
    return (size // 2) ** 3


#: Table 5's measured columns: key, heading, decimals.
EFFICIENCY_COLUMNS = [
    ("tm", "TM (MB)", 0),
    ("tm_reserved", "TM reserved (MB)", 0),
    ("im", "IM (MB)", 0),
    ("im_reserved", "IM reserved (MB)", 0),
    ("it", "IT (cases/s)", 2),
]
SETUP, MEASURED = "Set-up", "Measured"


def efficiency_row_label(record: Mapping) -> str:
    """Table 5 row of one efficiency record: the paper's row name, the input size and the variant, if any."""
    info = paper.EFFICIENCY_MODELS.get(record["model"], {"row": paper.method_label(record["model"])})
    label = f"{info['row']} @ {record['size']}³"
    return f"{label} ({record['variant']})" if record.get("variant") else label


def build_table5(results: Sequence[dict], reduced_scale: bool) -> pd.DataFrame:
    """Table 5: training memory, inference memory, inference throughput and "is global", one row per record.

    Args:
        results: records from ``read_efficiency``. Paper values are shown for the paper's size (128³) and the
            paper's variant (``variant`` None) only.
        reduced_scale: whether the models were measured at a reduced (demo) width, flagged in the notes.
    """
    order = list(paper.EFFICIENCY_MODELS)
    recorded = {key for record in results for key, _, _ in EFFICIENCY_COLUMNS if record[key] is not None}
    rows = []
    for record in sorted(
        results,
        key=lambda r: (
            order.index(r["model"]) if r["model"] in order else len(order),
            r["model"],
            r["size"],
            r.get("variant") or "",
        ),
    ):
        model, size = record["model"], record["size"]
        info = paper.EFFICIENCY_MODELS.get(model, {"core": "", "is_global": ""})
        common = {
            "table": "table5",
            "dataset": "",
            "row": efficiency_row_label(record),
            "method": model,
            "size": size,
            "synthetic": reduced_scale,
        }
        backend = record["scan_backend"]
        descriptive = {
            "Core module": info["core"],
            "Sequence length": f"{record['sequence_length']:,}",
            "Scan backend": "—" if backend is None else (backend or "not recorded"),
            "Is global": "" if info["is_global"] == "" else ("✓" if info["is_global"] else "✗"),
            "Device": record["device"],
        }
        for column, text in descriptive.items():
            rows.append(empty_cell(column=column, metric=column, group=SETUP, status=TEXT, text=text, **common))
        is_paper_row = size == paper.TABLE5_SIZE and not record.get("variant")
        paper_row = paper.TABLE5.get(model, {}) if is_paper_row else {}
        for key, heading, decimals in EFFICIENCY_COLUMNS:
            ours = record[key]
            if key not in recorded:  # reserved memory recorded by no measurement (CPU, or older JSONs)
                continue
            if ours is None:  # recorded by other measurements, not by this one: "–"
                rows.append(empty_cell(column=heading, metric=key, group=MEASURED, status=TEXT, text="–", **common))
                continue
            paper_value = paper_row.get(key)
            status = OOM if record["status"] == OOM and math.isnan(ours) else OK
            paper_number = float(paper_value) if isinstance(paper_value, int | float) else math.nan
            cell = empty_cell(
                column=heading,
                metric=key,
                group=MEASURED,
                n=record["repeats"],
                mean=ours,
                status=status,
                paper=paper_number,
                diff=ours - paper_number,
                decimals=decimals,
                **common,
            )
            if paper_value == "OOM":
                cell["text"] = "paper: OOM"
            rows.append(cell)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)
