"""Checkpoint files: self-describing (model name + constructor arguments), safe to load, written durably.

A checkpoint is a dict with ``format``, ``model`` (``{"name", "in_channels", "out_channels", "patch_size",
"overrides"}``), ``state_dict``, ``dataset`` (regions, number of classes, channel names), ``data_fingerprint``
(:mod:`segmamba.data.fingerprint`) and, for ``checkpoint_latest.pt``, the full resume state (optimizer, grad
scaler, iteration, best metric, history, RNG states).

Safety: checkpoints hold only tensors and plain data (the RNG states too), and are read with
``torch.load(..., weights_only=True)``, which refuses any other pickled object instead of running its code.
Durability: a checkpoint is written to a temporary file, fsync'ed and renamed over the target; the previous
``checkpoint_latest.pt`` is kept as ``checkpoint_latest.prev.pt``, which the resume falls back to (with a
warning) when the latest one cannot be read.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segmamba.errors import InputError
from segmamba.io_utils import write_error

logger = logging.getLogger("segmamba.train")

CHECKPOINT_FORMAT = "segmamba-bench/checkpoint/1"
LATEST = "checkpoint_latest.pt"
PREVIOUS = "checkpoint_latest.prev.pt"
BEST = "checkpoint_best.pt"
FINAL = "checkpoint_final.pt"


def model_spec(name: str, in_channels: int, out_channels: int, patch_size, overrides: dict) -> dict[str, Any]:
    """The arguments of ``segmamba.models.build_model`` as a plain dict stored in every checkpoint."""
    return {
        "name": name,
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "patch_size": [int(p) for p in patch_size],
        "overrides": dict(overrides),
    }


def build_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Build an untrained model from a :func:`model_spec` dict through the model registry."""
    from segmamba import models

    return models.build_model(
        spec["name"],
        spec["in_channels"],
        spec["out_channels"],
        patch_size=tuple(spec["patch_size"]),
        **spec["overrides"],
    )


def unwrap_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip a leading ``module.`` (DistributedDataParallel / DataParallel) from every key."""
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state_dict.items()}


class UnsafeCheckpointError(InputError):
    """A checkpoint file holds pickled objects other than tensors and plain data; it was not loaded."""


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


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, without running any code stored in it.

    Raises:
        InputError: the file is missing, unreadable (truncated, not a checkpoint), holds pickled objects other
            than tensors and plain data (refused unopened: loading them could run code), or is not ours.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise UnsafeCheckpointError(
                f"checkpoint {path} is refused: it holds pickled objects other than tensors and plain data, "
                "which could run code when loaded (not a segmamba-bench checkpoint, or a tampered one)"
            ) from None
        raise InputError(f"checkpoint {path} cannot be read: {exc}") from exc
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise InputError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"checkpoint {path} is not a segmamba-bench checkpoint")
    return payload


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


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint from the file alone.

    Args:
        path: a ``checkpoint_{best,final,latest}.pt`` file.
        device: device to place the model on.

    Returns:
        ``(model, meta)``: the model in eval mode with its trained weights, and the checkpoint dict without
        the tensors (keys ``model`` with name/in_channels/out_channels/patch_size/overrides, ``dataset``,
        ``iteration``, ``epoch``, ``val_dice``, ``config``).
    """
    payload = read_checkpoint(path)
    model = build_from_spec(payload["model"])
    try:
        model.load_state_dict(unwrap_state_dict(payload["state_dict"]))
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path}: weights do not fit model {payload['model']['name']}: {exc}") from exc
    model.to(device).eval()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "optimizer", "scaler", "rng")}
    return model, meta


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
