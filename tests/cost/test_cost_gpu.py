"""GPU readings of the cost package: None off CUDA or without NVML, exact unit conversions where a counter exists."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from segmamba.cost import gpu
from segmamba.cost.train import TrainCostTracker

CPU = torch.device("cpu")


def fake_pynvml(energies_mj: dict[str, int], supported: bool = True) -> types.ModuleType:
    """A stand-in for nvidia-ml-py: devices by UUID with a settable total-energy counter (mJ)."""
    module = types.ModuleType("pynvml")
    module.nvmlInit = lambda: None
    module.nvmlDeviceGetHandleByUUID = lambda uuid: uuid
    module.nvmlDeviceGetHandleByIndex = lambda index: f"index-{index}"

    def energy(handle):
        if not supported:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return energies_mj[handle]

    module.nvmlDeviceGetTotalEnergyConsumption = energy
    return module


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """torch sees two CUDA devices with UUIDs u0 and u1; NVML counters start at 1000 and 5000 mJ."""
    counters = {"GPU-u0": 1000, "GPU-u1": 5000}
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=f"u{i}"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(counters))
    return counters


def test_cpu_has_no_gpu_readings():
    assert gpu.peak_memory_mb(CPU) == (None, None)
    assert gpu.job_cuda_indices(CPU, 4) == []
    assert gpu.EnergyMeter([]).kwh() is None
    totals = TrainCostTracker(CPU, 1).totals()
    assert totals == {
        "segments": 1,
        "peak_memory_allocated_mb": None,
        "peak_memory_reserved_mb": None,
        "energy_kwh": None,
    }


def test_energy_is_the_counter_difference_in_kwh(two_fake_gpus):
    meter = gpu.EnergyMeter([0, 1])
    two_fake_gpus["GPU-u0"] += 1_800_000_000  # 0.5 kWh = 1.8e9 mJ
    two_fake_gpus["GPU-u1"] += 3_600_000_000  # 1 kWh
    assert meter.kwh() == pytest.approx(1.5)
    assert gpu.job_cuda_indices(torch.device("cuda", 1), 1) == [1]
    assert gpu.job_cuda_indices(torch.device("cuda", 0), 2) == [0, 1]
    assert gpu.job_cuda_indices(torch.device("cuda", 1), 8) == [1]  # more processes than local GPUs


def test_missing_or_unsupported_nvml_gives_none(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid="u0"))
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({"GPU-u0": 1}, supported=False))
    assert gpu.total_energy_mj([0]) is None
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert gpu.total_energy_mj([0]) is None
    assert gpu.EnergyMeter([0]).kwh() is None


def test_resumed_totals_keep_the_larger_peak_and_add_energy(monkeypatch, two_fake_gpus):
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(gpu.torch.cuda, "reset_peak_memory_stats", lambda device: None)
    monkeypatch.setattr(gpu.torch.cuda, "max_memory_allocated", lambda device: 300 * 2**20)
    monkeypatch.setattr(gpu.torch.cuda, "max_memory_reserved", lambda device: 512 * 2**20)
    earlier = {"segments": 2, "peak_memory_allocated_mb": 400.0, "peak_memory_reserved_mb": 450.0, "energy_kwh": 0.25}
    tracker = TrainCostTracker(cuda, 1, earlier)
    two_fake_gpus["GPU-u0"] += 360_000_000  # 0.1 kWh in this segment
    assert tracker.totals() == pytest.approx(
        {"segments": 3, "peak_memory_allocated_mb": 400.0, "peak_memory_reserved_mb": 512.0, "energy_kwh": 0.35}
    )
    # an earlier segment without an energy reading makes the total unknown, not too low
    unknown = TrainCostTracker(cuda, 1, {**earlier, "energy_kwh": None})
    assert unknown.totals()["energy_kwh"] is None
