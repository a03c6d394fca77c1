"""Run-folder outputs besides the checkpoints: train_log.csv and training_curve.png from the history,
train_config.yaml (the resolved settings) and the content of train_summary.json."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segmamba.io_utils import atomic_path, write_text_atomic
from segmamba.train.settings import TrainSettings

#: The resolved settings of a run, in its folder (``segmamba train --settings`` reads it back).
SETTINGS_COPY = "train_config.yaml"

LOG_COLUMNS = ("epoch", "iteration", "loss", "lr", "val_dice", "time")
#: Seconds between redrawings of training_curve.png during a run (:class:`TrainingCurve`).
CURVE_REDRAW_S = 60.0


def write_train_log(path: str | os.PathLike, history: Sequence[dict]) -> None:
    """Rewrite ``train_log.csv`` (one row per finished epoch; ``val_dice`` empty when not validated)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_COLUMNS})
    write_text_atomic(path, buffer.getvalue())


def plot_training_curve(path: str | os.PathLike, history: Sequence[dict], title: str) -> None:
    """Draw training loss and validation Dice against epochs into a PNG (matplotlib Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    losses = [row["loss"] for row in history]
    validated = [(row["epoch"], row["val_dice"]) for row in history if row.get("val_dice") is not None]
    fig, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, losses, color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    dice_axis = loss_axis.twinx()
    if validated:
        dice_axis.plot(*zip(*validated, strict=True), color="tab:orange", marker="o", label="val mean Dice")
    dice_axis.set_ylabel("validation mean Dice", color="tab:orange")
    dice_axis.set_ylim(0, 1)
    loss_axis.set_title(title)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


class TrainingCurve:
    """training_curve.png of a run, redrawn at the end and during the run when the last drawing is
    ``CURVE_REDRAW_S`` old: drawing it takes 0.2-1 s, about what a demo-scale epoch costs, whereas a paper-scale
    epoch takes minutes and is drawn after each."""

    def __init__(self, path: str | os.PathLike, title: str) -> None:
        self.path, self.title = Path(path), title
        self.drawn_at = time.monotonic()

    def update(self, history: Sequence[dict], final: bool = False) -> None:
        """Draw the curve of ``history`` if ``final`` or if the last drawing is ``CURVE_REDRAW_S`` old."""
        if final or time.monotonic() - self.drawn_at >= CURVE_REDRAW_S:
            plot_training_curve(self.path, history, self.title)
            self.drawn_at = time.monotonic()


def write_settings_copy(config: TrainSettings) -> Path:
    """Save the resolved settings as RUN_DIR/train_config.yaml (usable with ``--settings``)."""
    import yaml

    path = Path(config.out) / SETTINGS_COPY
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path


def start_message(trainer) -> str:
    """The log line that opens a training: model, parameters, device, cases, epochs, iterations, batch."""
    config = trainer.config
    return (
        f"training {config.model} ({sum(p.numel() for p in trainer.model.parameters()):,} parameters) on "
        f"{trainer.device} x{trainer.ctx.world_size}: {len(trainer.train_ids)} train / {len(trainer.val_ids)} "
        f"val cases, {config.epochs} epochs x {trainer.iters_per_epoch} iterations, batch {config.batch_size}"
    )


def train_summary(trainer, final_val: dict[str, float] | None) -> dict[str, Any]:
    """The content of ``train_summary.json`` of a finished :class:`segmamba.train.trainer.Trainer`."""
    import torch

    from segmamba.ops import scan_backend_label
    from segmamba.train.collapse import collapse_report

    state, config = trainer.state, trainer.config
    last = state.history[-1] if state.history else {}
    return {
        "model": config.model,
        "model_spec": trainer.spec,
        "parameters": int(sum(p.numel() for p in trainer.model.parameters())),
        "dataset": trainer.meta["name"],
        "data_fingerprint": trainer.fingerprint,
        "train_cases": len(trainer.train_ids),
        "val_cases": len(trainer.val_ids),
        "epochs": config.epochs,
        "iterations": state.iteration,
        "iterations_per_epoch": trainer.iters_per_epoch,
        "world_size": trainer.ctx.world_size,
        "device": str(trainer.device),
        "amp": trainer.amp,
        "final_loss": last.get("loss"),
        "final_val_dice": None if final_val is None else final_val["mean"],
        "final_val_dice_per_region": final_val,
        "best_val_dice": state.best_dice,
        "best_epoch": state.best_epoch,
        **collapse_report(state.history),
        "train_time_s": round(state.elapsed_s, 1),
        "torch_version": torch.__version__,
        "scan_backend": scan_backend_label(),  # selective-scan backends that ran (None: no Mamba layer)
        "config": config.to_dict(),
        "cost": trainer.cost.summary(trainer.spec, state.elapsed_s, trainer.model),  # docs/cost.md
    }
