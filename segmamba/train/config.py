"""Training configuration: published-recipe defaults, overridable by a YAML file and by command-line flags."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from segmamba.errors import ConfigError
from segmamba.train.losses import LOSS_NAMES

REQUIRED_KEYS = ("preprocessed", "split", "model", "out")

# Keys whose change makes an existing checkpoint unusable (the weights would not fit the model).
MODEL_DEFINING_KEYS = ("model", "model_overrides", "patch_size")


@dataclass
class TrainConfig:
    """All settings of one training run; defaults are the published SegMamba recipe (spec section 3.4-3.7).

    Paths: ``preprocessed`` (folder written by ``segmamba preprocess``), ``split`` (split.json), ``out``
    (run folder). ``batch_size`` is per process; ``iters_per_epoch`` is divided by the number of processes.
    """

    preprocessed: str
    split: str
    model: str
    out: str
    epochs: int = 1000
    iters_per_epoch: int = 250
    patch_size: tuple[int, int, int] = (128, 128, 128)
    batch_size: int = 2
    lr: float = 1e-2
    momentum: float = 0.99
    nesterov: bool = True
    weight_decay: float = 3e-5
    poly_exponent: float = 0.9
    grad_clip: float = 12.0
    loss: str = "ce"
    amp: bool = True
    oversample_foreground: float = 0.33
    augment: bool = True
    val_every: int = 2
    val_overlap: float = 0.5
    val_sw_batch_size: int = 2
    max_val_cases: int | None = None
    seed: int = 42
    num_workers: int = 2
    model_overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of all settings."""
        data = dataclasses.asdict(self)
        data["patch_size"] = list(self.patch_size)
        return data


FIELD_NAMES = {f.name for f in dataclasses.fields(TrainConfig)}
NEGATED_FLAGS = {"no_amp": "amp", "no_nesterov": "nesterov", "no_augment": "augment"}


def normalise_key(key: str) -> str:
    """Map a flag-style key (``iters-per-epoch``) to the field name (``iters_per_epoch``)."""
    return key.strip().lstrip("-").replace("-", "_")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) file whose keys mirror the ``segmamba train`` flags.

    ``no-amp: true`` and ``amp: false`` are both accepted; unknown keys raise ConfigError.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read training config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"training config {path}: expected a mapping of flag names to values")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = normalise_key(str(key))
        if name in NEGATED_FLAGS:
            values[NEGATED_FLAGS[name]] = not bool(value)
        elif name in FIELD_NAMES:
            values[name] = value
        else:
            raise ConfigError(f"training config {path}: unknown key {key!r}")
    return values


def build_config(file_values: dict[str, Any], cli_values: dict[str, Any]) -> TrainConfig:
    """Merge defaults <- config file <- explicit command-line values and validate the result."""
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
    patch = values.get("patch_size", TrainConfig.patch_size)
    if isinstance(patch, int):
        patch = (patch,) * 3
    values["patch_size"] = tuple(int(p) for p in patch)
    for key in ("preprocessed", "split", "out", "model", "device"):
        if key in values:
            values[key] = str(values[key])
    config = TrainConfig(**values)
    validate_config(config)
    return config


def validate_config(config: TrainConfig) -> None:
    """Raise ConfigError for values outside their valid range."""
    checks = [
        (len(config.patch_size) == 3 and min(config.patch_size) > 0, "patch_size must be three positive ints"),
        (config.epochs >= 1, "epochs must be >= 1"),
        (config.iters_per_epoch >= 1, "iters_per_epoch must be >= 1"),
        (config.batch_size >= 1, "batch_size must be >= 1"),
        (config.lr > 0, "lr must be > 0"),
        (config.val_every >= 1, "val_every must be >= 1"),
        (0 <= config.val_overlap < 1, "val_overlap must be in [0, 1)"),
        (0 <= config.oversample_foreground <= 1, "oversample_foreground must be in [0, 1]"),
        (config.grad_clip > 0, "grad_clip must be > 0"),
        (config.loss in LOSS_NAMES, f"loss must be one of {', '.join(LOSS_NAMES)}, got {config.loss!r}"),
        (config.num_workers >= 0, "num_workers must be >= 0"),
        (config.max_val_cases is None or config.max_val_cases >= 0, "max_val_cases must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"segmamba train: {message}")
