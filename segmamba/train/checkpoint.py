"""Writing checkpoints during training: durable saves, the resume state and its fallback, superseding.

The format and everything that reads a checkpoint (``read_checkpoint``, ``load_model``, ``model_spec``) are in
:mod:`segmamba.models.checkpoint`, shared with prediction. ``checkpoint_latest.pt`` also holds the full resume
state (optimizer, grad scaler, iteration, best metric, history, RNG states), as plain data and tensors so that
it loads weights-only too.
Durability: a checkpoint is written to a temporary file, fsync'ed and renamed over the target; the previous
``checkpoint_latest.pt`` is kept as ``checkpoint_latest.prev.pt``, which the resume falls back to (with a
warning) when the latest one cannot be read.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segmamba.errors import InputError
from segmamba.io_utils import write_error
from segmamba.models.checkpoint import CHECKPOINT_FORMAT, UnsafeCheckpointError, read_checkpoint

logger = logging.getLogger("segmamba.train")

LATEST = "checkpoint_latest.pt"
PREVIOUS = "checkpoint_latest.prev.pt"
BEST = "checkpoint_best.pt"
FINAL = "checkpoint_final.pt"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], keep_previous: bool = False) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` durably: temp file, fsync, rename, fsync the folder.

    With ``keep_previous`` an existing ``path`` is first renamed to :data:`PREVIOUS` (beside it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save({"format": CHECKPOINT_FORMAT, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous and path.is_file():
            os.replace(path, path.with_name(PREVIOUS))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as "RuntimeError: ... unexpected pos ..."
        raise write_error(path, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a no-op where folders cannot be opened, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_latest(run_dir: str | os.PathLike) -> tuple[Path, dict[str, Any]] | None:
    """``(path, payload)`` of a run folder's resume checkpoint; None when it has none.

    ``checkpoint_latest.pt`` is tried first; when it is missing or unreadable (e.g. cut short by a crash) the
    previous generation ``checkpoint_latest.prev.pt`` is used, with a warning. Neither readable: InputError.
    A refused (unsafe) latest checkpoint is never skipped.
    """
    latest, previous = Path(run_dir) / LATEST, Path(run_dir) / PREVIOUS
    if not latest.is_file():
        if previous.is_file():
            logger.warning("%s is missing: resuming from the previous generation %s", latest, previous)
            return previous, read_checkpoint(previous)
        return None
    try:
        return latest, read_checkpoint(latest)
    except UnsafeCheckpointError:
        raise
    except InputError as exc:
        if not previous.is_file():
            raise
        logger.warning("%s; resuming from the previous generation %s", exc, previous)
        return previous, read_checkpoint(previous)


@dataclass
class TrainingState:
    """Progress that is saved in ``checkpoint_latest.pt`` and restored on resume."""

    iteration: int = 0
    best_dice: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    elapsed_s: float = 0.0
    last_val: dict[str, float] | None = None
    cost: dict[str, Any] = field(default_factory=dict)  # segmamba.cost.train.TrainCostTracker.totals()
    epoch_pending: bool = False  # a stop interrupted the validation of the epoch that ends at ``iteration``


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch RNG states of this process as plain data and tensors (loadable weights-only)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [int(version), [int(k) for k in internal], None if gauss is None else float(gauss)],
        "numpy": [str(kind), [int(k) for k in keys], int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def supersede_checkpoints(run_dir: Path) -> Path:
    """Move a run folder's resume and best checkpoints into a new ``superseded-<UTC time>/`` in it; return that.

    A second supersede within the same second gets a ``-2``, ``-3``, ... folder (nothing is overwritten).
    """
    run_dir = Path(run_dir)
    stem = time.strftime("superseded-%Y%m%dT%H%M%SZ", time.gmtime())
    superseded, number = run_dir / stem, 1
    while superseded.exists():
        number += 1
        superseded = run_dir / f"{stem}-{number}"
    superseded.mkdir()
    for name in (LATEST, PREVIOUS, BEST):
        if (run_dir / name).is_file():
            (run_dir / name).replace(superseded / name)
    return superseded
