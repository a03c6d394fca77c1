"""Tests of ``segmamba efficiency``: the JSON record on a tiny CPU model, and out-of-memory recorded as "OOM"
(an injected OutOfMemoryError, a real allocation failure under an address-space cap, a killed process)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from torch import nn

from segmamba.cli import main
from segmamba.efficiency.measure import MeasurementRequest, run_measurement
from segmamba.efficiency.runner import (
    OOM,
    is_out_of_memory,
    measure_in_subprocess,
    stage1_sequence_length,
    summarise_quantity,
)
from segmamba.ops import selective_scan

FACTORY = f"{__name__}:build_test_model"


class FailingForward(nn.Module):
    """A one-layer model whose forward pass fails in a chosen way."""

    def __init__(self, in_channels: int, out_channels: int, failure: str):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 1)
        self.failure = failure

    def forward(self, x):
        if self.failure == "oom_error":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if self.failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        if self.failure == "bug":
            raise ValueError("a genuine bug, not a memory problem")
        return self.conv(x)


class ScanningModel(nn.Module):
    """A 1x1 conv followed by a selective scan over the voxels (a stand-in for a Mamba layer)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 1)
        self.A = nn.Parameter(-torch.ones(out_channels, 2))

    def forward(self, x):
        y = self.conv(x)
        tokens = y.flatten(2)
        projection = torch.ones(tokens.shape[0], 2, tokens.shape[-1], device=x.device)
        return selective_scan(tokens, tokens.sigmoid(), self.A, projection, projection).view_as(y)


def build_test_model(name, in_channels, out_channels, patch_size, width=4):
    """Stand-in model factory (same signature as segmamba.models.build_model) used in the subprocesses."""
    if name == "tiny":
        return nn.Sequential(nn.Conv3d(in_channels, width, 3, padding=1), nn.ReLU(), nn.Conv3d(width, out_channels, 1))
    if name == "scanning":
        return ScanningModel(in_channels, out_channels)
    return FailingForward(in_channels, out_channels, name)


def request(quantity, model="tiny", **kwargs):
    """A small CPU measurement request using the stand-in factory."""
    options = {"size": 16, "in_channels": 2, "out_channels": 3, "volume_size": (16, 16, 16), "factory": FACTORY}
    return MeasurementRequest(quantity=quantity, model=model, **{**options, **kwargs})


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (torch.OutOfMemoryError("CUDA out of memory"), True),
        (MemoryError(), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"), True),
        (RuntimeError("CUDA error: out of memory"), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_is_out_of_memory(error, expected):
    assert is_out_of_memory(error) is expected


def test_summarise_quantity_reports_oom_when_any_repeat_failed():
    assert summarise_quantity([3.0, 1.0, 2.0]) == {"median": 2.0, "values": [3.0, 1.0, 2.0]}
    assert summarise_quantity([3.0, OOM]) == {"median": OOM, "values": [3.0, OOM]}


def test_throughput_in_process_is_plausible():
    rates = run_measurement(request("inference_throughput", repeats=2, volume_size=(24, 16, 16)))["values"]
    assert len(rates) == 2 and all(0 < rate < 1e5 for rate in rates)


def test_memory_in_process_has_no_reserved_figure_on_cpu():
    result = run_measurement(request("inference_memory"))
    assert len(result["values"]) == 1 and result["values"][0] > 0 and result["reserved"] is None


@pytest.mark.parametrize(("size", "tokens"), [(32, 4096), (128, 262144), (33, 17**3)])
def test_sequence_length_is_the_stage1_token_count(size, tokens):
    assert stage1_sequence_length(size) == tokens


@pytest.mark.slow
def test_injected_out_of_memory_error_is_recorded():
    assert measure_in_subprocess(request("inference_memory", model="oom_error"))["values"] == OOM


@pytest.mark.slow
def test_killed_measurement_process_is_recorded_as_oom():
    assert measure_in_subprocess(request("training_memory", model="killed"))["values"] == OOM


@pytest.mark.slow
def test_allocation_beyond_an_address_space_cap_is_recorded_as_oom():
    # Training at 48^3 with batch 2 needs tens of MB of activations; allow 1 MB beyond the set-up size.
    capped = request("training_memory", size=48, overrides={"width": 16}, memory_limit_mb=1)
    assert measure_in_subprocess(capped)["values"] == OOM


@pytest.mark.slow
def test_other_failures_are_raised():
    with pytest.raises(RuntimeError, match="a genuine bug"):
        measure_in_subprocess(request("inference_memory", model="bug"))


@pytest.mark.slow
def test_cli_writes_plausible_json_on_cpu(tmp_path, capsys):
    from segmamba.models import build_model, count_parameters

    out = tmp_path / "efficiency" / "segresnet_16.json"
    argv = ["efficiency", "--model", "segresnet", "--size", "16", "--out", str(out), "--in-channels", "2"]
    argv += ["--out-channels", "3", "--model-overrides", '{"init_filters": 8}', "--repeats", "1", "--device", "cpu"]
    assert main([*argv, "--volume-size", "24", "16", "16"]) == 0
    record = json.loads(out.read_text())
    expected_params = count_parameters(build_model("segresnet", 2, 3, patch_size=(16, 16, 16), init_filters=8))
    assert record["model"] == "segresnet" and record["size"] == 16 and record["params"] == expected_params
    assert record["overrides"] == {"init_filters": 8}
    assert record["device"] == "cpu" and record["device_name"]
    assert record["torch_version"] == torch.__version__ and record["repeats"] == 1
    assert record["volume_size"] == [24, 16, 16] and record["amp"] is False
    assert record["sequence_length"] == 8**3 and record["variant"] is None
    assert record["scan_backend"] is None  # SegResNet has no Mamba scan
    assert record["training_memory_reserved"] is None and record["inference_memory_reserved"] is None
    for quantity, unit in (("training_memory", "MB"), ("inference_memory", "MB"), ("inference_throughput", "cases/s")):
        assert record[quantity]["unit"] == unit
        assert len(record[quantity]["values"]) == 1
        assert record[quantity]["median"] == record[quantity]["values"][0]
    # Peak RSS of a process that imported torch: hundreds of MB, far below the machine's memory.
    assert 50 < record["inference_memory"]["median"] < 8000
    assert 50 < record["training_memory"]["median"] < 8000
    assert 0 < record["inference_throughput"]["median"] < 1e5
    printed = capsys.readouterr().out
    assert "training_memory" in printed and "scan backend: none" in printed


def test_record_marks_only_the_failed_quantity_as_oom(monkeypatch):
    from segmamba.efficiency import runner

    def fake_subprocess(req):
        if req.quantity == "training_memory":
            return {"values": OOM, "reserved": OOM, "scan_backends": ["triton"]}
        return {"values": [12.5, 13.5][: req.repeats], "reserved": None, "scan_backends": []}

    monkeypatch.setattr(runner, "measure_in_subprocess", fake_subprocess)
    record = runner.measure_efficiency("tiny", 16, torch.device("cpu"), in_channels=2, repeats=2, factory=FACTORY)
    assert record["training_memory"] == {"median": OOM, "values": [OOM, OOM], "unit": "MB"}
    assert record["inference_memory"] == {"median": 12.5, "values": [12.5, 12.5], "unit": "MB"}
    assert record["inference_throughput"] == {"median": 13.0, "values": [12.5, 13.5], "unit": "cases/s"}
    assert record["scan_backend"] == "triton"  # the backend that ran before the out-of-memory failure counts
    assert record["params"] == (2 * 4 * 27 + 4) + (4 * 4 + 4)
    assert record["volume_size"] == [16, 16, 16]
    json.dumps(record)  # serialisable


def test_record_has_reserved_memory_on_cuda(monkeypatch):
    from segmamba.efficiency import runner

    def fake_subprocess(req):
        if req.quantity == "inference_throughput":
            return {"values": [2.0], "scan_backends": ["mamba_ssm"]}
        if req.quantity == "training_memory":
            return {"values": OOM, "reserved": OOM, "scan_backends": ["mamba_ssm"]}
        return {"values": [100.0], "reserved": [128.0], "scan_backends": ["mamba_ssm"]}

    monkeypatch.setattr(runner, "measure_in_subprocess", fake_subprocess)
    monkeypatch.setattr(runner, "device_description", lambda device: "a GPU")
    record = runner.measure_efficiency(
        "tiny", 32, torch.device("cuda"), in_channels=2, repeats=1, factory=FACTORY, variant="fused attention"
    )
    assert record["inference_memory"] == {"median": 100.0, "values": [100.0], "unit": "MB"}
    assert record["inference_memory_reserved"] == {"median": 128.0, "values": [128.0], "unit": "MB"}
    assert record["training_memory_reserved"] == {"median": OOM, "values": [OOM], "unit": "MB"}
    assert record["variant"] == "fused attention" and record["sequence_length"] == 4096
    assert record["scan_backend"] == "mamba_ssm"


@pytest.mark.slow
def test_measuring_process_reports_the_scan_backend_that_ran(monkeypatch):
    monkeypatch.setenv("SEGMAMBA_SCAN_BACKEND", "torch")  # inherited by the measuring process
    result = measure_in_subprocess(request("inference_memory", model="scanning", size=8, volume_size=(8, 8, 8)))
    assert result["scan_backends"] == ["torch"] and result["values"][0] > 0
    assert measure_in_subprocess(request("inference_memory", size=8))["scan_backends"] == []  # no scan in "tiny"
