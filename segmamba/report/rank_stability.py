"""Rank stability of the compared methods on one dataset, and their pairwise significance.

Rank stability (challengeR's bootstrap ranking, Wiesenfarth et al., Sci Rep 2021): the test cases every
method has are resampled with replacement (``BootstrapSettings``: 10,000 times, seeded); on each resample
the methods are ranked by their mean (rank 1 = best: the highest mean, the lowest for a distance such as
HD95; tied means share the best rank, ``scipy.stats.rankdata(method="min")``). Each method's mean rank,
median rank and 95% rank interval (the 2.5th and 97.5th percentiles of its ranks) summarise how firmly the
data place it. The pairwise significance map compares every pair of methods with the two-sided paired
Wilcoxon signed-rank test on the cases both have, Holm-adjusted over all pairs.

Per-case values are those of ``segmamba.report.statistics`` (each case's mean over its seeds).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from segmamba.data.registry import DatasetDefinition, ReportedMetric
from segmamba.evaluate.summary import paired_wilcoxon
from segmamba.report import paper
from segmamba.report.statistics import BootstrapSettings, holm, seed_means
from segmamba.report.tables import case_values, nsd_metrics

#: Metric keys preferred as a dataset's headline metric (its figures), in order; else its first metric.
HEADLINE_KEYS = ("dice_avg", "dice_mean", "dice")

#: Columns of the rank-stability CSV.
RANK_COLUMNS = (
    "dataset metric column group method row n_cases resamples observed_rank mean_rank median_rank rank_low rank_high"
).split()


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of the metric is better (the distances: HD95, lesion-wise HD95)."""
    return "hd95" in metric


def headline_metric(metrics: Sequence[ReportedMetric]) -> ReportedMetric:
    """The metric a dataset's rank figures show: its average or mean Dice, or its first metric."""
    by_key = {metric.key: metric for metric in metrics}
    return next((by_key[key] for key in HEADLINE_KEYS if key in by_key), metrics[0])


def case_matrix(values: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Cases x methods of each case's mean over seeds, only the cases every method has (in first-seen order)."""
    means = {method: seed_means(frame) for method, frame in values.items()}
    return pd.DataFrame(means).dropna()


def ranks(means: np.ndarray, lower_better: bool) -> np.ndarray:
    """Ranks (1 = best) of the methods along the last axis of ``means``; ties share the best rank."""
    return rankdata(means if lower_better else -means, method="min", axis=-1)


def bootstrap_ranks(matrix: np.ndarray, lower_better: bool, settings: BootstrapSettings) -> np.ndarray:
    """(resamples, methods) ranks of the methods by mean on each bootstrap resample of the rows (cases).

    The resamples are drawn ``settings.batch`` at a time from ``numpy.random.default_rng(settings.seed)``.
    """
    generator = np.random.default_rng(settings.seed)
    n_cases = matrix.shape[0]
    result = []
    for start in range(0, settings.resamples, settings.batch):
        count = min(settings.batch, settings.resamples - start)
        rows = generator.integers(0, n_cases, size=(count, n_cases))
        result.append(ranks(matrix[rows].mean(axis=1), lower_better))
    return np.concatenate(result)


def rank_summary(matrix: pd.DataFrame, lower_better: bool, settings: BootstrapSettings) -> pd.DataFrame:
    """Per method (the columns of ``matrix``): observed rank, mean and median rank and the 95% rank interval."""
    values = matrix.to_numpy(dtype=float)
    sampled = bootstrap_ranks(values, lower_better, settings)
    tail = (1 - settings.confidence) / 2
    low, high = np.quantile(sampled, [tail, 1 - tail], axis=0, method="inverted_cdf")
    return pd.DataFrame(
        {
            "method": list(matrix.columns),
            "n_cases": len(matrix),
            "resamples": settings.resamples,
            "observed_rank": ranks(values.mean(axis=0), lower_better),
            "mean_rank": sampled.mean(axis=0),
            "median_rank": np.median(sampled, axis=0),
            "rank_low": low,
            "rank_high": high,
        }
    )


def rank_frequencies(matrix: pd.DataFrame, lower_better: bool, settings: BootstrapSettings) -> pd.DataFrame:
    """Methods x ranks 1..k: the fraction of bootstrap resamples in which each method has each rank."""
    sampled = bootstrap_ranks(matrix.to_numpy(dtype=float), lower_better, settings)
    k = matrix.shape[1]
    counts = np.stack([(sampled == rank).mean(axis=0) for rank in range(1, k + 1)], axis=1)
    return pd.DataFrame(counts, index=list(matrix.columns), columns=range(1, k + 1))


def pairwise_tests(values: Mapping[str, pd.DataFrame], lower_better: bool) -> pd.DataFrame:
    """Every ordered pair (method, other): the paired Wilcoxon p-value on their common cases (each case's mean
    over seeds), Holm-adjusted over all unordered pairs, the mean difference and whether ``method`` is
    significantly better (Holm-adjusted p < 0.05 and a better mean)."""
    means = {method: seed_means(frame) for method, frame in values.items()}
    pairs = []
    for first, second in itertools.combinations(means, 2):
        common = means[first].index.intersection(means[second].index, sort=False)
        a, b = means[first].loc[common].to_numpy(), means[second].loc[common].to_numpy()
        difference = float(np.mean(a - b)) if len(common) else np.nan
        pairs.append((first, second, len(common), difference, float(paired_wilcoxon(a, b))))
    adjusted = holm([pair[4] for pair in pairs])
    rows = []
    for (first, second, n, difference, p_value), p_holm in zip(pairs, adjusted, strict=True):
        for method, other, sign in ((first, second, 1), (second, first, -1)):
            better = sign * difference < 0 if lower_better else sign * difference > 0
            rows.append(
                {
                    "method": method,
                    "other": other,
                    "n": n,
                    "diff": sign * difference,
                    "p_value": p_value,
                    "p_holm": p_holm,
                    "significantly_better": bool(better and p_holm < 0.05),
                }
            )
    return pd.DataFrame(rows, columns="method other n diff p_value p_holm significantly_better".split())


def metric_values(
    metric: ReportedMetric, metrics_by_model: Mapping[str, pd.DataFrame], dataset: str
) -> dict[str, pd.DataFrame]:
    """``{model: per-case values}`` of one metric (``segmamba.report.tables.case_values``)."""
    return {model: case_values(frame, metric, f"{dataset}/{model}") for model, frame in metrics_by_model.items()}


def reported_metrics(definition: DatasetDefinition, metrics_by_model: Mapping[str, pd.DataFrame]) -> list:
    """The metrics ranked: the dataset's reported metrics and, where every CSV has them, their NSD."""
    return [*definition.reported_metrics(), *nsd_metrics(definition, metrics_by_model)]


def rank_stability_table(
    definition: DatasetDefinition, metrics_by_model: Mapping[str, pd.DataFrame], settings: BootstrapSettings
) -> pd.DataFrame:
    """The rank-stability rows (``RANK_COLUMNS``) of every ranked metric of one dataset, methods in input order."""
    frames = []
    for metric in reported_metrics(definition, metrics_by_model):
        matrix = case_matrix(metric_values(metric, metrics_by_model, definition.name))
        if matrix.empty:
            continue
        summary = rank_summary(matrix, lower_is_better(metric.key), settings)
        summary.insert(0, "dataset", definition.name)
        summary.insert(1, "metric", metric.key)
        summary.insert(2, "column", metric.label)
        summary.insert(3, "group", metric.group)
        summary.insert(5, "row", [paper.method_label(method) for method in summary["method"]])
        frames.append(summary)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame([], columns=RANK_COLUMNS)


def rank_cells(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rank-stability rows as text cells of the tidy table form (``segmamba.report.tables.TIDY_COLUMNS``),
    so that ``segmamba.report.render`` lays them out: ``mean rank (median) [95% interval]`` per method and
    metric."""
    from segmamba.report.tables import TEXT, TIDY_COLUMNS, empty_cell

    cells = [
        empty_cell(
            table=name,
            dataset=row.dataset,
            row=row.row,
            column=row.column,
            group=row.group,
            method=row.method,
            metric=row.metric,
            status=TEXT,
            text=f"{row.mean_rank:.2f} ({row.median_rank:g}) [{row.rank_low:g}, {row.rank_high:g}]",
        )
        for row in table.itertuples()
    ]
    return pd.DataFrame(cells, columns=TIDY_COLUMNS)


def rank_notes(table: pd.DataFrame, settings: BootstrapSettings) -> list[str]:
    """The notes beneath a rank-stability table."""
    per_metric = table.groupby("metric", sort=False)["n_cases"].first()
    if per_metric.nunique() == 1:
        cases = f"{int(per_metric.iloc[0])} for every metric"
    else:
        cases = ", ".join(f"{n} for {metric}" for metric, n in per_metric.items())
    return [
        f"Cells: mean rank (median rank) [{settings.confidence:.0%} rank interval] of each method over "
        f"{settings.resamples:,} bootstrap resamples of the test cases every method has (seed {settings.seed}); "
        "rank 1 = best (highest mean; lowest for HD95), tied means share the best rank. A narrow interval is a "
        "firm place; overlapping intervals mean the data do not separate the methods.",
        f"Cases resampled: {cases}. Observed ranks (on all cases) are in the CSV.",
    ]
