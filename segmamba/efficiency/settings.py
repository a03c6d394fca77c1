"""Efficiency settings (``EfficiencySettings``): the measurement defaults and their help, the source of the
``segmamba efficiency`` flags and of the config schema's ``scales.<scale>.efficiency.repeats`` default."""

from __future__ import annotations

from dataclasses import dataclass

from segmamba.errors import ConfigError
from segmamba.settings import setting


@dataclass
class EfficiencySettings:
    """How each quantity is measured (the model, its size and shapes are the job's own arguments)."""

    repeats: int = setting(5, "measurements per quantity; the median is reported")
    sw_batch_size: int = setting(1, "sliding-window batch size of the throughput measurement")

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.sw_batch_size < 1:
            raise ConfigError("--repeats and --sw-batch-size must be positive")
