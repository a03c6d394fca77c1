"""MLflow run of one training: settings, per-epoch curves, outcome; a rerun continues the same run.

With tracking on (:func:`segmamba.tracking.configured_target`), the main process of ``segmamba train`` logs into
one MLflow run of the configured experiment, named ``<dataset>/<model>``:

- at its start: every training setting as a param (a continued run keeps the params of its start), tags
  ``segmamba.stage`` = train, ``segmamba.model``, ``segmamba.run_dir``; status RUNNING;
- after every epoch: metrics ``loss``, ``lr`` and, when validated, ``val_dice`` (mean over the regions), with
  step = epoch, as train_log.csv;
- at the end, from train_summary.json: metrics ``final_loss``, ``final_val_dice``, ``final_val_dice_<region>``,
  ``best_val_dice``, ``best_epoch``, ``parameters``, ``iterations``, ``train_time_s``; tags ``collapsed``
  (true/false), ``collapse_reason`` and ``checkpoint_final`` (the absolute path of checkpoint_final.pt); the
  summary's ``cost`` block when it has one: numbers as metrics ``cost.<key>``, text as tags;
- status FINISHED, KILLED (stopped by SIGTERM/SIGUSR1, exit code 75) or FAILED (an error).

The run's id is kept in RUN_DIR/mlflow_run.json with the settings it was started under. A rerun that resumes from
checkpoint_latest.pt (after preemption, a time limit or a crash) continues that run and logs the epochs the run
has not logged yet (also those lost while the server was down). A new run is started when the training starts
from scratch, when its settings changed (the trainer moved the old checkpoints aside) or the tracking URI did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segmamba.io_utils import write_json_atomic
from segmamba.tracking import configured_target
from segmamba.tracking.session import MlflowSession, experiment_id, log_values, numeric_leaves
from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train.settings import TrainSettings, changed_settings

#: The run folder's record of its MLflow run.
RUN_RECORD = "mlflow_run.json"

#: Per-epoch metrics: train_log.csv's columns, logged with step = epoch.
EPOCH_METRICS = ("loss", "lr", "val_dice")

#: train_summary.json numbers logged as metrics at the end of the run.
SUMMARY_METRICS = (
    "final_loss",
    "final_val_dice",
    "best_val_dice",
    "best_epoch",
    "parameters",
    "iterations",
    "train_time_s",
)


class NoTracking:
    """Tracking off (or not the main process): every hook does nothing."""

    def log_history(self, history: list[dict[str, Any]]) -> None:
        """Log the epochs of ``history`` not logged yet."""

    def log_outcome(self, summary_path: Path, checkpoint: Path) -> None:
        """Log train_summary.json's outcome (metrics, collapse verdict, cost) and the final checkpoint's path."""

    def end(self, exit_code: int | None) -> int | None:
        """Mark the run FINISHED (0), KILLED (preempted) or FAILED (other codes, None: an exception), once: later
        calls do nothing. Returns ``exit_code``."""
        return exit_code


NO_TRACKING = NoTracking()


def track_training(trainer) -> NoTracking:
    """The tracker of a :class:`segmamba.train.trainer.Trainer` after its ``build()`` (state restored when resumed):
    its MLflow run on the main process when tracking is on, else NO_TRACKING."""
    if not trainer.ctx.is_main:
        return NO_TRACKING
    run_name = f"{trainer.meta['name']}/{trainer.config.model}"
    return start_training_run(trainer.config, run_name, trainer.state.iteration > 0, trainer.state.history)


def start_training_run(
    config: TrainSettings, run_name: str, resumed: bool, history: list[dict[str, Any]]
) -> NoTracking:
    """The tracker of a training about to (re)start: NO_TRACKING when tracking is off, else its MLflow run.

    Args:
        config: the run's settings (logged as params; compared with those of RUN_DIR/mlflow_run.json).
        run_name: the MLflow run's name, ``<dataset>/<model>``.
        resumed: whether the trainer continues from checkpoint_latest.pt (only then is the recorded run continued).
        history: the epochs finished so far (a resumed run's); those the MLflow run lacks are logged now.
    """
    target = configured_target()
    if target is None:
        return NO_TRACKING
    tracker = TrainingRun(MlflowSession(target), config)
    tracker.session.call(f"starting the run of {config.out}", tracker.start, run_name, resumed)
    tracker.log_history(history)
    return tracker


class TrainingRun(NoTracking):
    """The MLflow run of one training (see the module docstring)."""

    def __init__(self, session: MlflowSession, config: TrainSettings) -> None:
        self.session = session
        self.config = config
        self.record_path = Path(config.out) / RUN_RECORD
        self.run_id: str | None = None
        self.logged_epoch = 0  # epochs up to this one are logged

    def start(self, client, run_name: str, resumed: bool) -> None:
        """Continue the recorded run of a resumed training with the same settings, else create one."""
        record = self.read_record()
        if resumed and record is not None and self.continues(client, record):
            self.run_id = record["run_id"]
            steps = [m.step for m in client.get_metric_history(self.run_id, "loss")]
            self.logged_epoch = max(steps, default=0)
            client.update_run(self.run_id, status="RUNNING")
            return
        run = client.create_run(
            experiment_id(client, self.session.target.experiment),
            run_name=run_name,
            tags={
                "segmamba.stage": "train",
                "segmamba.model": self.config.model,
                "segmamba.run_dir": str(Path(self.config.out).resolve()),
            },
        )
        self.run_id = run.info.run_id
        log_values(client, self.run_id, params=settings_params(self.config))
        write_json_atomic(
            self.record_path,
            {
                "tracking_uri": self.session.target.uri,
                "experiment": self.session.target.experiment,
                "run_id": self.run_id,
                "settings": self.config.to_dict(),
            },
        )

    def read_record(self) -> dict[str, Any] | None:
        """RUN_DIR/mlflow_run.json, or None when missing or unreadable (a new run is started then)."""
        try:
            record = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and isinstance(record.get("run_id"), str) else None

    def continues(self, client, record: dict[str, Any]) -> bool:
        """Whether the recorded run is this training's: same server, experiment and settings, still on the server."""
        from mlflow.exceptions import MlflowException

        target = self.session.target
        if record.get("tracking_uri") != target.uri or record.get("experiment") != target.experiment:
            return False
        if changed_settings(record.get("settings") or {}, self.config):
            return False
        try:
            run = client.get_run(record["run_id"])
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return run.info.lifecycle_stage == "active"

    def log_history(self, history: list[dict[str, Any]]) -> None:
        """Log loss, lr and val_dice of every epoch after the last one logged (step = epoch)."""
        rows = [row for row in history if row["epoch"] > self.logged_epoch]
        if self.run_id is None or not rows:
            return
        metrics = [
            (name, row[name], row["epoch"]) for row in rows for name in EPOCH_METRICS if row.get(name) is not None
        ]
        self.session.call(f"logging epoch {rows[-1]['epoch']}", log_values, self.run_id, metrics)
        self.logged_epoch = rows[-1]["epoch"]

    def log_outcome(self, summary_path: Path, checkpoint: Path) -> None:
        """Log train_summary.json's outcome (metrics, collapse verdict, cost) and the final checkpoint's path."""
        if self.run_id is None:
            return
        summary = json.loads(Path(summary_path).read_text())
        metrics = {k: summary[k] for k in SUMMARY_METRICS if isinstance(summary.get(k), (int, float))}
        per_region = summary.get("final_val_dice_per_region") or {}
        metrics.update({f"final_val_dice_{k}": v for k, v in per_region.items() if k != "mean"})
        tags = {
            "collapsed": str(bool(summary.get("collapsed"))).lower(),
            "collapse_reason": summary.get("collapse_reason") or "",
            "checkpoint_final": str(Path(checkpoint).resolve()),
        }
        if isinstance(summary.get("cost"), dict):
            cost_metrics, cost_tags = numeric_leaves("cost", summary["cost"])
            metrics.update(cost_metrics)
            tags.update(cost_tags)
        self.session.call(f"logging the outcome in {summary_path}", log_values, self.run_id, metrics, None, tags)

    def end(self, exit_code: int | None) -> int | None:
        """Set the run's status from the training's exit code (None: it raised), once; returns ``exit_code``."""
        if self.run_id is not None:
            run_id, self.run_id = self.run_id, None
            status = {0: "FINISHED", PREEMPTED_EXIT_CODE: "KILLED"}.get(exit_code, "FAILED")
            self.session.call(f"ending the run ({status})", lambda client: client.set_terminated(run_id, status))
        return exit_code


def settings_params(config: TrainSettings) -> dict[str, str]:
    """Every setting as an MLflow param: text as is, lists and dicts as compact JSON."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in config.to_dict().items()
    }
