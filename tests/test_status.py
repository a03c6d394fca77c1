"""``segmamba status``: one line per training run (finished and half-finished) and the tables per dataset."""

from __future__ import annotations

import json
import re

import pytest

from segmamba.cli import main
from segmamba.train.run_outputs import write_settings_copy, write_train_log
from segmamba.train.settings import TrainSettings

TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}


def plant_run(folder, model: str, epochs: int, history: list[dict], summary: dict | None = None) -> None:
    """A run folder as the trainer leaves it, written with the trainer's own writers (train_config.yaml,
    train_log.csv), plus train_summary.json and checkpoint_final.pt once finished."""
    write_settings_copy(
        TrainSettings(preprocessed="pre", split="split.json", model=model, out=str(folder), epochs=epochs, seed=3)
    )
    write_train_log(folder / "train_log.csv", history)
    if summary is not None:
        (folder / "train_summary.json").write_text(json.dumps(summary))
        (folder / "checkpoint_final.pt").write_bytes(b"weights")


def row(epoch: int, per_epoch: int, val_dice: float | None, seconds: float) -> dict:
    """One train_log.csv row (the trainer's history entry)."""
    return {"epoch": epoch, "iteration": epoch * per_epoch, "loss": 1.0 / epoch, "lr": 0.01, "val_dice": val_dice,
            "time": seconds}  # fmt: skip


def status_lines(results, capsys) -> list[str]:
    assert main(["status", str(results)]) == 0
    return capsys.readouterr().out.splitlines()


def test_status_of_a_finished_and_a_half_finished_run(tmp_path, capsys):
    results = tmp_path / "results"
    models = results / "brats2023" / "models"
    plant_run(
        models / "segresnet",
        "segresnet",
        epochs=4,
        history=[row(1, 5, None, 20.0), row(2, 5, 0.61, 45.0), row(3, 5, None, 70.0), row(4, 5, 0.7123, 100.0)],
        summary={"dataset": "brats2023", "iterations_per_epoch": 5, "train_time_s": 100.4, "collapsed": False},
    )
    plant_run(models / "unet", "unet", epochs=10, history=[row(1, 25, 0.2, 30.0), row(2, 25, None, 60.0)])
    plant_run(models / "unetr", "unetr", epochs=3, history=[])  # just started: no epoch finished yet
    (results / "tables").mkdir()
    (results / "tables" / "table2.csv").write_text("x\n")
    (results / "tables" / "table5.md").write_text("x\n")

    lines = status_lines(results, capsys)
    header, finished, running, started = (re.split(r"\s{2,}", line) for line in lines[:4])
    assert header == ["dataset", "model", "seed", "fold", "iteration", "val Dice", "elapsed", "ETA", "collapsed",
                      "finished"]  # fmt: skip
    assert finished == ["brats2023", "segresnet", "3", "-", "20/20", "0.7123", "0:01:40", "0:00:00", "no", "yes"]
    # 50 of 250 iterations in 60 s: 200 more take 240 s
    assert running[:9] == ["brats2023", "unet", "3", "-", "50/250", "0.2000", "0:01:00", "0:04:00", "-"]
    assert running[9].startswith("no (updated 0:00:0")
    # the settings' default 250 iterations per epoch (one process) x 3 epochs
    assert started[:9] == ["brats2023", "unetr", "3", "-", "0/750", "-", "-", "-", "-"]
    assert "  brats2023: tables/table2.csv" in lines
    assert "  (all datasets): tables/table5.md" in lines


def test_status_of_an_empty_results_folder(tmp_path, capsys):
    lines = status_lines(tmp_path, capsys)
    assert lines[0].startswith(f"no training runs under {tmp_path}")


@pytest.mark.slow
def test_status_of_real_tiny_trainings_one_stopped_half_way(tmp_path, capsys):
    """The planted format above against the files a real (tiny) training writes, finished and stopped."""
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset
    from segmamba.train.settings import build_settings
    from segmamba.train.trainer import Trainer, run_training

    ids = write_synthetic_dataset("brats", tmp_path / "raw", cases=3, size=16, seed=0)
    split = write_split(tmp_path / "split.json", ids)
    results = tmp_path / "results"
    preprocess_dataset("brats2023", tmp_path / "raw", tmp_path / "split.json", results / "brats2023" / "preprocessed")
    split.update(train=ids[:2], val=[ids[2]], test=[])
    (tmp_path / "split.json").write_text(json.dumps(split))

    def settings(model_dir: str, epochs: int):
        return build_settings({}, {
            "preprocessed": str(results / "brats2023" / "preprocessed"), "split": str(tmp_path / "split.json"),
            "model": "segresnet", "out": str(results / "brats2023" / "models" / model_dir), "epochs": epochs,
            "iters_per_epoch": 2, "patch_size": (16, 16, 16), "val_every": 1, "num_workers": 0, "device": "cpu",
            "model_overrides": TINY_SEGRESNET, "seed": 1,
        })  # fmt: skip

    assert run_training(settings("finished", 2)) == 0
    stopped = settings("stopped", 3)
    trainer = Trainer(stopped)
    trainer.out.mkdir(parents=True)
    write_settings_copy(stopped)
    trainer.build()

    class StopAfterFirstEpoch:
        """A stop request (as on SIGTERM) once the first epoch is logged."""

        signal_name = "test stop"

        @property
        def requested(self) -> bool:
            return (trainer.out / "train_log.csv").is_file()

    assert trainer.train(StopAfterFirstEpoch()) != 0
    trainer.batches.close()
    lines = [re.split(r"\s{2,}", line) for line in status_lines(results, capsys)[1:3]]
    finished, half = sorted(lines, key=lambda cells: cells[9] != "yes")
    assert finished[4] == "4/4" and finished[8] == "no" and finished[9] == "yes"
    assert half[4] == "2/6" and half[8] == "-" and half[9].startswith("no")
    assert half[7] != "-"  # an ETA from the first epoch's time
