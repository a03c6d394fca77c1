"""Peak CUDA memory and NVML energy of the devices a run uses; None wherever there is nothing to measure.

Memory is what PyTorch's caching allocator reports (``max_memory_allocated`` and ``max_memory_reserved``,
reserved being closer to what nvidia-smi shows), in MB (2**20 bytes). Energy is NVML's total-energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded; Volta and newer data-centre
GPUs) read before and after, from the optional ``nvidia-ml-py`` package (``import pynvml``). Off CUDA, without
pynvml, or on a GPU without the counter every reading is None (shown as "—"), never 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

logger = logging.getLogger("segmamba.cost")

MB = 2**20
MILLIJOULES_PER_KWH = 3.6e9


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window on a CUDA ``device`` (nothing elsewhere)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> tuple[float | None, float | None]:
    """(peak allocated, peak reserved) CUDA memory in MB since the last reset; (None, None) off CUDA."""
    if device.type != "cuda":
        return None, None
    return torch.cuda.max_memory_allocated(device) / MB, torch.cuda.max_memory_reserved(device) / MB


def _nvml_handle(pynvml, cuda_index: int):
    """NVML handle of CUDA device ``cuda_index`` (by UUID, which survives CUDA_VISIBLE_DEVICES; else by index)."""
    uuid = getattr(torch.cuda.get_device_properties(cuda_index), "uuid", None)
    if uuid is not None:
        text = str(uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
    return pynvml.nvmlDeviceGetHandleByIndex(cuda_index)


def total_energy_mj(cuda_indices: Sequence[int]) -> int | None:
    """Sum of NVML's total-energy counters (mJ) of the CUDA devices ``cuda_indices``; None when any cannot be read.

    NVML is optional: a missing ``pynvml``, a failing ``nvmlInit`` or a GPU without the counter gives None
    (logged at debug level).
    """
    if not cuda_indices:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return sum(int(pynvml.nvmlDeviceGetTotalEnergyConsumption(_nvml_handle(pynvml, i))) for i in cuda_indices)
    except Exception as exc:  # noqa: BLE001 - ImportError, NVMLError_NotSupported, driver errors: no energy
        logger.debug("NVML energy counter not readable: %s: %s", type(exc).__name__, exc)
        return None


class EnergyMeter:
    """Energy the CUDA devices ``cuda_indices`` used since the meter started, from NVML (None where unreadable).

    Args:
        cuda_indices: the CUDA device indices to sum (empty off CUDA: always None).
    """

    def __init__(self, cuda_indices: Sequence[int]) -> None:
        self.cuda_indices = list(cuda_indices)
        self.start_mj = total_energy_mj(self.cuda_indices)

    def kwh(self) -> float | None:
        """kWh since the start; None when the counter could not be read at the start or now."""
        if self.start_mj is None:
            return None
        now = total_energy_mj(self.cuda_indices)
        return None if now is None else (now - self.start_mj) / MILLIJOULES_PER_KWH


def job_cuda_indices(device: torch.device, world_size: int) -> list[int]:
    """CUDA devices of a job whose processes use one GPU each, as seen from the process on ``device``.

    One process: its own device. Several on one node (``segmamba train --nproc N``): devices 0..N-1. More
    processes than the node shows devices (several nodes): only ``device`` itself. Off CUDA: none.
    """
    if device.type != "cuda":
        return []
    if 1 < world_size <= torch.cuda.device_count():
        return list(range(world_size))
    return [device.index if device.index is not None else torch.cuda.current_device()]
