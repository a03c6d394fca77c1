"""The notes beneath the tables: what the cells and statistics are, synthetic data, collapses, method notes."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segmamba.data.registry import dataset_label
from segmamba.report import paper
from segmamba.report.render import CI_ROW, SIGNIFICANCE_LEVEL, SIGNIFICANCE_MARKER, has_paper_value, note_markers
from segmamba.report.statistics import StatisticsSettings
from segmamba.report.tables import BACKGROUND_ONLY, COLLAPSED, MISSING, TEXT


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


def unreachable_note(tidy: pd.DataFrame) -> str:
    """A sentence when no Holm-adjusted p-value of the table can fall below the significance level: the exact
    two-sided Wilcoxon test on n pairs cannot go below 2 / 2^n, and Holm multiplies the smallest p-value of a
    column by its number of comparisons m (empty when m · 2 / 2^n < the level for some column)."""
    tested = tidy[tidy["p_value"].notna()]
    if tested.empty:
        return ""
    columns = tested.groupby(["table", "dataset", "metric"], sort=False).agg(n=("n", "max"), m=("p_value", "size"))
    if (columns["m"] * 2.0 ** (1 - columns["n"]) < SIGNIFICANCE_LEVEL).any():
        return ""
    n, m = int(columns["n"].max()), int(columns["m"].max())
    comparisons = f" and {m} comparisons per column" if m > 1 else ""
    return f" With at most {n} paired cases{comparisons} the exact test cannot reach p < {SIGNIFICANCE_LEVEL}."


def statistics_notes(tidy: pd.DataFrame, settings: StatisticsSettings, with_paper: bool) -> list[str]:
    """What the cells, the CI row and the significance marker of an accuracy table are (its statistics)."""
    boot = settings.bootstrap
    measured = tidy[(tidy["status"] != MISSING) & (tidy["status"] != TEXT) & (tidy["n"] > 0)]
    cells = (
        f"Cells: our mean ± sample std over the test cases; the row beneath ({CI_ROW[2:]}): bootstrap "
        f"{boot.confidence:.0%} CI of the mean ({boot.method}, {boot.resamples:,} resamples of the cases, "
        f"seed {boot.seed})"
    )
    if with_paper:
        cells += "; the row beneath each method (paper) holds the paper's value (– = not reported)"
    reference = paper.method_label(settings.reference)
    in_csv = "Δ = ours − paper, " if with_paper else ""
    significance = (
        f"{SIGNIFICANCE_MARKER} Holm-adjusted p < {SIGNIFICANCE_LEVEL} against {reference}: two-sided paired "
        "Wilcoxon signed-rank test on the test cases both have, Holm-adjusted over the comparisons of each column "
        f"(one metric on one dataset). Exact and adjusted p-values (p_value, p_holm), the paired difference to "
        f"{reference} with its CI (diff_ref, diff_ci_low, diff_ci_high), {in_csv}the CI (ci_low, ci_high) and n "
        "are in the CSV."
    )
    significance += unreachable_note(tidy)
    if len(measured) and settings.reference not in set(measured["method"]):
        significance += f" {reference} was not run: no comparisons."
    notes = [cells + ".", significance]
    seeds = measured["n_seeds"].max() if len(measured) else 1
    if seeds > 1:
        notes.append(
            f"Seeds: up to {int(seeds)} trainings per method; each case's value is its mean over the seeds (also in "
            "the tests); seed_std in the CSV is the std of the seeds' means."
        )
    folds = measured["folds"].max() if len(measured) else 1
    if folds > 1:
        notes.append(f"Cases: the test cases of {int(folds)} cross-validation folds together.")
    return notes


def accuracy_notes(
    tidy: pd.DataFrame, extra: Sequence[str] = (), settings: StatisticsSettings | None = None
) -> list[str]:
    """The notes under an accuracy table (Tables 2-4 and dataset tables); ``settings``: its statistics'."""
    with_paper = any(has_paper_value(record) for record in tidy.to_dict("records"))
    notes = statistics_notes(tidy, settings or StatisticsSettings(), with_paper)
    measured = tidy[(tidy["status"] != MISSING) & (tidy["status"] != TEXT) & (tidy["n"] > 0)]
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
