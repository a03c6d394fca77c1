"""Prediction settings (``PredictSettings``): sliding-window defaults and their help, the source of the
``segmamba predict`` flags and of the config schema's ``scales.<scale>.predict`` defaults."""

from __future__ import annotations

from dataclasses import dataclass

from segmamba.errors import ConfigError
from segmamba.settings import setting


@dataclass
class PredictSettings:
    """Sliding-window settings (``roi_size`` None = the checkpoint's training patch)."""

    tta: bool = setting(True, "8-way mirror test-time augmentation")
    overlap: float = setting(0.5, "sliding-window overlap")
    sw_batch_size: int = setting(2, "windows per forward pass")
    amp: bool = setting(True, "fp16 autocast on CUDA")
    roi_size: tuple[int, int, int] | None = setting(None, "window size (none: the training patch)")
    overwrite: bool = setting(False, "predict again cases whose output exists")

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"--overlap must be in [0, 1), got {self.overlap}")
        if self.sw_batch_size < 1:
            raise ConfigError(f"--sw-batch-size must be >= 1, got {self.sw_batch_size}")
        if self.roi_size is not None:
            self.roi_size = tuple(int(edge) for edge in self.roi_size)
