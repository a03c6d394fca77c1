"""Cost of each predicted case: seconds, peak memory and energy, kept in ``<prediction folder>/prediction_log.json``.

The time is that of ``predict_case`` (sliding window, mirror TTA, mapping back to the original grid), not of
reading the case or writing its NIfTI. The log is rewritten (atomically) after every case; a rerun that
skips existing predictions keeps their entries, one that redoes a case replaces its entry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from segmamba.cost.gpu import EnergyMeter, job_cuda_indices, peak_memory_mb, reset_peak_memory
from segmamba.io_utils import write_json_atomic

logger = logging.getLogger("segmamba.predict")

PREDICTION_LOG = "prediction_log.json"
LOG_FORMAT = "segmamba-bench/prediction-log/1"


def read_prediction_log(path: str | Path) -> dict[str, Any]:
    """A prediction log's content: ``{"format", "cases": {case: record}}`` (empty cases when the file is missing).

    Raises:
        ValueError: the file exists but is not a prediction log (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        return {"format": LOG_FORMAT, "cases": {}}
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"prediction log {path}: cannot read JSON ({exc})") from exc
    if (
        not isinstance(content, dict)
        or content.get("format") != LOG_FORMAT
        or not isinstance(content.get("cases"), dict)
    ):
        raise ValueError(f"prediction log {path}: not a {LOG_FORMAT} file with a 'cases' object")
    return content


class PredictionCostLog:
    """Per-case cost records of one prediction folder.

    Args:
        out_dir: the prediction folder (the log is ``out_dir/prediction_log.json``).
        device: the device the model predicts on.
    """

    def __init__(self, out_dir: str | Path, device: torch.device) -> None:
        self.path = Path(out_dir) / PREDICTION_LOG
        self.device = device
        try:
            self.content = read_prediction_log(self.path)
        except ValueError as exc:
            logger.warning("%s; starting a new log", exc)
            self.content = {"format": LOG_FORMAT, "cases": {}}

    @contextlib.contextmanager
    def measure(self, case_id: str) -> Iterator[None]:
        """Measure the block (one case's prediction) and record it under ``case_id`` when it completes."""
        reset_peak_memory(self.device)
        energy = EnergyMeter(job_cuda_indices(self.device, 1))
        start = time.monotonic()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.monotonic() - start
        allocated, reserved = peak_memory_mb(self.device)
        self.content["cases"][case_id] = {
            "seconds": round(seconds, 3),
            "device": str(self.device),
            "gpu_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "peak_memory_allocated_mb": allocated,
            "peak_memory_reserved_mb": reserved,
            "energy_kwh": energy.kwh(),
        }
        write_json_atomic(self.path, self.content)
