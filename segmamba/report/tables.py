"""The paper's accuracy Tables 2-4 and a dataset's own table from per-case metric CSVs, beside the paper's numbers.

(Table 5, from the efficiency JSONs, is built in ``segmamba.report.efficiency_table`` in the same tidy form.)

Every table is first built as a *tidy* frame (one row per table cell: method x metric), which is what the CSV
holds, with every number: mean, std, n, the paper's value, Δ (ours − paper) and the p-value. The Markdown and
LaTeX files (``segmamba.report.render``) show our mean ± std per cell, the paper's values in a row beneath
each method and a significance marker; the exact p-values and Δ stay in the CSV.

Accuracy statistics are computed over the test cases of one run: mean, sample standard deviation (ddof=1)
and the two-sided paired Wilcoxon signed-rank p-value of each method against SegMamba on the cases both
have (``segmamba.evaluate.summary.paired_wilcoxon``). Fractions are reported in percent, as in the paper.

A dataset's table is built from its definition in ``segmamba.data.registry``: its reported metrics
(``DatasetDefinition.reported_metrics()``), its display label and the paper's values (``paper_values``); a
dataset the paper does not report (a dataset of your own) gets a table of our numbers only, with the same
columns.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from segmamba.data.registry import DATASETS, DatasetDefinition, PaperValues, ReportedMetric, paper_datasets
from segmamba.errors import InputError
from segmamba.report import paper

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


def read_case_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``segmamba evaluate`` per-case CSV, indexed by case id.

    Raises:
        InputError: the file has no ``case`` column.
    """
    frame = pd.read_csv(path)
    if "case" not in frame.columns:
        raise InputError(f"metrics file {path}: no 'case' column (columns: {', '.join(frame.columns)})")
    return frame.set_index(frame["case"].astype(str)).drop(columns="case")


def case_values(frame: pd.DataFrame, metric: ReportedMetric, source: str = "metrics") -> pd.Series:
    """Per-case values of one metric (mean over ``metric.columns``, times ``metric.scale``), NaN cases dropped.

    Raises:
        InputError: a required column is missing from the metrics of ``source``.
    """
    missing = [column for column in metric.columns if column not in frame.columns]
    if missing:
        raise InputError(f"{source}: metric column(s) {', '.join(missing)} missing (needed for {metric.key})")
    values = frame[list(metric.columns)].astype(float).mean(axis=1, skipna=False) * metric.scale
    return values.dropna()


def wilcoxon_against(values: pd.Series, reference: pd.Series) -> float:
    """Paired Wilcoxon p-value of ``values`` against ``reference`` on the cases both have (NaN if none)."""
    from segmamba.evaluate.summary import paired_wilcoxon

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


def empty_cell(**fields) -> dict:
    """A tidy row with every column present (NaN / empty defaults), updated with ``fields``."""
    row = {column: math.nan for column in TIDY_COLUMNS}
    row.update({"status": OK, "text": "", "note": "", "group": "", "synthetic": False, "decimals": 2})
    row.update(fields)
    return row


def table_methods(paper_methods: Sequence[str], run_models: Sequence[str]) -> list[str]:
    """Row order of an accuracy table: the paper's methods, then any other model that was run."""
    return list(paper_methods) + [model for model in run_models if model not in paper_methods]


def paper_methods(definitions: Sequence[DatasetDefinition]) -> list[str]:
    """The methods the paper reports on any of these datasets, in the paper's row order."""
    return list(dict.fromkeys(method for d in definitions for method in d.paper_values or {}))


def accuracy_rows(
    table: str,
    definition: DatasetDefinition,
    metrics_by_model: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    paper_values: PaperValues | None,
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
) -> list[dict]:
    """Tidy rows (one per method x metric) comparing our per-case metrics with the paper.

    Args:
        table: table name written into every row (e.g. ``"table2"``).
        definition: the dataset (its name and reported metrics).
        metrics_by_model: per-case metric frames (``read_case_metrics``) of the models that were run.
        methods: row order; methods absent from ``metrics_by_model`` get status ``MISSING`` (paper only).
        paper_values: the paper's numbers per method and metric key (``None`` or absent when unknown).
        synthetic: whether the dataset was a synthetic stand-in.
        outcomes: per model, how its training went (``training_outcome``); cells of a collapsed training
            keep their numbers but get its status.
    """
    outcomes, paper_values, dataset = outcomes or {}, paper_values or {}, definition.name
    rows = []
    for metric in definition.reported_metrics():
        reference = None
        if REFERENCE_MODEL in metrics_by_model:
            reference = case_values(metrics_by_model[REFERENCE_MODEL], metric, f"{dataset}/{REFERENCE_MODEL}")
        for method in methods:
            paper_value = paper_values.get(method, {}).get(metric.key)
            cell = empty_cell(
                table=table,
                dataset=dataset,
                row=paper.method_label(method),
                column=metric.label,
                group=metric.group,
                method=method,
                metric=metric.key,
                synthetic=synthetic,
                paper=math.nan if paper_value is None else float(paper_value),
            )
            if method not in metrics_by_model:
                cell.update(status=MISSING, n=0)
                rows.append(cell)
                continue
            values = case_values(metrics_by_model[method], metric, f"{dataset}/{method}")
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
        empty_cell(
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
    definitions: Sequence[DatasetDefinition],
    metrics: Mapping[str, Mapping[str, pd.DataFrame]],
    synthetic: Mapping[str, bool],
    outcomes: Mapping[str, Mapping[str, TrainingOutcome]] | None = None,
) -> pd.DataFrame:
    """An accuracy table of any datasets: their reported metrics for every method, beside the paper's values.

    The paper's methods (those with paper values on any of the datasets) come first, shown even when not run.

    Args:
        table: table name (e.g. ``"table2"``, or a dataset's own name).
        definitions: the datasets, in column order.
        metrics: ``{dataset: {model: per-case frame}}`` of the models that were run.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``; absent models count as fine.
    """
    outcomes = outcomes or {}
    run_models = list(dict.fromkeys(model for d in definitions for model in metrics.get(d.name, {})))
    methods = table_methods(paper_methods(definitions), run_models)
    rows = []
    for definition in definitions:
        name = definition.name
        rows += accuracy_rows(
            table,
            definition,
            metrics.get(name, {}),
            methods,
            definition.paper_values,
            synthetic.get(name, False),
            outcomes.get(name, {}),
        )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def build_paper_table(
    table: str,
    metrics: Mapping[str, Mapping[str, pd.DataFrame]],
    synthetic: Mapping[str, bool],
    outcomes: Mapping[str, Mapping[str, TrainingOutcome]] | None = None,
) -> pd.DataFrame:
    """Table 2 (BraTS2023 WT/TC/ET/Avg Dice and HD95, AIIB2023 IoU/DLR/DBR) or Table 3 (CRC-500 Dice, HD95).

    Args:
        table: ``"table2"`` or ``"table3"``: its datasets are those of the registry with this ``paper_table``.
        metrics: ``{dataset: {model: per-case frame}}`` of the models that were run.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``.
    """
    definitions = [DATASETS[name] for name in paper_datasets(table)]
    if not definitions:
        raise InputError(f"tables: no registered dataset has paper_table {table!r}")
    return build_accuracy_table(table, definitions, metrics, synthetic, outcomes)


def build_dataset_table(
    definition: DatasetDefinition,
    metrics: Mapping[str, pd.DataFrame],
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
) -> pd.DataFrame:
    """The table of a dataset the paper does not report (``results/tables/<name>.*``): our numbers only.

    ``metrics``: ``{model: per-case frame}``; the table is named after the dataset.
    """
    name = definition.name
    return build_accuracy_table(name, [definition], {name: metrics}, {name: synthetic}, {name: outcomes or {}})


def build_table4(
    metrics: Mapping[str, pd.DataFrame],
    definition: DatasetDefinition,
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
) -> pd.DataFrame:
    """Table 4: the ablation (UX-Net, M1, M2, M3, SegMamba) with module check marks, and its metrics.

    ``definition`` is the ablation's dataset; the paper's values appear only for the paper's ablation dataset.
    """
    methods = table_methods(list(paper.ABLATION_MODULES), list(metrics))
    rows = []
    for method in methods:
        modules = paper.ABLATION_MODULES.get(method, {})
        marks = {module: "✓" if modules.get(module) else "" for module in paper.ABLATION_MODULE_NAMES}
        rows += text_rows("table4", definition.name, method, marks, synthetic=synthetic, group="Modules")
    paper_values = definition.ablation_paper_values
    rows += accuracy_rows("table4", definition, metrics, methods, paper_values, synthetic, outcomes)
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)
