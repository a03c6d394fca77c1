"""What a training run reads: the split's case lists, the patch sampler of its training cases, and the facts
about the training data that every checkpoint stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segmamba.errors import InputError
from segmamba.train.settings import TrainSettings


def read_split(path: str) -> tuple[list[str], list[str]]:
    """Train and val case ids of a split.json."""
    try:
        split = json.loads(Path(path).read_text())
        return list(split["train"]), list(split.get("val", []))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"split file {path}: cannot read train/val case lists ({exc})") from exc


def make_patch_batches(config: TrainSettings, train_ids: list[str]):
    """The patch sampler of the data step for the training cases (batches of ``batch_size`` per process)."""
    from segmamba.train.dataloading import PatchBatches

    return PatchBatches(
        config.preprocessed,
        train_ids,
        tuple(config.patch_size),
        config.batch_size,
        oversample_foreground=config.oversample_foreground,
        augment=config.augment,
        seed=config.seed,
    )


def dataset_meta(dataset_json: dict[str, Any]) -> dict[str, Any]:
    """What predict and evaluation need to know about the training data, stored in every checkpoint."""
    return {
        "name": dataset_json.get("name"),
        "channel_names": dataset_json["channel_names"],
        "label_names": dataset_json.get("label_names"),
        "regions": dataset_json["regions"],
        "num_classes": int(dataset_json["num_classes"]),
    }
