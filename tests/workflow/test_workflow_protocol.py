"""The evaluation protocol by config (docs/protocols.md): holdout or K-fold cross-validation, repeated per seed.

Dry runs count the trainings per dataset and model and check the paths; the end-to-end test runs the tiny
3-fold, 2-seed configuration (.test/config-cv.yaml) up to the tables.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_helpers import REPO, copy_workflow, expected_job_counts, job_counts, load_config, merge, run_snakemake

from segmamba.data.split import load_split
from segmamba.report import protocol_inputs

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_shipped_protocol_is_holdout_without_seeds():
    config = load_config(REPO / "config.yaml")
    validate(config, SCHEMA)  # fills the defaults in
    assert config["split"] == {"seed": 42, "scheme": "holdout", "folds": 5} and config["seeds"] is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("split", {"seed": 42, "scheme": "kfold"}, "'kfold' is not one of"),
        ("split", {"seed": 42, "scheme": "cv", "folds": 1}, "1 is less than the minimum of 2"),
        ("seeds", [0, 0], "non-unique elements"),
        ("seeds", [], "should be non-empty"),
    ],
)
def test_bad_protocol_keys_are_rejected(key, value, message):
    config = load_config(REPO / "config.yaml")
    config[key] = value
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An isolated copy of the workflow (no results), shared by the dry runs of this module."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.fixture(scope="module")
def dry_run(workdir):
    """Output of a dry run of the default target with `--config CONFIG...` (each configuration run once)."""
    outputs = {}

    def run(*config: str) -> str:
        if config not in outputs:
            result = run_snakemake(workdir, "--dry-run", *(["--config", *config] if config else []))
            assert result.returncode == 0, result.stderr[-3000:]
            outputs[config] = result.stdout + result.stderr
        return outputs[config]

    return run


def train_jobs(output: str) -> list[dict[str, str]]:
    """The wildcards of every train job of a dry run."""
    blocks = re.findall(r"^rule train:\n((?:    .*\n)+)", output, re.M)
    return [dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"wildcards: (.*)", block).group(1))) for block in blocks]


def checkpoints(output: str) -> set[str]:
    """Every final checkpoint a dry run would train."""
    return set(re.findall(r"results/\S+/checkpoint_final\.pt", output))


def shipped_trainings() -> Counter:
    """(dataset, model) pairs the shipped config trains (computed from config.yaml, not by the workflow)."""
    config = load_config(REPO / "config.yaml")
    pairs = [(d, m) for d, entry in config["datasets"].items() if entry["activate"] for m in config["models"]]
    ablation = config["ablation"]
    pairs += [(ablation["dataset"], m) for m in ablation["models"] if (ablation["dataset"], m) not in pairs]
    return Counter(pairs)


@pytest.mark.slow
def test_default_protocol_keeps_todays_jobs_and_paths(dry_run):
    output = dry_run()
    assert job_counts(output) == expected_job_counts(load_config(REPO / "config.yaml"))
    assert "results/crc500/models/segmamba/checkpoint_final.pt" in output
    assert "results/crc500/metrics/segmamba.csv" in output and "results/crc500/gt" in output
    assert not re.search(r"/(fold|seed)\d", output)
    assert all(set(job) == {"dataset", "model"} for job in train_jobs(output))


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "runs"), [(None, 5), ("[0, 1]", 10)])
def test_cross_validation_trains_folds_times_seeds_per_dataset_and_model(dry_run, seeds, runs):
    config = ["split={scheme: cv, folds: 5}"] + ([f"seeds={seeds}"] if seeds else [])
    output = dry_run(*config)
    jobs = train_jobs(output)
    per_pair = Counter((job["dataset"], job["model"]) for job in jobs)
    assert per_pair == Counter({pair: runs for pair in shipped_trainings()})
    expected_seeds = {"0", "1"} if seeds else {"0"}  # without `seeds`: the demo scale's train.seed 0
    assert {(job["fold"], job["seed"]) for job in jobs} == {(str(k), s) for k in range(5) for s in expected_seeds}
    counts = job_counts(output)
    datasets = len({dataset for dataset, _ in shipped_trainings()})
    assert counts["fold_split"] == counts["ground_truth"] == 5 * datasets
    assert counts["predict"] == counts["evaluate"] == counts["train"] == len(jobs)
    for job in jobs:  # fold and seed are part of every path of the training
        assert f"results/{job['dataset']}/cv5/fold{job['fold']}/seed{job['seed']}/models/{job['model']}/" in output


@pytest.mark.slow
def test_holdout_with_several_seeds_repeats_each_training(dry_run):
    output = dry_run("seeds=[0, 1, 2]")
    per_pair = Counter((job["dataset"], job["model"]) for job in train_jobs(output))
    assert per_pair == Counter({pair: 3 for pair in shipped_trainings()})
    assert "results/crc500/holdout/seed2/models/segmamba/checkpoint_final.pt" in output
    assert "fold_split" not in job_counts(output)


@pytest.mark.slow
def test_no_protocol_or_seed_reuses_another_protocols_model(dry_run):
    runs = {
        "default": checkpoints(dry_run()),
        "holdout seeds": checkpoints(dry_run("seeds=[0, 1, 2]")),
        "cv3": checkpoints(dry_run("split={scheme: cv, folds: 3}")),
        "cv5": checkpoints(dry_run("split={scheme: cv, folds: 5}")),
    }
    names = list(runs)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not runs[first] & runs[second], (first, second)


@pytest.mark.slow
def test_tiny_cross_validation_runs_end_to_end(tmp_path):
    """3 folds x 2 seeds on 6 synthetic CRC-500 cases: each case predicted once per seed, the tables have n = 6."""
    workdir = copy_workflow(tmp_path / "workflow")
    config = merge(load_config(REPO / "config.yaml"), load_config(REPO / ".test/config-cv.yaml"))
    result = run_snakemake(workdir, "tables", "--cores", "2", "--configfile", ".test/config-cv.yaml", timeout=1800)
    assert result.returncode == 0, result.stderr[-5000:]
    cases = sorted(f"CRC_{i:03d}" for i in range(config["scales"]["demo"]["synthetic"]["cases"]))
    folds = config["split"]["folds"]
    tests = [load_split(workdir / f"results/crc500/cv{folds}/fold{k}/split.json")["test"] for k in range(folds)]
    assert sorted(case for test in tests for case in test) == cases  # disjoint folds covering every case
    for model in config["models"]:
        runs = [
            {"path": workdir / f"results/crc500/cv{folds}/fold{k}/seed{s}/metrics/{model}.csv", "seed": s, "fold": k}
            for s in config["seeds"]
            for k in range(folds)
        ]
        tidy = protocol_inputs.load_runs(runs, model)
        assert Counter(zip(tidy["seed"], tidy["case"], strict=True)) == Counter(
            (s, case) for s in config["seeds"] for case in cases
        )  # every case predicted exactly once per seed
        for k, test in enumerate(tests):
            assert sorted(tidy[tidy["fold"] == k]["case"].unique()) == sorted(test)  # by the fold that held it out
    for table in ("table3", "table4"):
        tidy = pd.read_csv(workdir / f"results/tables/{table}.csv")
        ours = tidy[tidy["method"].isin(config["models"]) & tidy["n"].notna() & (tidy["n"] > 0)]
        assert set(ours["method"]) == set(config["models"]) and (ours["n"] == len(cases)).all()
        assert (ours["n_seeds"] == len(config["seeds"])).all() and (ours["folds"] == folds).all()
        assert ours[["ci_low", "ci_high"]].notna().all().all()  # the bootstrap CI of every mean
        tested = ours[ours["p_value"].notna()]  # compared with the reference: a Holm-adjusted p each
        assert tested["p_holm"].notna().all() and (tested["p_holm"] >= tested["p_value"]).all()
