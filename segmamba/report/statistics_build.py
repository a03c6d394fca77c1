"""The report step's statistics artefacts: the BraTS lesion-wise table, a dataset's rank-stability table, its
rank blob plot and its pairwise significance map (``segmamba report lesionwise_table|rank_stability|rank_blobs|
significance_map``; registered in ``segmamba.report.build.ARTEFACTS``).

The builders take plain paths and JSON values (as the rules pass them in ``--inputs``) and import pandas,
scipy and matplotlib when they run, so that the command line starts without them. ``statistics`` is the
rules' ``{"reference": model, "resamples": n, "seed": s}`` (``StatisticsSettings.from_inputs``).
"""

from __future__ import annotations

from collections.abc import Mapping

from segmamba.data.dataset_file import read_dataset_file
from segmamba.data.registry import dataset_label
from segmamba.errors import InputError

LESIONWISE_TITLE = "BraTS2023 lesion-wise Dice (%) and HD95 (mm) (BraTS 2023 definition), compared methods"


def make_lesionwise_table(
    dataset_file: str,
    layout: Mapping[str, str],
    prefix: str,
    outcome_files: Mapping[str, Mapping[str, str]] | None = None,
    statistics: Mapping | None = None,
) -> None:
    """Write the BraTS lesion-wise table (beside Table 2) from ``{model: metrics CSV}`` to ``<prefix>.*``
    (``dataset_file``: BraTS2023's ``results/brats2023/dataset.json``).

    With Table 2's statistics; when the metrics CSVs have no lesion-wise columns (``lesion_dice_wt`` ...), the
    table is empty and its note says so.
    """
    from segmamba.report import notes, render, tables
    from segmamba.report.protocol_inputs import read_metrics_layout, read_outcomes
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics)
    dataset = read_dataset_file(dataset_file)
    outcomes = read_outcomes(outcome_files)
    tidy = tables.build_lesionwise_table(
        "table2_lesionwise", dataset.definition, read_metrics_layout(layout), dataset.synthetic, outcomes, settings
    )
    extra = [
        "Lesion-wise metrics as the BraTS 2023 challenge ranked them (per-lesion Dice and HD95, missed and "
        "false-positive lesions counted), per region and their per-case average."
    ]
    if tidy.empty:
        table_notes = [
            "No lesion-wise metrics: the metrics CSVs have no lesion_dice_wt|tc|et and lesion_hd95_wt|tc|et "
            "columns (an evaluation that does not compute them). Rerun segmamba evaluate to fill this table."
        ]
    else:
        table_notes = notes.accuracy_notes(tidy, extra, settings)
    render.write_table(tidy, prefix, LESIONWISE_TITLE, table_notes)


def _dataset_values(dataset_file: str, layout: Mapping[str, str]):
    """(dataset name, definition, {model: per-case metrics frame}) of one dataset's rank artefacts."""
    from segmamba.report.protocol_inputs import read_metrics_layout

    dataset = read_dataset_file(dataset_file)
    return dataset.name, dataset.definition, read_metrics_layout(layout)


def make_rank_stability(dataset_file: str, layout: Mapping[str, str], prefix: str, statistics=None) -> None:
    """Write a dataset's rank-stability table (every reported metric) to ``<prefix>.csv|.md|.tex``: the CSV has
    one row per metric and method (``rank_stability.RANK_COLUMNS``), Markdown and LaTeX one cell per pair."""
    from segmamba.io_utils import write_text_atomic
    from segmamba.report import notes, rank_stability, render
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics).bootstrap
    dataset, definition, metrics = _dataset_values(dataset_file, layout)
    table = rank_stability.rank_stability_table(definition, metrics, settings)
    write_text_atomic(prefix + ".csv", table.to_csv(index=False, float_format="%.6g"))
    cells = rank_stability.rank_cells(table, f"rank_stability_{dataset}")
    title = f"Rank stability on {dataset_label(dataset)}: bootstrap ranks of the compared methods"
    table_notes = rank_stability.rank_notes(table, settings) if len(table) else ["No method has test cases."]
    table_notes += notes.method_notes(cells)
    write_text_atomic(prefix + ".md", render.render_markdown(cells, title, table_notes))
    write_text_atomic(prefix + ".tex", render.render_latex(cells, title, table_notes, f"rank_stability_{dataset}"))


def _headline(dataset_file: str, layout: Mapping[str, str]):
    """(dataset name, metric, {model: per-case values of the dataset's headline metric})."""
    from segmamba.report import rank_stability

    dataset, definition, metrics = _dataset_values(dataset_file, layout)
    metric = rank_stability.headline_metric(rank_stability.reported_metrics(definition, metrics))
    values = rank_stability.metric_values(metric, metrics, dataset)
    if rank_stability.case_matrix(values).empty:
        raise InputError(f"{dataset}: no test case has a {metric.key} value from every method ({', '.join(values)})")
    return dataset, metric, values


def make_rank_blobs(dataset_file: str, layout: Mapping[str, str], out_path: str, statistics=None) -> None:
    """A dataset's blob plot of the bootstrap ranks of its headline metric (``rank_stability.headline_metric``)."""
    from segmamba.report import figures, paper, rank_stability
    from segmamba.report.statistics import StatisticsSettings

    settings = StatisticsSettings.from_inputs(statistics).bootstrap
    dataset, metric, values = _headline(dataset_file, layout)
    matrix = rank_stability.case_matrix(values).rename(columns=paper.method_label)
    lower = rank_stability.lower_is_better(metric.key)
    summary = rank_stability.rank_summary(matrix, lower, settings).set_index("method")
    frequencies = rank_stability.rank_frequencies(matrix, lower, settings)
    title = f"{dataset_label(dataset)}: bootstrap ranks by {metric.label} ({len(matrix)} cases)"
    figures.plot_rank_blobs(frequencies, summary, out_path, title)


def make_significance_map(dataset_file: str, layout: Mapping[str, str], out_path: str, statistics=None) -> None:
    """A dataset's pairwise significance map of its headline metric, methods in the order of their mean."""
    from segmamba.report import figures, paper, rank_stability

    dataset, metric, values = _headline(dataset_file, layout)
    lower = rank_stability.lower_is_better(metric.key)
    pairs = rank_stability.pairwise_tests(values, lower)
    pairs["method"] = pairs["method"].map(paper.method_label)
    pairs["other"] = pairs["other"].map(paper.method_label)
    means = rank_stability.case_matrix(values).mean().sort_values(ascending=lower)
    order = [paper.method_label(method) for method in means.index]
    order += [paper.method_label(m) for m in values if paper.method_label(m) not in order]
    title = f"{dataset_label(dataset)}: pairwise paired Wilcoxon on {metric.label}, Holm-adjusted over all pairs"
    figures.plot_significance_map(pairs, order, out_path, title)
