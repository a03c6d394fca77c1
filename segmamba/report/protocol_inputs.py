"""The tables' per-case metrics under a protocol with several trainings per model (cross-validation folds, seeds).

The report rules pass, per model, either one metrics CSV (the default: holdout with one seed) or a list of runs
``{"path": metrics CSV, "seed": s, "fold": k or None}`` (docs/protocols.md). ``load_runs`` reads the runs into one
tidy frame (``case``, ``seed``, ``fold``, then the metric columns) and checks that every seed predicted the same
cases, each once: under cross-validation that is every case of the dataset, each predicted by the fold's model
that never saw it. The tables average each case over its seeds (``segmamba.report.statistics``): their statistics
treat cases as the independent units (the seeds of one case are not independent samples of the method).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from segmamba.errors import InputError
from segmamba.report import tables
from segmamba.report.result_files import read_optional_json


def load_runs(runs: Sequence[Mapping], source: str = "metrics") -> pd.DataFrame:
    """One tidy frame of every run's per-case metrics, with the run's ``seed`` and ``fold`` on each row.

    Raises:
        InputError: a run lacks a key, a CSV is unreadable, a case appears twice under one seed (naming both
            files) or a seed lacks a case another seed predicted.
    """
    if not runs:
        raise InputError(f"{source}: no runs")
    frames, seen = [], {}
    for run in runs:
        missing = [key for key in ("path", "seed", "fold") if key not in run]
        if missing:
            raise InputError(f"{source}: run {dict(run)} lacks key(s) {', '.join(missing)}")
        frame = tables.read_case_metrics(run["path"]).reset_index(names="case")
        for case in frame["case"]:
            first = seen.setdefault((case, run["seed"]), run["path"])
            if first != run["path"]:
                raise InputError(
                    f"{source}: case {case} predicted twice with seed {run['seed']} ({first} and {run['path']})"
                )
        frame.insert(1, "seed", run["seed"])
        frame.insert(2, "fold", pd.array([run["fold"]] * len(frame), dtype="Int64"))
        frames.append(frame)
    tidy = pd.concat(frames, ignore_index=True)
    check_same_cases_per_seed(tidy, source)
    return tidy


def check_same_cases_per_seed(tidy: pd.DataFrame, source: str = "metrics") -> None:
    """Raise InputError naming a case and a seed when some seed lacks a case that another seed predicted."""
    every_case = set(tidy["case"])
    for seed, cases in tidy.groupby("seed", sort=True)["case"]:
        lacking = sorted(every_case - set(cases))
        if lacking:
            raise InputError(
                f"{source}: case {lacking[0]} has no prediction with seed {seed} "
                f"({len(lacking)} case(s) missing for that seed; other seeds predicted them)"
            )


def read_model_metrics(entry: str | os.PathLike | Sequence[Mapping], source: str = "metrics") -> pd.DataFrame:
    """A model's per-case frame for the tables, indexed by case: one metrics CSV as it is, or a list of runs with
    one row per case and seed (columns ``seed`` and ``fold``; the tables average each case over its seeds)."""
    if isinstance(entry, (str, os.PathLike)):
        return tables.read_case_metrics(entry)
    tidy = load_runs(entry, source)
    return tidy.set_index(tidy["case"].astype(str)).drop(columns="case")


def runs_outcome(runs: Sequence[Mapping]) -> tables.TrainingOutcome:
    """The mark of a model's cells from the outcome files of all its runs (``{"train_summary", "metrics_summary",
    "seed", "fold"}`` each).

    ``COLLAPSED`` if any training collapsed (its numbers average in a failed training); ``BACKGROUND_ONLY`` if every
    training's test predictions are all background (as for one training); otherwise fine, with a note (the tidy
    CSV's ``note``) when some trainings predicted only background. A reason counts the runs and names the first one's
    seed, fold and reason.
    """

    outcomes = []
    for run in runs:
        train, metrics = read_optional_json(run.get("train_summary")), read_optional_json(run.get("metrics_summary"))
        outcomes.append((run, tables.training_outcome(train, metrics)))
    for status in (tables.COLLAPSED, tables.BACKGROUND_ONLY):
        marked = [(run, outcome) for run, outcome in outcomes if outcome.status == status]
        if not marked:
            continue
        run, outcome = marked[0]
        fold = "" if run.get("fold") is None else f", fold {run['fold']}"
        reason = f"{len(marked)} of {len(runs)} trainings (first: seed {run.get('seed')}{fold}: {outcome.reason})"
        if status == tables.COLLAPSED or len(marked) == len(runs):
            return tables.TrainingOutcome(status, reason)
        return tables.TrainingOutcome(tables.OK, reason)
    return tables.TrainingOutcome()


def read_metrics_layout(layout: Mapping[str, str | os.PathLike | Sequence[Mapping]]) -> dict[str, pd.DataFrame]:
    """Read ``{model: metrics CSV or list of runs}`` into ``{model: per-case frame}``."""
    return {model: read_model_metrics(entry, f"metrics of {model}") for model, entry in layout.items()}


def read_outcomes(files: Mapping[str, Mapping[str, str]] | None) -> dict[str, tables.TrainingOutcome]:
    """``{model: TrainingOutcome}`` from ``{model: {"train_summary": path, "metrics_summary": path}}``.

    Either file may be absent (then it says nothing): ``train_summary.json`` names a collapsed training, the
    evaluation summary beside the metrics CSV an all-background test prediction.
    """
    from segmamba.report.provenance import check_same_split_per_fold

    check_same_split_per_fold(files or {})
    return {
        model: runs_outcome(paths)  # several trainings (folds, seeds)
        if isinstance(paths, list)
        else tables.training_outcome(
            read_optional_json(paths.get("train_summary")), read_optional_json(paths.get("metrics_summary"))
        )
        for model, paths in (files or {}).items()
    }
