"""Checkpoint files: self-describing (model name + constructor arguments) and written atomically.

A checkpoint is a dict with ``format``, ``model`` (``{"name", "in_channels", "out_channels", "patch_size",
"overrides"}``), ``state_dict``, ``dataset`` (regions, number of classes, channel names) and, for
``checkpoint_latest.pt``, the full resume state (optimizer, grad scaler, iteration, best metric, history,
RNG states).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segmamba.errors import InputError
from segmamba.io_utils import atomic_path

CHECKPOINT_FORMAT = "segmamba-bench/checkpoint/1"
LATEST = "checkpoint_latest.pt"
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


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; raises InputError for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise InputError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"checkpoint {path} is not a segmamba-bench checkpoint")
    return payload


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


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch RNG states of this process."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def supersede_checkpoints(run_dir: Path) -> Path:
    """Move a run folder's latest and best checkpoints into a new ``superseded-<UTC time>/`` in it; return that."""
    run_dir = Path(run_dir)
    superseded = run_dir / time.strftime("superseded-%Y%m%dT%H%M%SZ", time.gmtime())
    superseded.mkdir(exist_ok=True)
    for name in (LATEST, BEST):
        if (run_dir / name).is_file():
            (run_dir / name).replace(superseded / name)
    return superseded
