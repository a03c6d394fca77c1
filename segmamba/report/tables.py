"""The paper's accuracy Tables 2-4 and a dataset's own table from per-case metric CSVs, beside the paper's numbers.

(Table 5, from the efficiency JSONs, is built in ``segmamba.report.efficiency_table`` in the same tidy form.)

Every table is first built as a *tidy* frame (one row per table cell: method x metric), which is what the CSV
holds, with every number: mean, std, n and the bootstrap CI of the mean, the paper's value, Δ (ours − paper),
the paired difference to the reference method with its CI, the Wilcoxon p-value and its Holm adjustment. The
Markdown and LaTeX files (``segmamba.report.render``) show our mean ± std per cell, the CI and the paper's
values in rows beneath each method and a significance marker; the exact p-values and differences stay in the CSV.

The statistics (``segmamba.report.statistics``) are computed over the test cases, each case's value being
its mean over seeds when there are several: mean, sample standard deviation (ddof=1), the bootstrap CI of
the mean, and for each method against the reference (SegMamba unless configured) the mean paired difference
with its bootstrap CI and the two-sided paired Wilcoxon signed-rank p-value, Holm-adjusted over the
comparisons of each column (one metric on one dataset). Fractions are reported in percent, as in the paper.
When every metrics CSV has the evaluation's NSD columns (``nsd_<region>``), NSD columns join each Dice
column; the BraTS lesion-wise metrics make a table of their own (``lesionwise_metrics``).

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
from segmamba.report.statistics import StatisticsSettings, add_holm, case_frame, cell_statistics, paired_comparison

#: Column group of the NSD columns, and that of the BraTS lesion-wise metrics.
NSD_GROUP = "NSD (%)"
LESION_GROUPS = ("Lesion-wise Dice (%)", "Lesion-wise HD95 (mm)")

#: Columns of the tidy table CSV, in order. ``group`` is the column group (e.g. "Dice (%)") that the Markdown
#: splits a wide table by; ``note`` says why a cell has its status (e.g. the collapse reason).
TIDY_COLUMNS = (
    "table dataset row column method metric size n mean std status paper diff p_value "
    "decimals synthetic text group note ci_low ci_high p_holm reference diff_ref diff_ci_low diff_ci_high "
    "n_seeds seed_std folds"
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


def case_values(frame: pd.DataFrame, metric: ReportedMetric, source: str = "metrics") -> pd.DataFrame:
    """Per-case values of one metric (mean over ``metric.columns``, times ``metric.scale``) as the per-case frame
    of ``segmamba.report.statistics`` (columns case, seed, fold, value), NaN values dropped.

    Raises:
        InputError: a required column is missing from the metrics of ``source``, or a case has two rows for
            one seed.
    """
    missing = [column for column in metric.columns if column not in frame.columns]
    if missing:
        raise InputError(f"{source}: metric column(s) {', '.join(missing)} missing (needed for {metric.key})")
    values = case_frame(frame, frame[list(metric.columns)].astype(float).mean(axis=1, skipna=False) * metric.scale)
    repeated = values[values.duplicated(["case", "seed"])]
    if len(repeated):
        case, seed = repeated.iloc[0][["case", "seed"]]
        raise InputError(f"{source}: case {case} has more than one row for seed {seed} (column {metric.columns[0]})")
    return values


def nsd_metrics(definition: DatasetDefinition, frames: Mapping[str, pd.DataFrame]) -> list[ReportedMetric]:
    """NSD metrics beside the dataset's Dice metrics (``nsd_<region>`` for ``dice_<region>``; the airway ``nsd``
    of a dataset without Dice), when every metrics frame in ``frames`` has their columns (none otherwise)."""
    dice = [metric for metric in definition.reported_metrics() if metric.key.startswith("dice")]
    candidates = [
        ReportedMetric(
            "nsd" + metric.key[4:],
            metric.label.replace("Dice", "NSD"),
            tuple("nsd" + column[4:] for column in metric.columns),
            100.0,
            NSD_GROUP,
        )
        for metric in dice
    ] or [ReportedMetric("nsd", "Airway NSD (%)", ("nsd",), 100.0, NSD_GROUP)]
    return [
        metric
        for metric in candidates
        if frames and all(set(metric.columns) <= set(frame.columns) for frame in frames.values())
    ]


def lesionwise_metrics(frames: Mapping[str, pd.DataFrame], regions: Sequence[str] = ("wt", "tc", "et")) -> list:
    """BraTS 2023 lesion-wise Dice and HD95 per region and their per-case average (``lesion_dice_<region>``,
    ``lesion_hd95_<region>``), when every metrics frame in ``frames`` has the columns (none otherwise)."""
    metrics = []
    kinds = (("lesion_dice", "Dice (%)", 100.0, LESION_GROUPS[0]), ("lesion_hd95", "HD95 (mm)", 1.0, LESION_GROUPS[1]))
    for prefix, name, scale, group in kinds:
        columns = tuple(f"{prefix}_{region}" for region in regions)
        for column, region in zip(columns, regions, strict=True):
            metrics.append(ReportedMetric(column, f"{region.upper()} {name}", (column,), scale, group))
        metrics.append(ReportedMetric(f"{prefix}_avg", f"Avg {name}", columns, scale, group))
    wanted = {column for metric in metrics for column in metric.columns}
    present = frames and all(wanted <= set(frame.columns) for frame in frames.values())
    return metrics if present else []


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
    row.update({"status": OK, "text": "", "note": "", "group": "", "synthetic": False, "decimals": 2, "reference": ""})
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
    statistics: StatisticsSettings | None = None,
    reported: Sequence[ReportedMetric] | None = None,
) -> list[dict]:
    """Tidy rows (one per method x metric) comparing our per-case metrics with the paper and the reference.

    Args:
        table: table name written into every row (e.g. ``"table2"``).
        definition: the dataset (its name and reported metrics).
        metrics_by_model: per-case metric frames (``read_case_metrics``) of the models that were run.
        methods: row order; methods absent from ``metrics_by_model`` get status ``MISSING`` (paper only).
        paper_values: the paper's numbers per method and metric key (``None`` or absent when unknown).
        synthetic: whether the dataset was a synthetic stand-in.
        outcomes: per model, how its training went (``training_outcome``); cells of a collapsed training
            keep their numbers but get its status.
        statistics: the reference method and bootstrap settings (default: SegMamba, 10,000 resamples, seed 0).
        reported: the metrics (default: the dataset's reported metrics and, where present, their NSD).
    """
    outcomes, paper_values, dataset = outcomes or {}, paper_values or {}, definition.name
    statistics = statistics or StatisticsSettings()
    if reported is None:
        reported = [*definition.reported_metrics(), *nsd_metrics(definition, metrics_by_model)]
    rows = []
    for metric in reported:
        reference = None
        if statistics.reference in metrics_by_model:
            source = f"{dataset}/{statistics.reference}"
            reference = case_values(metrics_by_model[statistics.reference], metric, source)
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
                reference=statistics.reference,
            )
            if method not in metrics_by_model:
                cell.update(status=MISSING, n=0)
                rows.append(cell)
                continue
            values = case_values(metrics_by_model[method], metric, f"{dataset}/{method}")
            outcome = outcomes.get(method, TrainingOutcome())
            cell.update(cell_statistics(values, statistics.bootstrap), status=outcome.status, note=outcome.reason or "")
            cell["diff"] = cell["mean"] - cell["paper"]
            if reference is not None and method != statistics.reference:
                cell.update(paired_comparison(values, reference, statistics.bootstrap))
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
    statistics: StatisticsSettings | None = None,
) -> pd.DataFrame:
    """An accuracy table of any datasets: their reported metrics for every method, beside the paper's values.

    The paper's methods (those with paper values on any of the datasets) come first, shown even when not run.

    Args:
        table: table name (e.g. ``"table2"``, or a dataset's own name).
        definitions: the datasets, in column order.
        metrics: ``{dataset: {model: per-case frame}}`` of the models that were run.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``; absent models count as fine.
        statistics: the reference method and bootstrap settings.
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
            statistics,
        )
    return add_holm(pd.DataFrame(rows, columns=TIDY_COLUMNS))


def build_paper_table(
    table: str,
    metrics: Mapping[str, Mapping[str, pd.DataFrame]],
    synthetic: Mapping[str, bool],
    outcomes: Mapping[str, Mapping[str, TrainingOutcome]] | None = None,
    statistics: StatisticsSettings | None = None,
) -> pd.DataFrame:
    """Table 2 (BraTS2023 WT/TC/ET/Avg Dice and HD95, AIIB2023 IoU/DLR/DBR) or Table 3 (CRC-500 Dice, HD95).

    Args:
        table: ``"table2"`` or ``"table3"``: its datasets are those of the registry with this ``paper_table``.
        metrics: ``{dataset: {model: per-case frame}}`` of the models that were run.
        synthetic: ``{dataset: True if synthetic}``.
        outcomes: ``{dataset: {model: TrainingOutcome}}``.
        statistics: the reference method and bootstrap settings.
    """
    definitions = [DATASETS[name] for name in paper_datasets(table)]
    if not definitions:
        raise InputError(f"tables: no registered dataset has paper_table {table!r}")
    return build_accuracy_table(table, definitions, metrics, synthetic, outcomes, statistics)


def build_dataset_table(
    definition: DatasetDefinition,
    metrics: Mapping[str, pd.DataFrame],
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
    statistics: StatisticsSettings | None = None,
) -> pd.DataFrame:
    """The table of a dataset the paper does not report (``results/tables/<name>.*``): our numbers only.

    ``metrics``: ``{model: per-case frame}``; the table is named after the dataset.
    """
    name = definition.name
    outcomes = {name: outcomes or {}}
    return build_accuracy_table(name, [definition], {name: metrics}, {name: synthetic}, outcomes, statistics)


def build_lesionwise_table(
    table: str,
    definition: DatasetDefinition,
    metrics: Mapping[str, pd.DataFrame],
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
    statistics: StatisticsSettings | None = None,
) -> pd.DataFrame:
    """The BraTS lesion-wise table (``lesionwise_metrics``) with Table 2's statistics and row order; no rows when
    the metrics frames lack the lesion-wise columns (an evaluation that does not compute them)."""
    reported = lesionwise_metrics(metrics)
    if not reported:
        return pd.DataFrame([], columns=TIDY_COLUMNS)
    methods = table_methods(paper_methods([definition]), list(metrics))
    rows = accuracy_rows(table, definition, metrics, methods, None, synthetic, outcomes, statistics, reported)
    return add_holm(pd.DataFrame(rows, columns=TIDY_COLUMNS))


def build_table4(
    metrics: Mapping[str, pd.DataFrame],
    definition: DatasetDefinition,
    synthetic: bool,
    outcomes: Mapping[str, TrainingOutcome] | None = None,
    statistics: StatisticsSettings | None = None,
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
    rows += accuracy_rows("table4", definition, metrics, methods, paper_values, synthetic, outcomes, statistics)
    return add_holm(pd.DataFrame(rows, columns=TIDY_COLUMNS))
