"""Read the state of training runs and result tables from the files they write, without torch.

A run folder is any folder under the results tree holding ``train_config.yaml`` (written when a training
starts). Its progress is the last row of ``train_log.csv`` (rewritten after every epoch: ``epoch, iteration,
loss, lr, val_dice, time``), its total the settings' ``epochs`` times the iterations per epoch (from the log:
``iteration / epoch``, which accounts for several processes), its end ``checkpoint_final.pt`` and
``train_summary.json`` (collapse verdict, training time). A run stopped mid-epoch resumes from
``checkpoint_latest.pt`` a little past its last log row.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from segmamba.errors import InputError

SETTINGS_FILE = "train_config.yaml"
LOG_FILE = "train_log.csv"
SUMMARY_FILE = "train_summary.json"
FINAL_CHECKPOINT = "checkpoint_final.pt"
TABLE_SUFFIXES = (".csv", ".md", ".tex")


@dataclass
class RunStatus:
    """One training run's state."""

    folder: Path
    dataset: str
    model: str
    seed: int | None
    fold: str | None
    iteration: int
    total: int | None
    val_dice: float | None
    elapsed_s: float | None
    eta_s: float | None
    collapsed: bool | None
    finished: bool
    updated_s_ago: float | None


def read_log(path: Path) -> list[dict[str, str]]:
    """Rows of a train_log.csv (empty when absent)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def read_settings(path: Path) -> dict:
    """The run's resolved settings (train_config.yaml)."""
    import yaml

    try:
        settings = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the run settings ({exc})") from exc
    if not isinstance(settings, dict):
        raise InputError(f"{path}: not a settings mapping")
    return settings


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; InputError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object")
    return data


def run_dataset(folder: Path, settings: dict, summary: dict) -> str:
    """The dataset of a run: its summary's, the workflow layout's (``<dataset>/models/<model>``) or its data's."""
    if summary.get("dataset"):
        return str(summary["dataset"])
    if folder.parent.name == "models":
        return folder.parent.parent.name
    dataset_json = Path(str(settings.get("preprocessed", ""))) / "dataset.json"
    if dataset_json.is_file():
        return str(read_json(dataset_json).get("name", "?"))
    return "?"


def read_run(folder: Path, now: float | None = None) -> RunStatus:
    """The state of the run in ``folder`` (which holds train_config.yaml)."""
    settings = read_settings(folder / SETTINGS_FILE)
    rows = read_log(folder / LOG_FILE)
    summary_path = folder / SUMMARY_FILE
    summary = read_json(summary_path) if summary_path.is_file() else {}
    finished = (folder / FINAL_CHECKPOINT).is_file() and bool(summary)
    last = rows[-1] if rows else {}
    iteration = int(last.get("iteration") or 0)
    per_epoch = summary.get("iterations_per_epoch")
    if per_epoch is None and last and int(last["epoch"]):
        per_epoch = iteration // int(last["epoch"])
    if per_epoch is None:  # no epoch finished yet: the settings' value, as for one process
        per_epoch = settings.get("iters_per_epoch")
    total = int(settings["epochs"]) * int(per_epoch) if per_epoch and "epochs" in settings else None
    dice = [float(row["val_dice"]) for row in rows if row.get("val_dice")]
    elapsed = summary.get("train_time_s", float(last["time"]) if last.get("time") else None)
    eta = None
    if not finished and elapsed is not None and total and iteration:
        eta = elapsed / iteration * (total - iteration)
    written = [p.stat().st_mtime for p in (folder / LOG_FILE, folder / SETTINGS_FILE, summary_path) if p.is_file()]
    now = time.time() if now is None else now
    return RunStatus(
        folder=folder,
        dataset=run_dataset(folder, settings, summary),
        model=str(settings.get("model", "?")),
        seed=settings.get("seed"),
        fold=None if settings.get("fold") is None else str(settings["fold"]),
        iteration=iteration,
        total=total,
        val_dice=dice[-1] if dice else None,
        elapsed_s=elapsed,
        eta_s=0.0 if finished else eta,
        collapsed=summary.get("collapsed") if finished else None,
        finished=finished,
        updated_s_ago=now - max(written) if written else None,
    )


def find_runs(results: Path) -> list[RunStatus]:
    """Every run folder under ``results`` (or ``results`` itself), sorted by dataset, model and folder."""
    if not results.is_dir():
        raise InputError(f"results folder {results} does not exist")
    folders = sorted({path.parent for path in results.rglob(SETTINGS_FILE)})
    runs = [read_run(folder) for folder in folders]
    return sorted(runs, key=lambda run: (run.dataset, run.model, str(run.folder)))


def dataset_tables(results: Path, datasets: list[str]) -> dict[str, list[str]]:
    """``{dataset: [existing table / figure files]}`` of the report: the dataset's paper table (or its own),
    Table 4 for the ablation dataset, its Fig. 4 and training curves; plus ``"(all datasets)"``: Table 5 and
    the efficiency chart."""
    from segmamba.data.registry import DATASETS, PAPER_ABLATION_DATASET

    tables, figures = results / "tables", results / "figures"

    def existing(folder: Path, names: list[str]) -> list[str]:
        return [f"{folder.name}/{name}" for name in names if (folder / name).is_file()]

    found = {}
    for dataset in datasets:
        definition = DATASETS.get(dataset)
        table_names = [(definition and definition.paper_table) or dataset]
        if dataset == PAPER_ABLATION_DATASET:
            table_names.append("table4")
        found[dataset] = existing(tables, [t + s for t in table_names for s in TABLE_SUFFIXES]) + existing(
            figures, [f"fig4_{dataset}.png", f"training_curves_{dataset}.png"]
        )
    found["(all datasets)"] = existing(tables, [f"table5{s}" for s in TABLE_SUFFIXES]) + existing(
        figures, ["efficiency.png"]
    )
    return found


def result_datasets(results: Path, runs: list[RunStatus]) -> list[str]:
    """Datasets with a run or a folder of their own in ``results`` (one holding models/, predictions/ ...)."""
    names = {run.dataset for run in runs}
    for child in results.iterdir() if results.is_dir() else []:
        if any((child / sub).is_dir() for sub in ("models", "predictions", "metrics", "preprocessed")):
            names.add(child.name)
    return sorted(names)
