"""Rank stability and the pairwise significance map on planted cases: a dominating method, tied methods."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.report import build, rank_stability
from segmamba.report.statistics import BootstrapSettings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_CASES = 40
CASES = [f"c{i:02d}" for i in range(N_CASES)]


def values_frame(values) -> pd.DataFrame:
    """The per-case values frame of ``segmamba.report.statistics`` (one seed, one fold)."""
    return pd.DataFrame({"case": CASES, "seed": 0, "fold": "", "value": np.asarray(values, dtype=float)})


def planted(rng) -> dict[str, np.ndarray]:
    """best: always 0.4 above the twins; twin_a and twin_b: tied (equal means, case by case noise of opposite
    sign, so that either is ahead on about half the resamples); worst: always 0.3 below."""
    base = rng.uniform(0.3, 0.6, N_CASES)
    noise = rng.normal(0, 0.05, N_CASES)
    noise -= noise.mean()
    return {"best": base + 0.4, "twin_a": base + noise, "twin_b": base - noise, "worst": base - 0.3}


def summary_of(values: dict[str, np.ndarray], lower_better: bool = False) -> pd.DataFrame:
    matrix = rank_stability.case_matrix({m: values_frame(v) for m, v in values.items()})
    return rank_stability.rank_summary(matrix, lower_better, BootstrapSettings()).set_index("method")


def test_a_dominating_method_has_rank_interval_one_and_tied_methods_share_two_and_three():
    summary = summary_of(planted(np.random.default_rng(0)))
    best, worst = summary.loc["best"], summary.loc["worst"]
    assert (best["rank_low"], best["rank_high"], best["mean_rank"], best["median_rank"]) == (1, 1, 1.0, 1.0)
    assert (worst["rank_low"], worst["rank_high"], worst["mean_rank"]) == (4, 4, 4.0)
    for twin in ("twin_a", "twin_b"):
        assert (summary.loc[twin, "rank_low"], summary.loc[twin, "rank_high"]) == (2, 3)
        assert 2.3 < summary.loc[twin, "mean_rank"] < 2.7
    assert summary.loc["twin_a", "mean_rank"] + summary.loc["twin_b", "mean_rank"] == pytest.approx(5.0)
    assert (summary["n_cases"] == N_CASES).all() and (summary["resamples"] == 10_000).all()


def test_identical_methods_share_the_best_rank_and_hd95_ranks_the_lowest_first():
    values = planted(np.random.default_rng(1))
    values["copy"] = values["twin_a"].copy()
    summary = summary_of(values)
    assert (summary.loc["copy", "observed_rank"], summary.loc["twin_a", "observed_rank"]) in ((2, 2), (3, 3))
    assert (summary.loc["copy", "mean_rank"]) == summary.loc["twin_a", "mean_rank"]  # identical on every resample
    distances = summary_of({m: 10 - v for m, v in values.items()}, lower_better=True)  # smaller = better
    assert (distances.loc["best", "rank_low"], distances.loc["best", "rank_high"]) == (1, 1)
    assert distances.loc["worst", "observed_rank"] == 5  # five methods, the worst last


def test_rank_frequencies_sum_to_one_per_method_and_match_the_interval():
    values = planted(np.random.default_rng(2))
    matrix = rank_stability.case_matrix({m: values_frame(v) for m, v in values.items()})
    frequencies = rank_stability.rank_frequencies(matrix, False, BootstrapSettings(resamples=2_000))
    assert np.allclose(frequencies.sum(axis=1), 1.0)
    assert frequencies.loc["best", 1] == 1.0 and frequencies.loc["worst", 4] == 1.0
    assert frequencies.loc["twin_a", [2, 3]].sum() == 1.0 and 0 < frequencies.loc["twin_a", 2] < 1


def test_pairwise_tests_are_scipy_wilcoxon_holm_adjusted_over_all_pairs():
    values = planted(np.random.default_rng(3))
    pairs = rank_stability.pairwise_tests({m: values_frame(v) for m, v in values.items()}, lower_better=False)
    unordered = list(itertools.combinations(values, 2))
    p_values = [wilcoxon(values[a], values[b]).pvalue for a, b in unordered]
    adjusted = dict(zip(unordered, multipletests(p_values, method="holm")[1], strict=True))
    assert len(pairs) == 2 * len(unordered)
    for row in pairs.itertuples():
        key = (row.method, row.other) if (row.method, row.other) in adjusted else (row.other, row.method)
        assert row.p_holm == pytest.approx(adjusted[key])
    by_pair = pairs.set_index(["method", "other"])
    assert by_pair.loc[("best", "worst"), "significantly_better"]
    assert not by_pair.loc[("worst", "best"), "significantly_better"]
    assert not by_pair.loc[("twin_a", "twin_b"), "significantly_better"]
    assert not by_pair.loc[("twin_b", "twin_a"), "significantly_better"]


def test_rank_artefacts_are_written_from_metrics_csvs(tmp_path):
    rng = np.random.default_rng(4)
    layout = {}
    for model, dice in planted(rng).items():
        model = {"best": "segmamba", "twin_a": "uxnet", "twin_b": "unetr", "worst": "swinunetr"}[model]
        path = tmp_path / f"{model}.csv"
        pd.DataFrame({"case": CASES, "dice": dice, "hd95": rng.uniform(1, 9, N_CASES)}).to_csv(path, index=False)
        layout[model] = str(path)
    dataset_file = str(tmp_path / "dataset.json")
    resolve_dataset_file("crc500", {}, "").write(dataset_file)
    inputs = {"dataset_file": dataset_file, "layout": layout, "statistics": {"resamples": 2_000}}
    build.write_artefact("rank_stability", inputs, tmp_path / "rank_stability_crc500.csv")
    table = pd.read_csv(tmp_path / "rank_stability_crc500.csv")
    assert list(table.columns) == rank_stability.RANK_COLUMNS
    dice = table[table["metric"] == "dice"].set_index("method")
    assert (dice.loc["segmamba", "rank_low"], dice.loc["segmamba", "rank_high"]) == (1, 1)
    assert set(table["metric"]) == {"dice", "hd95"} and (table["resamples"] == 2_000).all()
    markdown = (tmp_path / "rank_stability_crc500.md").read_text()
    segmamba_row = next(line for line in markdown.splitlines() if line.startswith("| SegMamba "))
    assert "1.00 (1) [1, 1]" in segmamba_row
    assert "2,000 bootstrap resamples" in " ".join(markdown.split())
    assert (tmp_path / "rank_stability_crc500.tex").read_text().startswith(r"\begin{table}")
    for name in ("rank_blobs", "significance_map"):
        build.write_artefact(name, inputs, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("keys", "headline"),
    [(("dice_wt", "dice_avg", "hd95_avg"), "dice_avg"), (("iou", "dlr"), "iou"), (("hd95", "dice"), "dice")],
)
def test_the_headline_metric_is_the_mean_dice_else_the_first(keys, headline):
    from segmamba.data.registry import ReportedMetric

    metrics = [ReportedMetric(key, key, (key,)) for key in keys]
    assert rank_stability.headline_metric(metrics).key == headline


def test_rank_figures_without_a_case_every_method_has_are_an_input_error(tmp_path):
    from segmamba.errors import InputError

    layout = {}
    for model, prefix in (("segmamba", "a"), ("uxnet", "b")):  # disjoint case ids
        path = tmp_path / f"{model}.csv"
        pd.DataFrame({"case": [f"{prefix}{i}" for i in range(3)], "dice": [0.5, 0.6, 0.7], "hd95": 1.0}).to_csv(path)
        layout[model] = str(path)
    dataset_file = str(tmp_path / "dataset.json")
    resolve_dataset_file("crc500", {}, "").write(dataset_file)
    inputs = {"dataset_file": dataset_file, "layout": layout}
    with pytest.raises(InputError, match="crc500: no test case has a dice value from every method"):
        build.write_artefact("rank_blobs", inputs, tmp_path / "blobs.png")
