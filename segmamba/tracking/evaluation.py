"""MLflow run of one ``segmamba evaluate``: its summary metrics.

With tracking on, every evaluation logs one finished run of its own into the configured experiment, named
``evaluate <dataset>/<predictions folder>`` (in the workflow: ``evaluate brats2023/segmamba``), with

- params ``dataset`` (its name, `--name`), ``convention`` and ``n_cases``; tags ``segmamba.stage`` = evaluate,
  ``segmamba.predictions``, ``segmamba.metrics_csv`` (absolute paths);
- per metric column of the CSV (``dice_wt``, ``hd95_et``, ``iou``, ...): ``<column>_mean``, ``<column>_std``,
  ``<column>_n``, ``<column>_n_undefined`` and the empty-mask counts, as in the summary JSON (undefined means
  are left out);
- nnU-Net's ``foreground_mean`` of the summary as ``foreground_mean_<metric>`` (``foreground_mean_Dice``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segmamba.tracking import configured_target
from segmamba.tracking.session import MlflowSession, experiment_id, log_values


def log_evaluation(summary: dict[str, Any], metrics_csv: str | os.PathLike, prediction_dir: str | os.PathLike) -> None:
    """Log an evaluation's summary (``run_evaluation``'s return value) when tracking is on; never raises then."""
    target = configured_target()
    if target is None:
        return
    session = MlflowSession(target)
    session.call(
        f"logging the evaluation {metrics_csv}", _log, session, summary, Path(metrics_csv), Path(prediction_dir)
    )


def evaluation_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The metrics of an evaluation summary (see the module docstring)."""
    metrics = {
        f"{column}_{stat}": value
        for column, stats in summary.get("metrics", {}).items()
        for stat, value in stats.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    for name, value in (summary.get("foreground_mean") or {}).items():
        if isinstance(value, (int, float)) and value == value:  # NaN (no defined value) is left out
            metrics[f"foreground_mean_{name}"] = value
    return metrics


def _log(client, session: MlflowSession, summary: dict[str, Any], metrics_csv: Path, prediction_dir: Path) -> None:
    """Create the evaluation's run, log its params, tags and metrics, and finish it."""
    dataset = summary.get("dataset")
    run = client.create_run(
        experiment_id(client, session.target.experiment),
        run_name=f"evaluate {dataset}/{prediction_dir.resolve().name}",
        tags={
            "segmamba.stage": "evaluate",
            "segmamba.predictions": str(prediction_dir.resolve()),
            "segmamba.metrics_csv": str(metrics_csv.resolve()),
        },
    )
    params = {"dataset": dataset, "convention": summary.get("convention"), "n_cases": summary.get("n_cases")}
    log_values(client, run.info.run_id, evaluation_metrics(summary), params)
    client.set_terminated(run.info.run_id, "FINISHED")
