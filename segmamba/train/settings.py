"""Training settings: the published-recipe defaults and their help, one dataclass (``TrainSettings``).

``segmamba train``'s flags are generated from it (:mod:`segmamba.settings`); the workflow hands it the scale's
``train`` block in one ``--settings`` argument, whose defaults in the config schema equal these.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from segmamba.errors import ConfigError
from segmamba.settings import normalise_settings, read_json_argument, setting

#: The training losses (segmamba.train.losses): cross-entropy (published) and MONAI's Dice + cross-entropy.
LOSS_NAMES = ("ce", "dice_ce")

REQUIRED_KEYS = ("preprocessed", "split", "model", "out")

# Keys that may differ between a run and its resumption: where and how it runs, not what it computes. A
# checkpoint saved under different values of any other key belongs to another run (see Trainer.build).
RUN_ENVIRONMENT_KEYS = ("preprocessed", "split", "out", "num_workers", "device", "restart_on_change")


@dataclass
class TrainSettings:
    """All settings of one training run; defaults are the published recipe but for docs/deviations.md's list.

    Paths: ``preprocessed`` (folder written by ``segmamba preprocess``), ``split`` (split.json), ``out``
    (run folder). ``batch_size`` is per process; ``iters_per_epoch`` is divided by the number of processes.
    """

    preprocessed: str
    split: str
    model: str
    out: str
    epochs: int = setting(1000, "number of epochs")
    iters_per_epoch: int = setting(250, "iterations per epoch, divided by the number of processes")
    patch_size: tuple[int, int, int] = setting((128, 128, 128), "training patch and validation window in voxels")
    batch_size: int = setting(2, "patches per process and iteration")
    lr: float = setting(1e-2, "initial SGD learning rate")
    momentum: float = setting(0.99, "SGD momentum")
    nesterov: bool = setting(True, "Nesterov momentum")
    weight_decay: float = setting(3e-5, "SGD weight decay")
    poly_exponent: float = setting(0.9, "exponent of the poly learning-rate decay")
    grad_clip: float = setting(12.0, "maximum gradient norm")
    loss: str = setting(
        "ce", "ce: cross-entropy (published) | dice_ce: soft Dice (foreground, batch) + CE", choices=LOSS_NAMES
    )
    amp: bool = setting(True, "fp16 autocast + GradScaler on CUDA")
    oversample_foreground: float = setting(0.33, "fraction of foreground-centred patches")
    augment: bool = setting(True, "data augmentation")
    val_every: int = setting(10, "validate every K epochs (the last epoch always)")
    val_overlap: float = setting(0.5, "sliding-window overlap for validation")
    val_sw_batch_size: int = setting(2, "windows per forward pass in validation")
    max_val_cases: int | None = setting(None, "validate on at most N val cases (none: all)")
    seed: int = setting(0, "random seed of initialisation, patch sampling and augmentation")
    num_workers: int = setting(2, "data-loading worker processes (0: in the main process)")
    model_overrides: dict[str, Any] = setting({}, "model constructor keywords, e.g. '{\"feat_size\": [8,16,32,64]}'")
    device: str = setting("auto", "auto | cpu | cuda | cuda:N (under torchrun auto = cuda:LOCAL_RANK)")
    restart_on_change: bool = setting(
        False,
        "when --out holds a checkpoint of other settings, move it to superseded-<UTC time>/ and train anew "
        "(otherwise: stop with an error naming the changed settings)",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of all settings."""
        data = dataclasses.asdict(self)
        data["patch_size"] = list(self.patch_size)
        return data


def changed_settings(saved: dict[str, Any], settings: TrainSettings) -> list[str]:
    """``"key: old -> new"`` for every setting outside RUN_ENVIRONMENT_KEYS that differs from ``saved``."""
    return [
        f"{key}: {saved.get(key)!r} -> {value!r}"
        for key, value in settings.to_dict().items()
        if key not in RUN_ENVIRONMENT_KEYS and saved.get(key) != value
    ]


def changed_environment(saved: dict[str, Any], settings: TrainSettings) -> list[str]:
    """The RUN_ENVIRONMENT_KEYS (paths, workers) that differ from ``saved`` and change the numerics of a resume."""
    current = settings.to_dict()
    return sorted(
        k for k in RUN_ENVIRONMENT_KEYS if k not in ("device", "restart_on_change") and saved.get(k) != current[k]
    )


def read_settings_file(path: str) -> dict[str, Any]:
    """Field values from a JSON or YAML settings file (or JSON text) whose keys mirror the flags.

    ``no-amp: true`` and ``amp: false`` are both accepted; unknown keys raise ConfigError.
    """
    return normalise_settings(read_json_argument(str(path), "--settings"), TrainSettings, f"training settings {path}")


def build_settings(file_values: dict[str, Any], cli_values: dict[str, Any]) -> TrainSettings:
    """Merge defaults <- settings file <- explicit command-line values and validate the result."""
    values = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    missing = [k for k in REQUIRED_KEYS if k not in values]
    if missing:
        raise ConfigError("segmamba train: missing required setting(s): " + ", ".join("--" + m for m in missing))
    overrides = values.get("model_overrides", {})
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--model-overrides is not valid JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise ConfigError("--model-overrides must be a JSON object of constructor keywords")
    values["model_overrides"] = overrides
    patch = values.get("patch_size", TrainSettings.patch_size)
    if isinstance(patch, int):
        patch = (patch,) * 3
    values["patch_size"] = tuple(int(p) for p in patch)
    for key in ("preprocessed", "split", "out", "model", "device"):
        if key in values:
            values[key] = str(values[key])
    settings = TrainSettings(**values)
    validate_settings(settings)
    return settings


def validate_settings(settings: TrainSettings) -> None:
    """Raise ConfigError for values outside their valid range."""
    checks = [
        (len(settings.patch_size) == 3 and min(settings.patch_size) > 0, "patch_size must be three positive ints"),
        (settings.epochs >= 1, "epochs must be >= 1"),
        (settings.iters_per_epoch >= 1, "iters_per_epoch must be >= 1"),
        (settings.batch_size >= 1, "batch_size must be >= 1"),
        (settings.lr > 0, "lr must be > 0"),
        (settings.val_every >= 1, "val_every must be >= 1"),
        (0 <= settings.val_overlap < 1, "val_overlap must be in [0, 1)"),
        (0 <= settings.oversample_foreground <= 1, "oversample_foreground must be in [0, 1]"),
        (settings.grad_clip > 0, "grad_clip must be > 0"),
        (settings.loss in LOSS_NAMES, f"loss must be one of {', '.join(LOSS_NAMES)}, got {settings.loss!r}"),
        (settings.num_workers >= 0, "num_workers must be >= 0"),
        (settings.max_val_cases is None or settings.max_val_cases >= 0, "max_val_cases must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"segmamba train: {message}")
