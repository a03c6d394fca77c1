"""The tables' inputs under cross-validation and seeds: per-run metric CSVs into one tidy frame, seed means, marks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from segmamba.errors import InputError
from segmamba.report import build, protocol_inputs, tables

# Two folds of two cases each (fold 0: c1, c2; fold 1: c3, c4), two seeds: Dice per (seed, case).
DICE = {
    "segmamba": {0: [0.90, 0.80, 0.70, 0.60], 1: [0.70, 0.80, 0.90, 1.00]},
    "uxnet": {0: [0.50, 0.60, 0.40, 0.30], 1: [0.70, 0.50, 0.60, 0.50]},
}
FOLDS = {0: ["c1", "c2"], 1: ["c3", "c4"]}


def write_runs(tmp_path, model: str) -> list[dict]:
    """Per-run metric CSVs of `model` (as `segmamba evaluate` writes them) and their run entries."""
    runs = []
    for seed, values in DICE[model].items():
        for fold, cases in FOLDS.items():
            path = tmp_path / f"{model}_fold{fold}_seed{seed}.csv"
            dice = [values[int(case[1]) - 1] for case in cases]
            pd.DataFrame({"case": cases, "dice": dice, "hd95": [1.0] * len(cases)}).to_csv(path, index=False)
            runs.append({"path": str(path), "seed": seed, "fold": fold})
    return runs


def test_runs_become_one_tidy_frame_with_seed_and_fold(tmp_path):
    tidy = protocol_inputs.load_runs(write_runs(tmp_path, "segmamba"))
    assert list(tidy.columns) == ["case", "seed", "fold", "dice", "hd95"]
    assert len(tidy) == 8  # 4 cases x 2 seeds
    assert tidy.groupby("seed")["case"].apply(sorted).to_dict() == {0: ["c1", "c2", "c3", "c4"]} | {
        1: ["c1", "c2", "c3", "c4"]
    }
    assert tidy.set_index(["seed", "case"]).loc[(1, "c3"), "fold"] == 1
    assert tidy.set_index(["seed", "case"]).loc[(1, "c3"), "dice"] == pytest.approx(0.90)


def test_a_models_runs_reach_the_tables_one_row_per_case_and_seed(tmp_path):
    from segmamba.report.statistics import seed_means

    frame = protocol_inputs.read_model_metrics(write_runs(tmp_path, "segmamba"))
    assert len(frame) == 8 and sorted(set(frame.index)) == ["c1", "c2", "c3", "c4"]
    metric = tables.ReportedMetric("dice", "Dice (%)", ("dice",), 1.0, "Dice")
    means = seed_means(tables.case_values(frame, metric))
    assert means["c1"] == pytest.approx(0.80)  # (0.90 + 0.70) / 2
    assert means["c4"] == pytest.approx(0.80)  # (0.60 + 1.00) / 2


def test_a_case_predicted_twice_under_one_seed_names_the_case_seed_and_files(tmp_path):
    runs = write_runs(tmp_path, "segmamba")
    runs.append({"path": runs[0]["path"].replace("fold0_seed0", "again"), "seed": 0, "fold": 1})
    pd.read_csv(runs[0]["path"]).to_csv(runs[-1]["path"], index=False)
    with pytest.raises(InputError, match=r"case c1 predicted twice with seed 0 \(.*fold0_seed0.csv and .*again.csv"):
        protocol_inputs.load_runs(runs, "metrics of segmamba")


def test_a_seed_missing_a_case_is_an_error_naming_it(tmp_path):
    runs = [run for run in write_runs(tmp_path, "segmamba") if (run["seed"], run["fold"]) != (1, 1)]
    with pytest.raises(InputError, match="case c3 has no prediction with seed 1"):
        protocol_inputs.load_runs(runs)


def test_a_single_csv_is_read_as_before(tmp_path):
    path = write_runs(tmp_path, "uxnet")[0]["path"]
    pd.testing.assert_frame_equal(protocol_inputs.read_model_metrics(path), tables.read_case_metrics(path))


def test_table_of_a_cross_validation_has_every_case_once_and_pairs_seed_means(tmp_path):
    layout = {model: write_runs(tmp_path, model) for model in ("segmamba", "uxnet")}
    build.make_paper_table("table3", {"crc500": layout}, {"crc500": True}, str(tmp_path / "table3"))
    tidy = pd.read_csv(tmp_path / "table3.csv")
    ux = tidy[(tidy["method"] == "uxnet") & (tidy["metric"] == "dice")].iloc[0]
    ux_means = np.mean([DICE["uxnet"][0], DICE["uxnet"][1]], axis=0)  # per case: 0.6, 0.55, 0.5, 0.4
    ours = np.mean([DICE["segmamba"][0], DICE["segmamba"][1]], axis=0)  # 0.8, 0.8, 0.8, 0.8
    assert ux["n"] == 4  # every case once, not once per seed
    assert ux["mean"] == pytest.approx(100 * ux_means.mean(), abs=1e-4)
    assert ux["p_value"] == pytest.approx(wilcoxon(ux_means, ours).pvalue, rel=1e-4)


def test_one_collapsed_training_marks_the_model(tmp_path):
    def run_files(seed, fold, collapsed):
        summary = tmp_path / f"train_{seed}_{fold}.json"
        summary.write_text(json.dumps({"collapsed": collapsed, "collapse_reason": "loss is NaN"}))
        return {"train_summary": str(summary), "metrics_summary": None, "seed": seed, "fold": fold}

    runs = [run_files(0, 0, False), run_files(0, 1, False), run_files(1, 0, True), run_files(1, 1, False)]
    outcome = protocol_inputs.read_outcomes({"uxnet": runs})["uxnet"]
    assert outcome.status == tables.COLLAPSED
    assert outcome.reason == "1 of 4 trainings (first: seed 1, fold 0: loss is NaN)"
    assert protocol_inputs.runs_outcome(runs[:2]) == tables.TrainingOutcome()


def test_background_only_marks_the_model_only_when_every_training_predicted_background(tmp_path):
    def run_files(seed, empty):
        summary = tmp_path / f"metrics_{seed}.summary.json"
        counts = {"n_empty_prediction": 2 if empty else 0}
        summary.write_text(json.dumps({"n_cases": 2, "metrics": {"dice": counts, "hd95": counts}}))
        return {"train_summary": None, "metrics_summary": str(summary), "seed": seed, "fold": 0}

    some = protocol_inputs.runs_outcome([run_files(0, True), run_files(1, False)])
    assert some.status == tables.OK and some.reason.startswith("1 of 2 trainings (first: seed 0, fold 0: ")
    every = protocol_inputs.runs_outcome([run_files(0, True), run_files(1, True)])
    assert every.status == tables.BACKGROUND_ONLY and every.reason.startswith("2 of 2 trainings")
