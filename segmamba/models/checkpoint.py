"""Reading checkpoint files: the format, the model they describe, and the check against a dataset.

A checkpoint is a dict with ``format``, ``model`` (``{"name", "in_channels", "out_channels", "patch_size",
"overrides"}``), ``state_dict``, ``dataset`` (regions, number of classes, channel names), ``data_fingerprint``
(:mod:`segmamba.data.fingerprint`) and, for ``checkpoint_latest.pt``, the full resume state. Training writes
them (:mod:`segmamba.train.checkpoint`: durable writes, resume); prediction, bundles and FLOP counts read them
here, so neither side imports the other.

Safety: checkpoints hold only tensors and plain data, and are read with ``torch.load(..., weights_only=True)``,
which refuses any other pickled object instead of running its code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segmamba.errors import InputError

CHECKPOINT_FORMAT = "segmamba-bench/checkpoint/1"


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
    from segmamba.models.registry import build_model

    return build_model(
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


TRAINING_DATASET_FIELDS = ("name", "channel_names", "label_names", "num_classes")
"""What a checkpoint records of its training data (``dataset`` entry) and must share with the data it predicts."""


def check_checkpoint_dataset(checkpoint, meta: dict, preprocessed_dir, dataset_json: dict) -> None:
    """Refuse a checkpoint trained on another dataset than the preprocessed folder's (one line naming both).

    Raises:
        InputError: the checkpoint records no training dataset, or its dataset name, channels, labels or class
            count differ from ``dataset.json``.
    """
    trained = meta.get("dataset") or {}
    target = Path(preprocessed_dir) / "dataset.json"
    if not all(field in trained for field in TRAINING_DATASET_FIELDS):
        raise InputError(
            f"checkpoint {checkpoint} does not record its training dataset; cannot check it against {target}"
        )
    differences = [
        f"{field} {trained[field]!r} vs {dataset_json.get(field)!r}"
        for field in TRAINING_DATASET_FIELDS
        if trained[field] != dataset_json.get(field)
    ]
    if differences:
        raise InputError(
            f"checkpoint {checkpoint} was trained on dataset {trained['name']!r}, not on the data of {target} "
            f"({'; '.join(differences)})"
        )
