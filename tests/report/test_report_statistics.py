"""The tables' statistics recomputed from the per-case CSVs with scipy and statsmodels, independently of the code:
bootstrap CIs, paired differences, Wilcoxon p-values, Holm adjustment, seeds and folds, NSD and lesion-wise."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap, wilcoxon
from statsmodels.stats.multitest import multipletests

from segmamba.data.dataset_file import resolve_dataset_file
from segmamba.errors import InputError
from segmamba.report import build, statistics_build
from segmamba.report.statistics import StatisticsSettings

N_CASES = 20
CASES = [f"case{i:02d}" for i in range(N_CASES)]
CRC_METHODS = ("segmamba", "uxnet", "unetr", "swinunetr")


def ci(values, seed: int = 0) -> tuple[float, float]:
    """scipy's bootstrap CI of the mean: 10,000 resamples, BCa, generator seeded with ``seed``."""
    result = bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=10_000, rng=np.random.default_rng(seed))
    return result.confidence_interval.low, result.confidence_interval.high


def planted_crc(rng) -> dict[str, pd.DataFrame]:
    """Per-case CRC-500 metrics: SegMamba best, UX-Net slightly and UNETR clearly worse, SwinUNETR noisy."""
    segmamba = rng.uniform(0.6, 0.9, N_CASES)
    dice = {
        "segmamba": segmamba,
        "uxnet": segmamba - rng.uniform(-0.02, 0.05, N_CASES),
        "unetr": segmamba - rng.uniform(0.05, 0.2, N_CASES),
        "swinunetr": rng.uniform(0.5, 0.9, N_CASES),
    }
    return {
        method: pd.DataFrame({"case": CASES, "dice": values, "hd95": rng.uniform(1.0, 20.0, N_CASES)})
        for method, values in dice.items()
    }


def write_layout(tmp_path, frames: dict[str, pd.DataFrame], dataset: str) -> dict[str, str]:
    layout = {}
    for method, frame in frames.items():
        path = tmp_path / f"{dataset}_{method}.csv"
        frame.to_csv(path, index=False)
        layout[method] = str(path)
    return layout


def read_tidy(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_every_ci_difference_and_p_value_recomputes_from_the_per_case_csvs(tmp_path):
    frames = planted_crc(np.random.default_rng(0))
    layout = write_layout(tmp_path, frames, "crc500")
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": True}, str(tmp_path / "table3"))
    tidy = read_tidy(tmp_path / "table3.csv")
    for column in "ci_low ci_high p_holm reference diff_ref diff_ci_low diff_ci_high n_seeds seed_std folds".split():
        assert column in tidy.columns
    measured = tidy[tidy["status"] == "ok"]
    assert set(measured["method"]) == set(CRC_METHODS)
    checked = 0
    for metric, scale in (("dice", 100.0), ("hd95", 1.0)):
        reference = frames["segmamba"][metric].to_numpy() * scale
        others = [m for m in CRC_METHODS if m != "segmamba"]
        p_values = [wilcoxon(frames[m][metric].to_numpy() * scale, reference).pvalue for m in others]
        p_holm = dict(zip(others, multipletests(p_values, method="holm")[1], strict=True))
        for method in CRC_METHODS:
            row = measured[(measured["method"] == method) & (measured["metric"] == metric)].iloc[0]
            values = frames[method][metric].to_numpy() * scale
            assert (row["n"], row["n_seeds"], row["folds"], row["reference"]) == (N_CASES, 1, 1, "segmamba")
            assert math.isnan(row["seed_std"])
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(values), rel=1e-5)
            if method == "segmamba":
                assert math.isnan(row["p_value"]) and math.isnan(row["p_holm"]) and math.isnan(row["diff_ref"])
                continue
            assert row["diff_ref"] == pytest.approx(np.mean(values - reference), rel=1e-5)
            assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(ci(values - reference), rel=1e-5)
            assert row["p_value"] == pytest.approx(wilcoxon(values, reference).pvalue, rel=1e-5)
            assert row["p_holm"] == pytest.approx(p_holm[method], rel=1e-5)
            checked += 1
    assert checked == 6
    dice = measured[measured["metric"] == "dice"].set_index("method")
    assert dice.loc["unetr", "p_holm"] < 0.05 and dice.loc["unetr", "diff_ci_high"] < 0  # clearly worse
    markdown = (tmp_path / "table3.md").read_text()
    assert "| ↳ 95% CI" in markdown
    assert f"[{dice.loc['uxnet', 'ci_low']:.2f}, {dice.loc['uxnet', 'ci_high']:.2f}]" in markdown
    notes = " ".join(markdown.split())
    assert "bootstrap 95% CI of the mean (BCa, 10,000 resamples of the cases, seed 0)" in notes
    assert "Holm-adjusted over the comparisons of each column (one metric on one dataset)" in notes


def test_a_rerun_gives_the_same_digits_and_the_seed_is_configurable(tmp_path):
    layout = write_layout(tmp_path, planted_crc(np.random.default_rng(1)), "crc500")
    for name, statistics in (("a", None), ("b", None), ("c", {"seed": 7, "resamples": 10_000})):
        build.make_paper_table("table3", {"crc500": layout}, {"crc500": False}, str(tmp_path / name), None, statistics)
    first, again, other = (read_tidy(tmp_path / f"{name}.csv") for name in "abc")
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"].dropna(), other["ci_low"].dropna())
    values = pd.read_csv(layout["unetr"])["dice"].to_numpy() * 100
    row = other[(other["method"] == "unetr") & (other["metric"] == "dice")].iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(values, seed=7), rel=1e-5)


def test_several_seeds_average_each_case_and_report_the_between_seed_std(tmp_path):
    rng = np.random.default_rng(2)
    per_seed = {m: [rng.uniform(0.5, 0.9, N_CASES) for _ in range(3)] for m in ("segmamba", "uxnet")}
    frames = {
        m: pd.concat(
            pd.DataFrame({"case": CASES, "seed": seed, "dice": dice, "hd95": rng.uniform(1, 9, N_CASES)})
            for seed, dice in enumerate(runs)
        )
        for m, runs in per_seed.items()
    }
    layout = write_layout(tmp_path, frames, "crc500")
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": False}, str(tmp_path / "t"))
    row = read_tidy(tmp_path / "t.csv").query("method == 'uxnet' and metric == 'dice'").iloc[0]
    case_means = {m: 100 * np.mean(runs, axis=0) for m, runs in per_seed.items()}
    assert (row["n"], row["n_seeds"]) == (N_CASES, 3)
    assert row["mean"] == pytest.approx(case_means["uxnet"].mean(), rel=1e-5)
    assert row["std"] == pytest.approx(case_means["uxnet"].std(ddof=1), rel=1e-5)
    assert row["seed_std"] == pytest.approx(np.std([100 * run.mean() for run in per_seed["uxnet"]], ddof=1), rel=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(case_means["uxnet"]), rel=1e-5)
    assert row["p_value"] == pytest.approx(wilcoxon(case_means["uxnet"], case_means["segmamba"]).pvalue, rel=1e-5)
    assert "Seeds: up to 3 trainings per method" in " ".join((tmp_path / "t.md").read_text().split())


def test_cross_validation_folds_are_the_union_of_their_cases(tmp_path):
    frames = planted_crc(np.random.default_rng(3))
    for frame in frames.values():
        frame["fold"] = [index % 2 for index in range(N_CASES)]  # two folds of ten test cases each
    layout = write_layout(tmp_path, frames, "crc500")
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": False}, str(tmp_path / "t"))
    row = read_tidy(tmp_path / "t.csv").query("method == 'unetr' and metric == 'dice'").iloc[0]
    assert (row["n"], row["folds"]) == (N_CASES, 2)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(frames["unetr"]["dice"] * 100), rel=1e-5)
    assert "2 cross-validation folds" in " ".join((tmp_path / "t.md").read_text().split())


def test_the_reference_method_is_configurable_and_the_dagger_follows_the_adjusted_p(tmp_path):
    frames = planted_crc(np.random.default_rng(4))
    layout = write_layout(tmp_path, frames, "crc500")
    statistics = {"reference": "unetr"}
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": False}, str(tmp_path / "t"), None, statistics)
    tidy = read_tidy(tmp_path / "t.csv")
    dice = tidy[(tidy["metric"] == "dice") & (tidy["status"] == "ok")].set_index("method")
    assert set(dice["reference"]) == {"unetr"} and math.isnan(dice.loc["unetr", "p_value"])
    reference = frames["unetr"]["dice"].to_numpy()
    expected = wilcoxon(frames["segmamba"]["dice"].to_numpy(), reference).pvalue
    assert dice.loc["segmamba", "p_value"] == pytest.approx(expected, rel=1e-5)
    markdown = (tmp_path / "t.md").read_text()
    segmamba_row = next(line for line in markdown.splitlines() if line.startswith("| SegMamba "))
    assert segmamba_row.split("|")[2].strip().endswith("†") == (dice.loc["segmamba", "p_holm"] < 0.05)
    assert dice.loc["segmamba", "p_holm"] < 0.05
    assert "against UNETR" in " ".join(markdown.split())


def brats_frames(rng, extra_columns: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Per-case BraTS2023 metrics of three methods, with ``extra_columns`` (NSD or lesion-wise) as well."""
    columns = [f"{m}_{r}" for m in ("dice", "hd95") for r in ("wt", "tc", "et")] + list(extra_columns)
    return {
        method: pd.DataFrame(
            {"case": CASES, **{c: rng.uniform(0.4, 0.95, N_CASES) * (50 if "hd95" in c else 1) for c in columns}}
        )
        for method in ("segmamba", "uxnet", "unetr")
    }


def test_nsd_columns_join_the_table_only_when_the_csvs_have_them(tmp_path):
    nsd = ("nsd_wt", "nsd_tc", "nsd_et")
    frames = brats_frames(np.random.default_rng(5), nsd)
    for name, chosen in (("with", frames), ("without", {m: f.drop(columns=list(nsd)) for m, f in frames.items()})):
        layout = write_layout(tmp_path, chosen, name)
        build.make_paper_table("table2", {"brats2023": layout}, {"brats2023": True}, str(tmp_path / name))
    with_nsd, without = read_tidy(tmp_path / "with.csv"), read_tidy(tmp_path / "without.csv")
    assert not without["metric"].str.startswith("nsd").any()
    row = with_nsd.query("method == 'uxnet' and metric == 'nsd_avg'").iloc[0]
    per_case = 100 * frames["uxnet"][list(nsd)].mean(axis=1).to_numpy()
    reference = 100 * frames["segmamba"][list(nsd)].mean(axis=1).to_numpy()
    assert row["group"] == "NSD (%)" and row["column"] == "Avg NSD (%)"
    assert row["mean"] == pytest.approx(per_case.mean(), rel=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(per_case), rel=1e-5)
    assert row["p_value"] == pytest.approx(wilcoxon(per_case, reference).pvalue, rel=1e-5)
    assert "## BraTS2023: NSD (%)" in (tmp_path / "with.md").read_text()


def test_lesionwise_table_has_table2s_statistics_and_is_empty_without_the_columns(tmp_path):
    lesion = tuple(f"lesion_{m}_{r}" for m in ("dice", "hd95") for r in ("wt", "tc", "et"))
    frames = brats_frames(np.random.default_rng(6), lesion)
    brats = str(tmp_path / "dataset.json")
    resolve_dataset_file("brats2023", {}, "").write(brats)  # no root: a synthetic stand-in
    statistics_build.make_lesionwise_table(brats, write_layout(tmp_path, frames, "l"), str(tmp_path / "lesion"))
    tidy = read_tidy(tmp_path / "lesion.csv")
    assert list(dict.fromkeys(tidy["metric"])) == [
        *(f"lesion_dice_{r}" for r in ("wt", "tc", "et")),
        "lesion_dice_avg",
        *(f"lesion_hd95_{r}" for r in ("wt", "tc", "et")),
        "lesion_hd95_avg",
    ]
    row = tidy.query("method == 'unetr' and metric == 'lesion_hd95_et'").iloc[0]
    values, reference = frames["unetr"]["lesion_hd95_et"], frames["segmamba"]["lesion_hd95_et"]
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci(values), rel=1e-5)
    p_values = [wilcoxon(frames[m]["lesion_hd95_et"], reference).pvalue for m in ("uxnet", "unetr")]
    assert row["p_holm"] == pytest.approx(multipletests(p_values, method="holm")[1][1], rel=1e-5)
    markdown = (tmp_path / "lesion.md").read_text()
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == ["## BraTS2023: Lesion-wise Dice (%)", "## BraTS2023: Lesion-wise HD95 (mm)"]

    plain = {m: f.drop(columns=list(lesion)) for m, f in frames.items()}
    statistics_build.make_lesionwise_table(brats, write_layout(tmp_path, plain, "p"), str(tmp_path / "empty"))
    assert read_tidy(tmp_path / "empty.csv").empty
    empty = (tmp_path / "empty.md").read_text()
    assert "No lesion-wise metrics" in empty and "|:" not in empty  # the note only, no empty table


def test_bad_statistics_inputs_are_input_errors_naming_the_key_or_case(tmp_path):
    with pytest.raises(InputError, match="resample"):
        StatisticsSettings.from_inputs({"resample": 100})
    frames = planted_crc(np.random.default_rng(7))
    frames["uxnet"] = pd.concat([frames["uxnet"], frames["uxnet"].iloc[:1]])  # case00 twice, one seed
    layout = write_layout(tmp_path, frames, "crc500")
    with pytest.raises(InputError, match="crc500/uxnet: case case00 has more than one row for seed 0"):
        build.make_paper_table("table3", {"crc500": layout}, {"crc500": False}, str(tmp_path / "t"))
