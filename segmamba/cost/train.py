"""Cost of a training run: the tracker the trainer starts before its loop, and the ``cost`` entry of
``train_summary.json``.

Peak memory and energy are measured per process segment (a run resumed after preemption has several) and
carried in the checkpoint's training state (``TrainingState.cost``, saved with ``checkpoint_latest.pt``), so
the totals of a resumed run cover every segment up to its last checkpoint, as ``train_time_s`` does. The
peaks include the validation inside the loop (it is part of the training). They are those of the main
process's GPU (every DDP rank runs the same model on the same batch size); energy sums the job's GPUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from segmamba.cost.gpu import EnergyMeter, job_cuda_indices, peak_memory_mb, reset_peak_memory

SECONDS_PER_HOUR = 3600.0

FLOPS_METHOD = (
    "torch.utils.flop_counter.FlopCounterMode, one patch (batch 1) on the meta device, selective scan by the "
    "formula of segmamba.models.flops.selective_scan_flops"
)


def _max(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


class TrainCostTracker:
    """Measures one process segment of a training and combines it with the earlier segments' totals.

    Args:
        device: the device this process trains on.
        world_size: number of processes (one GPU each on CUDA).
        previous: the totals restored from the checkpoint (``TrainingState.cost``; empty for a new run).
    """

    def __init__(self, device: torch.device, world_size: int, previous: Mapping[str, Any] | None = None) -> None:
        self.device = device
        self.world_size = world_size
        self.previous = dict(previous or {})
        reset_peak_memory(device)
        self.energy = EnergyMeter(job_cuda_indices(device, world_size))

    def totals(self) -> dict[str, Any]:
        """Peak memory (MB) and energy (kWh) over every segment so far, to be saved in the checkpoint.

        Energy is None when any segment could not read it (a total that misses a segment would be too low).
        """
        allocated, reserved = peak_memory_mb(self.device)
        earlier_segments = int(self.previous.get("segments", 0))
        energy, earlier_energy = self.energy.kwh(), self.previous.get("energy_kwh")
        if energy is not None and earlier_segments and earlier_energy is None:
            energy = None
        elif energy is not None and earlier_energy is not None:
            energy += earlier_energy
        return {
            "segments": earlier_segments + 1,
            "peak_memory_allocated_mb": _max(self.previous.get("peak_memory_allocated_mb"), allocated),
            "peak_memory_reserved_mb": _max(self.previous.get("peak_memory_reserved_mb"), reserved),
            "energy_kwh": energy,
        }

    def summary(self, spec: Mapping[str, Any], train_time_s: float, model: torch.nn.Module) -> dict[str, Any]:
        """The ``cost`` entry of ``train_summary.json``; GPU fields are None on the CPU (see docs/cost.md).

        Args:
            spec: the checkpoint's model spec (name, channels, patch size, overrides): FLOPs are counted for it.
            train_time_s: wall time of the training loop over all segments (``TrainingState.elapsed_s``).
            model: the trained model (its parameters are counted).
        """
        from segmamba.models.flops import forward_flops

        flops = forward_flops(dict(spec))
        on_gpu = self.device.type == "cuda"
        gpus = self.world_size if on_gpu else None
        return {
            "parameters": sum(p.numel() for p in model.parameters()),
            "forward_flops": flops,
            "forward_gflops": None if flops is None else flops / 1e9,
            "flops_input_shape": [1, int(spec["in_channels"]), *(int(p) for p in spec["patch_size"])],
            "flops_method": FLOPS_METHOD,
            "train_time_s": round(float(train_time_s), 1),
            "device": str(self.device),
            "gpu_name": torch.cuda.get_device_name(self.device) if on_gpu else None,
            "gpus": gpus,
            "gpu_hours": None if gpus is None else train_time_s * gpus / SECONDS_PER_HOUR,
            **self.totals(),
        }
