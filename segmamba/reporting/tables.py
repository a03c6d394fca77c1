"""The paper's Tables 2-5 from per-case metric CSVs and efficiency JSONs, beside the paper's reported numbers.

Every table is first built as a *tidy* frame (one row per table cell: method x metric), which is what the CSV
holds, with every number: mean, std, n, the paper's value, Δ (ours − paper) and the p-value. The Markdown and
LaTeX files (``segmamba.reporting.render``) show our mean ± std per cell, the paper's values in a row beneath
each method and a significance marker; the exact p-values and Δ stay in the CSV.

Accuracy statistics are computed over the test cases of one run: mean, sample standard deviation (ddof=1)
and the two-sided paired Wilcoxon signed-rank p-value of each method against SegMamba on the cases both
have (``segmamba.evaluation.stats.paired_wilcoxon``). Fractions are reported in percent, as in the paper.

A dataset's table is built from its reported metrics (``DATASET_METRICS``), its display name
(``DATASET_LABELS``) and the paper's values (``segmamba.reporting.paper.dataset_paper_values``); a dataset
without paper values gets a table of our numbers only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from segmamba.errors import InputError
from segmamba.reporting import paper

#: The model every other method is tested against.
REFERENCE_MODEL = "segmamba"

#: Columns of the tidy table CSV, in order. ``group`` is the column group (e.g. "Dice (%)") that the Markdown
#: splits a wide table by; ``note`` says why a cell has its status (e.g. the collapse reason).
TIDY_COLUMNS = (
    "table dataset row column method metric size n mean std status paper diff p_value "
    "decimals synthetic text group note"
).split()

#: Cell statuses: a measured cell, a method that was not run, a descriptive text cell, an out-of-memory
#: measurement, a collapsed training (train_summary.json) and a model whose every test prediction is empty.
OK, MISSING, TEXT, OOM, COLLAPSED, BACKGROUND_ONLY = "ok", "missing", "text", "OOM", "collapsed", "background only"


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric: how to derive its per-case value from a metrics CSV.

    Args:
        key: the metric's name in the paper tables (``segmamba.reporting.paper``), e.g. ``"dice_wt"``.
        label: column heading, e.g. ``"WT Dice (%)"``.
        columns: metrics-CSV columns whose per-case mean is the value (one column, or several for "Avg").
        scale: factor applied to the value (100 turns fractions into percent).
        group: the column group a wide table is split by, e.g. ``"Dice (%)"``.
    """

    key: str
    label: str
    columns: tuple[str, ...]
    scale: float = 1.0
    group: str = ""


DICE, HD95 = "Dice (%)", "HD95 (mm)"

#: The metrics each dataset reports, in the paper's column order.
DATASET_METRICS: dict[str, list[MetricSpec]] = {
    "brats2023": [
        MetricSpec("dice_wt", "WT Dice (%)", ("dice_wt",), 100.0, DICE),
        MetricSpec("hd95_wt", "WT HD95 (mm)", ("hd95_wt",), 1.0, HD95),
        MetricSpec("dice_tc", "TC Dice (%)", ("dice_tc",), 100.0, DICE),
        MetricSpec("hd95_tc", "TC HD95 (mm)", ("hd95_tc",), 1.0, HD95),
        MetricSpec("dice_et", "ET Dice (%)", ("dice_et",), 100.0, DICE),
        MetricSpec("hd95_et", "ET HD95 (mm)", ("hd95_et",), 1.0, HD95),
        MetricSpec("dice_avg", "Avg Dice (%)", ("dice_wt", "dice_tc", "dice_et"), 100.0, DICE),
        MetricSpec("hd95_avg", "Avg HD95 (mm)", ("hd95_wt", "hd95_tc", "hd95_et"), 1.0, HD95),
    ],
    "aiib2023": [
        MetricSpec("iou", "Airway IoU (%)", ("iou",), 100.0, "Airway (%)"),
        MetricSpec("dlr", "Airway DLR (%)", ("dlr",), 100.0, "Airway (%)"),
        MetricSpec("dbr", "Airway DBR (%)", ("dbr",), 100.0, "Airway (%)"),
    ],
    "crc500": [
        MetricSpec("dice", "Dice (%)", ("dice",), 100.0, DICE),
        MetricSpec("hd95", "HD95 (mm)", ("hd95",), 1.0, HD95),
    ],
}

#: Short dataset names used in headings.
DATASET_LABELS = {"brats2023": "BraTS2023", "aiib2023": "AIIB2023", "crc500": "CRC-500"}


def dataset_label(dataset: str) -> str:
    """Display name of a dataset (the name itself when it has none)."""
    return DATASET_LABELS.get(dataset, dataset)


def dataset_metrics(dataset: str) -> list[MetricSpec]:
    """The metrics a dataset's table reports.

    Raises:
        InputError: the dataset has no metric list.
    """
    if dataset not in DATASET_METRICS:
        raise InputError(
            f"tables: no reported metrics defined for dataset {dataset!r} (known: {', '.join(DATASET_METRICS)})"
        )
    return DATASET_METRICS[dataset]


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


@dataclass(frozen=True)
class TrainingOutcome:
    """How one model's training on one dataset went, as far as the tables mark it.

    Attributes:
        status: ``OK``, ``COLLAPSED`` (its train_summary.json says so) or ``BACKGROUND_ONLY`` (every test
            prediction is all background).
        reason: why, for the CSV's ``note`` column (None when ``OK``).
    """

    status: str = OK
    reason: str | None = None


def predictions_all_background(metrics_summary: Mapping) -> bool:
    """Whether an evaluation summary (``<metrics>.summary.json``) says every test prediction was empty.

    Every metric column must count an empty prediction for every case (``n_empty_prediction == n_cases``);
    a summary without these counts says nothing (False).
    """
    n_cases, metrics = metrics_summary.get("n_cases"), metrics_summary.get("metrics")
    if not n_cases or not isinstance(metrics, Mapping) or not metrics:
        return False
    counts = [entry.get("n_empty_prediction") if isinstance(entry, Mapping) else None for entry in metrics.values()]
    return all(count == n_cases for count in counts)


def training_outcome(train_summary: Mapping | None, metrics_summary: Mapping | None) -> TrainingOutcome:
    """The mark of one model's cells from its ``train_summary.json`` and its evaluation summary (either None).

    A training summary with ``collapsed: true`` gives ``COLLAPSED`` (with its ``collapse_reason``); otherwise
    an evaluation summary in which every test prediction is empty gives ``BACKGROUND_ONLY``.
    """
    if train_summary is not None and train_summary.get("collapsed"):
        return TrainingOutcome(COLLAPSED, train_summary.get("collapse_reason") or "the training collapsed")
    if metrics_summary is not None and predictions_all_background(metrics_summary):
        return TrainingOutcome(BACKGROUND_ONLY, "every test prediction is background only")
    return TrainingOutcome()


def _empty_cell(**fields) -> dict:
    """A tidy row with every column present (NaN / empty defaults), updated with ``fields``."""
    row = {column: math.nan for column in TIDY_COLUMNS}
    row.update({"status": OK, "text": "", "note": "", "group": "", "synthetic": False, "decimals": 2})
    row.update(fields)
    return row


def table_methods(paper_methods: Sequence[str], run_models: Sequence[str]) -> list[str]:
    """Row order of an accuracy table: the paper's methods, then any other model that was run."""
    return list(paper_methods) + [model for model in run_models if model not in paper_methods]


def accuracy_rows(
    table: str,
    dataset: str,
    metrics_by_model: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    paper_values: Mapping[str, Mapping[str, float | None]],
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
) -> list[dict]:
    """Tidy rows (one per method x metric) comparing our per-case metrics with the paper.

    Args:
        table: table name written into every row (e.g. ``"table2"``).
        dataset: dataset name (selects the metrics in ``DATASET_METRICS``).
        metrics_by_model: per-case metric frames (``read_case_metrics``) of the models that were run.
        methods: row order; methods absent from ``metrics_by_model`` get status ``MISSING`` (paper only).
        paper_values: the paper's numbers per method and metric key (``None`` or absent when unknown).
        synthetic: whether the dataset was a synthetic stand-in.
        outcomes: per model, how its training went (``training_outcome``); cells of a collapsed training
            keep their numbers but get its status.
    """
    outcomes = outcomes or {}
    rows = []
    for spec in dataset_metrics(dataset):
        reference = None
        if REFERENCE_MODEL in metrics_by_model:
            reference = case_values(metrics_by_model[REFERENCE_MODEL], spec, f"{dataset}/{REFERENCE_MODEL}")
        for method in methods:
            paper_value = paper_values.get(method, {}).get(spec.key)
            cell = _empty_cell(
                table=table,
                dataset=dataset,
                row=paper.method_label(method),
                column=spec.label,
                group=spec.group,
                method=method,
                metric=spec.key,
                synthetic=synthetic,
                paper=math.nan if paper_value is None else float(paper_value),
            )
            if method not in metrics_by_model:
                cell.update(status=MISSING, n=0)
                rows.append(cell)
                continue
            values = case_values(metrics_by_model[method], spec, f"{dataset}/{method}")
            mean = float(values.mean()) if len(values) else math.nan
            outcome = outcomes.get(method, TrainingOutcome())
            cell.update(
                n=len(values),
                mean=mean,
                std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                diff=mean - cell["paper"],
                status=outcome.status,
                note=outcome.reason or "",
            )
            if reference is not None and method != REFERENCE_MODEL:
                cell["p_value"] = wilcoxon_against(values, reference)
            rows.append(cell)
    return rows


def text_rows(table: str, dataset: str, method: str, texts: Mapping[str, str], **fields) -> list[dict]:
    """Tidy rows for descriptive (non-numeric) cells, e.g. the ablation's module check marks."""
    return [
        _empty_cell(
            table=table,
            dataset=dataset,
            row=paper.method_label(method),
            column=column,
            method=method,
            metric=column,
            status=TEXT,
            text=text,
            **fields,
        )
        for column, text in texts.items()
    ]


def build_accuracy_table(
    table: str,
    datasets: Sequence[str],
    metrics: Mapping[str, Mapping[str, pd.DataFrame]],
    synthetic: Mapping[str, bool],
    outcomes: Mapping[str, Mapping[str, TrainingOutcome]] | None = None,
    paper_methods: Sequence[str] = (),
) -> pd.DataFrame:
    """An accuracy table of any datasets: their reported metrics for every method, beside the paper's values.

    Args:
        table: table name (e.g. ``"table2"``, or a dataset's own name).
        datasets: the datasets, in column order.
        metrics: ``{dataset: {model: per-case frame}}`` of the models that were run.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``; absent models count as fine.
        paper_methods: methods shown (with the paper's values) even when not run, first, in this order.
    """
    outcomes = outcomes or {}
    run_models = list(dict.fromkeys(model for dataset in datasets for model in metrics.get(dataset, {})))
    methods = table_methods(paper_methods, run_models)
    rows = []
    for dataset in datasets:
        rows += accuracy_rows(
            table,
            dataset,
            metrics.get(dataset, {}),
            methods,
            paper.dataset_paper_values(dataset),
            synthetic.get(dataset, False),
            outcomes.get(dataset, {}),
        )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def build_table2(
    metrics: Mapping[str, Mapping[str, pd.DataFrame]],
    synthetic: Mapping[str, bool],
    outcomes: Mapping[str, Mapping[str, TrainingOutcome]] | None = None,
) -> pd.DataFrame:
    """Table 2: BraTS2023 WT/TC/ET/Avg Dice and HD95 and AIIB2023 IoU/DLR/DBR for the compared methods.

    Args:
        metrics: ``{dataset: {model: per-case frame}}`` for ``brats2023`` and/or ``aiib2023``.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``.
    """
    return build_accuracy_table(
        "table2", ("brats2023", "aiib2023"), metrics, synthetic, outcomes, paper_methods=list(paper.TABLE2)
    )


def build_table3(
    metrics: Mapping[str, pd.DataFrame], synthetic: bool, outcomes: Mapping[str, TrainingOutcome] | None = None
) -> pd.DataFrame:
    """Table 3: CRC-500 Dice and HD95 for the compared methods (``metrics``: ``{model: per-case frame}``)."""
    return build_accuracy_table(
        "table3",
        ("crc500",),
        {"crc500": metrics},
        {"crc500": synthetic},
        {"crc500": outcomes or {}},
        paper_methods=list(paper.TABLE3),
    )


def build_table4(
    metrics: Mapping[str, pd.DataFrame],
    dataset: str,
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
) -> pd.DataFrame:
    """Table 4: the ablation (UX-Net, M1, M2, M3, SegMamba) with module check marks, and its metrics.

    The paper's values (CRC-500 Dice and HD95) appear only where the ablation dataset reports those metrics.
    """
    methods = table_methods(list(paper.TABLE4), list(metrics))
    rows = []
    for method in methods:
        modules = paper.ABLATION_MODULES.get(method, {})
        marks = {module: "✓" if modules.get(module) else "" for module in paper.ABLATION_MODULE_NAMES}
        rows += text_rows("table4", dataset, method, marks, synthetic=synthetic, group="Modules")
    paper_values = paper.TABLE4 if dataset == paper.ABLATION_DATASET else {}
    rows += accuracy_rows("table4", dataset, metrics, methods, paper_values, synthetic, outcomes)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


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
    (null for a model without a Mamba scan), ``sequence_length`` (stage-1 length, (size/2)³ when absent) and
    ``variant`` (e.g. ``"fused attention"``, a second row of the same model).

    Returns:
        ``{model, size, variant, tm, im, it, tm_reserved, im_reserved, repeats, status, device, scan_backend,
        sequence_length}``: TM and IM in MB, IT in cases/s (NaN when out of memory), reserved memory None when
        not recorded, ``status`` ``"OOM"`` when any quantity ran out of memory, ``scan_backend`` ``""`` when
        the JSON does not record it.

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
            rows.append(_empty_cell(column=column, metric=column, group=SETUP, status=TEXT, text=text, **common))
        is_paper_row = size == paper.TABLE5_SIZE and not record.get("variant")
        paper_row = paper.TABLE5.get(model, {}) if is_paper_row else {}
        for key, heading, decimals in EFFICIENCY_COLUMNS:
            ours = record[key]
            if key not in recorded:  # reserved memory recorded by no measurement (CPU, or older JSONs)
                continue
            if ours is None:  # recorded by other measurements, not by this one: "–"
                rows.append(_empty_cell(column=heading, metric=key, group=MEASURED, status=TEXT, text="–", **common))
                continue
            paper_value = paper_row.get(key)
            status = OOM if record["status"] == OOM and math.isnan(ours) else OK
            paper_number = float(paper_value) if isinstance(paper_value, int | float) else math.nan
            cell = _empty_cell(
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
