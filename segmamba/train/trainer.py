"""The training loop: published SegMamba recipe, resumable, preemptible, DDP-capable.

Every optimisation step is a pure function of (model state, seed, rank, iteration): the batch comes from
``PatchBatches.batch(iteration * world_size + rank)`` and torch's RNG is re-seeded from (seed, rank,
iteration) before each step, so a run resumed from ``checkpoint_latest.pt`` continues exactly as an
uninterrupted one (bit-identical on CPU, where deterministic algorithms are enforced).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from segmamba.cost.train import TrainCostTracker
from segmamba.data.fingerprint import fingerprint_differences, read_data_fingerprint
from segmamba.errors import ConfigError, InputError
from segmamba.io_utils import write_json_atomic
from segmamba.models import checkpoint as model_checkpoint
from segmamba.runtime import seed_everything, select_device
from segmamba.train import PREEMPTED_EXIT_CODE, run_outputs
from segmamba.train import checkpoint as ckpt
from segmamba.train import distributed as dist_utils
from segmamba.train.inputs import dataset_meta, make_patch_batches, read_split
from segmamba.train.losses import make_loss
from segmamba.train.preemption import StopRequest
from segmamba.train.run_lock import RunFolderLock, remove_stale_temp_files
from segmamba.train.run_outputs import TrainingCurve, train_summary, write_settings_copy, write_train_log
from segmamba.train.settings import TrainSettings, changed_environment, changed_settings
from segmamba.train.step import configure_determinism, make_optimizer, model_on, poly_lr, step_seed, train_step
from segmamba.train.tracking import NO_TRACKING, track_training
from segmamba.train.validation import ValidationInterrupted, summarise_validation, validate_case, validate_cases

logger = logging.getLogger("segmamba.train")

SUMMARY = "train_summary.json"


class Trainer:
    """One training run in one process (rank) of a possibly distributed job."""

    def __init__(self, config: TrainSettings) -> None:
        self.config = config
        self.ctx = dist_utils.context_from_env()
        self.device = select_device(config.device)
        self.amp = config.amp and self.device.type == "cuda"
        self.out = Path(config.out)
        from segmamba.data.preprocessed_reader import load_dataset_json

        self.dataset_json = load_dataset_json(config.preprocessed)
        self.meta = dataset_meta(self.dataset_json)
        self.train_ids, val_ids = read_split(config.split)
        if not self.train_ids:
            raise InputError(f"split file {config.split}: the train list is empty")
        self.fingerprint = read_data_fingerprint(config.split, config.preprocessed)
        self.val_ids = val_ids if config.max_val_cases is None else val_ids[: config.max_val_cases]
        if not self.val_ids and self.ctx.is_main:
            logger.warning(
                "no validation cases in %s: no val Dice; checkpoint_best.pt = checkpoint_final.pt", config.split
            )
        self.iters_per_epoch = max(1, config.iters_per_epoch // self.ctx.world_size)
        self.total_iterations = config.epochs * self.iters_per_epoch
        self.spec = model_checkpoint.model_spec(
            config.model,
            len(self.meta["channel_names"]),
            self.meta["num_classes"],
            config.patch_size,
            config.model_overrides,
        )
        self.state = ckpt.TrainingState()
        self.batches = None  # the StepLoader of train(), closed by run_training
        self.stop = StopRequest()  # replaced by the installed one in train()
        self.tracker = NO_TRACKING  # the MLflow run (segmamba.tracking), started by run_training
        self.curve = TrainingCurve(self.out / "training_curve.png", config.model)

    # ----------------------------------------------------------------------------------------- setup
    def build(self) -> None:
        """Create model, optimizer and grad scaler; restore them from checkpoint_latest.pt if present."""
        seed_everything(self.config.seed)  # identical initial weights on every rank
        self.model = model_on(self.device, model_checkpoint.build_from_spec(self.spec))
        self.optimizer = make_optimizer(self.model, self.config)
        self.loss_fn = make_loss(self.config.loss)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        found = ckpt.read_latest(self.out)
        if found is not None and self.is_checkpoint_of_this_run(*found):
            self.resume(*found)
        self.network = self.model
        if self.ctx.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=device_ids)

    def is_checkpoint_of_this_run(self, path: Path, payload: dict[str, Any]) -> bool:
        """Whether the checkpoint ``payload`` read from ``path`` belongs to this run (resuming it continues it).

        A checkpoint of other settings (another learning rate after a config change, which is why Snakemake
        reruns the job) or of other data (another split or preprocessing: its data fingerprint differs) would
        make this run a hybrid of two recipes, or a copy of the old one if it had finished, scored on cases it
        may have trained on: a ConfigError names what changed, or with ``restart_on_change`` the old checkpoints
        move to ``superseded-<UTC time>/`` (nothing is deleted) and this run starts from scratch.
        """
        changed = changed_settings(payload["config"], self.config) + [
            f"data: {difference}"
            for difference in fingerprint_differences(payload.get("data_fingerprint"), self.fingerprint)
        ]
        if not changed:
            return True
        if not self.config.restart_on_change:
            raise ConfigError(
                f"{path} belongs to a run with other settings or data ({'; '.join(changed)}); pass "
                "--restart-on-change to move it aside and train anew, or use another --out folder"
            )
        dist_utils.barrier(self.ctx)  # every rank has read the checkpoint before it moves
        if self.ctx.is_main:
            superseded = ckpt.supersede_checkpoints(self.out)
            logger.warning("settings or data changed (%s): old checkpoints moved to %s", "; ".join(changed), superseded)
        dist_utils.barrier(self.ctx)
        return False

    def resume(self, path: Path, payload: dict[str, Any]) -> None:
        """Load model, optimizer, scaler, progress and RNG state from ``payload``, read from ``path``."""
        changed = changed_environment(payload["config"], self.config)
        if payload.get("world_size", 1) != self.ctx.world_size:
            changed.append(f"number of processes ({payload.get('world_size', 1)} -> {self.ctx.world_size})")
        if changed and self.ctx.is_main:
            logger.warning(
                "resuming %s with changed settings (the run will differ from an uninterrupted one): %s",
                path,
                ", ".join(changed),
            )
        self.model.load_state_dict(model_checkpoint.unwrap_state_dict(payload["state_dict"]))
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["scaler"] and self.scaler.is_enabled():  # empty when saved without AMP (e.g. on CPU)
            self.scaler.load_state_dict(payload["scaler"])
        self.state = ckpt.TrainingState(**payload["state"])
        ckpt.restore_rng_states(payload["rng"])
        self.log(f"resumed from {path} at iteration {self.state.iteration}/{self.total_iterations}")

    # ------------------------------------------------------------------------------------- outputs
    def log(self, message: str) -> None:
        """Log a line on the main process (through tqdm when a progress bar is shown)."""
        if not self.ctx.is_main:
            return
        if getattr(self, "progress", None) is not None and not self.progress.disable:
            self.progress.write(message)
        else:
            logger.info(message)

    def weights_payload(self, val_dice: float | None) -> dict[str, Any]:
        """Checkpoint content that suffices to rebuild and use the model."""
        return {
            "model": self.spec,
            "state_dict": self.model.state_dict(),
            "dataset": self.meta,
            "data_fingerprint": self.fingerprint,
            "config": self.config.to_dict(),
            "iteration": self.state.iteration,
            "epoch": self.state.iteration / self.iters_per_epoch,
            "val_dice": val_dice,
        }

    def save_latest(self) -> None:
        """Write checkpoint_latest.pt (main process only)."""
        if not self.ctx.is_main:
            return
        self.state.cost = self.cost.totals()  # peak memory and energy so far, carried over a resume
        payload = self.weights_payload(self.state.best_dice)
        payload.update(
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict(),
            state=dataclasses.asdict(self.state),
            rng=ckpt.rng_states(),
            world_size=self.ctx.world_size,
        )
        ckpt.save_checkpoint(self.out / ckpt.LATEST, payload, keep_previous=True)

    def write_reports(self, final: bool = False) -> None:
        """Rewrite train_log.csv and (at the end, or when due) training_curve.png from the history (main process)."""
        if self.ctx.is_main and self.state.history:
            write_train_log(self.out / "train_log.csv", self.state.history)
            self.curve.update(self.state.history, final)

    def write_summary(self, final_val: dict[str, float] | None) -> None:
        """Write train_summary.json at the end of the run; warn when the training collapsed."""
        summary = train_summary(self, final_val)
        if summary["collapsed"]:
            logger.warning("training of %s collapsed: %s", self.config.model, summary["collapse_reason"])
        write_json_atomic(self.out / SUMMARY, summary)

    # ---------------------------------------------------------------------------------------- loop
    def validate(self) -> tuple[dict[str, float], dict[str, float | int]] | None:
        """Sliding-window Dice and predicted foreground on the validation cases, shared out over the processes.

        Returns:
            ``({region: Dice, "mean": mean Dice}, foreground_record(...))``; None without validation cases.

        Raises:
            ValidationInterrupted: a stop signal arrived (checked between cases).
        """
        if not self.val_ids:
            return None
        regions = self.meta["regions"]
        config = self.config
        try:
            local = validate_cases(
                partial(
                    validate_case,
                    self.model,
                    config.preprocessed,
                    regions=regions,
                    roi_size=config.patch_size,
                    overlap=config.val_overlap,
                    sw_batch_size=config.val_sw_batch_size,
                    amp=self.amp,
                ),
                self.val_ids,
                self.ctx.rank,
                self.ctx.world_size,
                lambda: dist_utils.any_across(self.ctx, self.stop.requested, self.device),
            )
        finally:
            self.model.train()
        return summarise_validation(
            local, regions, len(self.val_ids), lambda values: dist_utils.sum_across(self.ctx, values, self.device)
        )

    def finish_epoch(self, lr: float, clock_start: float, elapsed_before: float) -> None:
        """Average the epoch loss, validate when due, checkpoint and report."""
        epoch = self.state.iteration // self.iters_per_epoch
        loss_sum, count = dist_utils.sum_across(
            self.ctx, [self.state.epoch_loss_sum, float(self.state.epoch_loss_count)], self.device
        )
        due = epoch % self.config.val_every == 0 or epoch == self.config.epochs
        val, foreground = (self.validate() if due else None) or (None, None)
        self.state.elapsed_s = elapsed_before + time.monotonic() - clock_start
        row = {
            "epoch": epoch,
            "iteration": self.state.iteration,
            "loss": round(loss_sum / max(count, 1), 6),
            "lr": lr,
            "val_dice": None if val is None else round(val["mean"], 6),
            "val_foreground": foreground,
            "time": round(self.state.elapsed_s, 1),
        }
        self.state.history.append(row)
        if val is not None:
            self.state.last_val = val
        self.state.epoch_loss_sum, self.state.epoch_loss_count = 0.0, 0
        if val is not None and (self.state.best_dice is None or val["mean"] > self.state.best_dice):
            self.state.best_dice, self.state.best_epoch = val["mean"], epoch
            if self.ctx.is_main:
                ckpt.save_checkpoint(self.out / ckpt.BEST, self.weights_payload(val["mean"]))
        self.save_latest()
        self.write_reports()
        self.tracker.log_history(self.state.history)
        remaining = self.state.elapsed_s / max(self.state.iteration, 1) * (self.total_iterations - self.state.iteration)
        dice_text = (
            ""
            if val is None
            else f" val_dice {val['mean']:.4f} ("
            + ", ".join(f"{k} {v:.3f}" for k, v in val.items() if k != "mean")
            + ")"
        )
        self.log(
            f"epoch {epoch}/{self.config.epochs} iter {self.state.iteration} loss {row['loss']:.4f} "
            f"lr {lr:.3e}{dice_text} elapsed {self.state.elapsed_s:.0f}s eta {remaining:.0f}s"
        )
        dist_utils.barrier(self.ctx)

    def train(self, stop: StopRequest) -> int:
        """Run (or continue) the loop until the last iteration or a stop request; returns the exit code."""
        from tqdm import tqdm

        config = self.config
        self.model.train()
        from segmamba.train.dataloading import StepLoader

        self.batches = StepLoader(
            make_patch_batches(config, self.train_ids),
            self.ctx.rank,
            self.ctx.world_size,
            self.state.iteration,
            self.total_iterations,
            num_workers=config.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.progress = tqdm(
            total=self.total_iterations,
            initial=self.state.iteration,
            unit="it",
            dynamic_ncols=True,
            disable=not (self.ctx.is_main and sys.stdout.isatty()),
        )
        self.stop = stop
        clock_start, elapsed_before = time.monotonic(), self.state.elapsed_s
        self.cost = TrainCostTracker(self.device, self.ctx.world_size, self.state.cost)
        if self.state.epoch_pending:  # the last run stopped during this epoch's validation: finish the epoch first
            last_lr = poly_lr(config.lr, self.state.iteration - 1, self.total_iterations, config.poly_exponent)
            self.end_epoch(last_lr, clock_start, elapsed_before)
            if self.stopped(clock_start, elapsed_before):
                return PREEMPTED_EXIT_CODE
        while self.state.iteration < self.total_iterations:
            batch = next(self.batches)
            torch.manual_seed(step_seed(config.seed, self.ctx.rank, self.state.iteration))
            lr = poly_lr(config.lr, self.state.iteration, self.total_iterations, config.poly_exponent)
            loss = train_step(
                self.network, self.optimizer, self.scaler, batch, lr, config.grad_clip, self.amp, self.loss_fn
            )
            if not math.isfinite(loss) and not self.amp:
                raise FloatingPointError(f"training loss became {loss} at iteration {self.state.iteration}")
            self.state.iteration += 1
            self.state.epoch_loss_sum += loss
            self.state.epoch_loss_count += 1
            self.progress.update(1)
            self.progress.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            if self.state.iteration % self.iters_per_epoch == 0:
                self.end_epoch(lr, clock_start, elapsed_before)
            if self.stopped(clock_start, elapsed_before):
                return PREEMPTED_EXIT_CODE
        self.progress.close()
        self.finish()
        return 0

    def end_epoch(self, lr: float, clock_start: float, elapsed_before: float) -> None:
        """:meth:`finish_epoch`; a stop during its validation leaves the epoch pending (finished on resume)."""
        try:
            self.finish_epoch(lr, clock_start, elapsed_before)
            self.state.epoch_pending = False
        except ValidationInterrupted:
            self.state.epoch_pending = True

    def stopped(self, clock_start: float, elapsed_before: float) -> bool:
        """On a stop request (any process): save checkpoint_latest.pt, log, and return True."""
        if not dist_utils.any_across(self.ctx, self.stop.requested, self.device):
            return False
        self.state.elapsed_s = elapsed_before + time.monotonic() - clock_start
        self.save_latest()
        during = " (during validation; it is redone on resume)" if self.state.epoch_pending else ""
        self.log(
            f"{self.stop.signal_name or 'stop signal'} received: saved {ckpt.LATEST} at iteration "
            f"{self.state.iteration}{during}; exiting with code {PREEMPTED_EXIT_CODE}"
        )
        self.progress.close()
        return True

    def finish(self) -> None:
        """Write checkpoint_final.pt, the reports and the summary (main process)."""
        if self.ctx.is_main:
            last_val = self.state.last_val  # the last epoch is always validated
            final_dice = None if last_val is None else last_val["mean"]
            ckpt.save_checkpoint(self.out / ckpt.FINAL, self.weights_payload(final_dice))
            if not (self.out / ckpt.BEST).is_file():  # no validation cases: best = final
                ckpt.save_checkpoint(self.out / ckpt.BEST, self.weights_payload(final_dice))
            self.write_reports(final=True)
            self.write_summary(last_val)
            self.tracker.log_outcome(self.out / SUMMARY, self.out / ckpt.FINAL)
            self.log(f"finished: {self.out / ckpt.FINAL} (best val Dice {self.state.best_dice})")
        dist_utils.barrier(self.ctx)


def run_training(config: TrainSettings) -> int:
    """Train (or resume) one model as configured; returns 0, or PREEMPTED_EXIT_CODE after SIGTERM/SIGUSR1.

    Under torchrun (RANK/WORLD_SIZE set) every process calls this; rank 0 writes all files.
    """
    stop = StopRequest().install()
    trainer = Trainer(config)
    configure_determinism(trainer.device)
    if trainer.device.type == "cuda":
        torch.cuda.set_device(trainer.device)
    dist_utils.init_process_group(trainer.ctx, trainer.device)
    lock = RunFolderLock(trainer.out)
    try:
        if trainer.ctx.is_main:
            lock.acquire()  # one training per run folder (an orphaned or parallel one is refused, naming it)
            remove_stale_temp_files(trainer.out)
            write_settings_copy(config)
        trainer.build()
        trainer.tracker = track_training(trainer)
        trainer.log(run_outputs.start_message(trainer))
        return trainer.tracker.end(trainer.train(stop))
    finally:
        trainer.tracker.end(None)  # an exception: FAILED (no-op after the end above)
        if trainer.batches is not None:
            trainer.batches.close()  # stop the loader workers now, also when an error propagates
        stop.restore()
        lock.release()
        # Free the DDP wrapper before leaving the process group: a gloo group destroyed first makes the
        # Reducer's later destructor join a thread that waits for the GIL, which hangs the process at exit.
        trainer.network = None
        gc.collect()
        dist_utils.shutdown(trainer.ctx)
