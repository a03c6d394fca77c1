"""Run each efficiency measurement in a fresh subprocess and assemble the JSON record.

A fresh process per measurement keeps the peaks separable (a CPU peak RSS cannot be reset) and lets an
out-of-memory failure, or the kernel's OOM killer, end that one measurement instead of the command. Such a
failure is recorded as ``"OOM"``; any other failure in the subprocess is re-raised here. Each subprocess also
reports the selective-scan backends that ran in it; the record names their union (``scan_backend``).

The processes are forked from multiprocessing's fork server, which imports the measurement code (torch
and MONAI) once per command and runs nothing else, so a measurement process starts with them
imported, as a spawned one would be after its imports, without paying them (4-7 s on a 2-core machine) in each
of its 3 to 11 processes. The server never initialises CUDA or torch's thread pools, so forking from it is safe.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import platform
import signal
import statistics
import traceback

import torch

from segmamba.efficiency.measure import (
    DEFAULT_FACTORY,
    QUANTITIES,
    SLIDING_WINDOW_OVERLAP,
    TRAINING_BATCH_SIZE,
    TRAINING_STEPS,
    MeasurementRequest,
    lift_address_space_cap,
    load_factory,
    run_measurement,
)
from segmamba.efficiency.settings import EfficiencySettings
from segmamba.ops import scan_backend_label, scan_backends_run

OOM = "OOM"
#: Modules the fork server imports before it forks the measurement processes.
PRELOADED_MODULES = ["segmamba.efficiency.measure"]
OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "alloc_failed")
UNITS = {"training_memory": "MB", "inference_memory": "MB", "inference_throughput": "cases/s"}


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception means the device or the host ran out of memory."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error).lower() for text in OOM_MESSAGES)


def _measure_in_child(request: MeasurementRequest, connection, environ: dict[str, str]) -> None:
    """Subprocess body: measure and send ``(kind, payload, scan backends that ran)``; kind "ok" with
    ``run_measurement``'s result, "oom" with the message or "error" with the traceback.

    ``environ`` is the parent's environment when it started the measurement: the fork server keeps the one it
    was started with, and settings such as ``SEGMAMBA_SCAN_BACKEND`` are read when the measurement runs.
    """
    os.environ.clear()
    os.environ.update(environ)
    try:
        result = run_measurement(request)
        connection.send(("ok", result, sorted(scan_backends_run())))
    except BaseException as error:  # report everything to the parent, which decides what is fatal
        if request.memory_limit_mb is not None:
            lift_address_space_cap()  # a capped process may lack the memory to report
        kind = "oom" if is_out_of_memory(error) else "error"
        connection.send((kind, str(error) if kind == "oom" else traceback.format_exc(), sorted(scan_backends_run())))
    finally:
        connection.close()


def measure_in_subprocess(request: MeasurementRequest) -> dict:
    """Run one measurement in a fresh process forked from the fork server (see the module docstring), or
    spawned when the request caps its memory.

    Returns ``run_measurement``'s result (``"values"``, and ``"reserved"`` for memory) with ``"scan_backends"``
    added; after an out-of-memory failure ``"values"`` and ``"reserved"`` are ``"OOM"``. Raises RuntimeError when
    the subprocess fails for another reason.
    """
    if request.memory_limit_mb is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOADED_MODULES)
    else:  # as before the fork server: forked from it, about 1 run in 10 of a 1 MB cap failed in the lazy import
        # of torch._dynamo (SystemError/MemoryError, not an OOM report); spawned, none in 10
        context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measure_in_child, args=(request, sender, dict(os.environ)), daemon=True)
    process.start()
    sender.close()
    try:
        kind, payload, backends = receiver.recv()
    except EOFError:  # the process died without reporting (e.g. killed by the kernel's OOM killer)
        kind, payload, backends = None, None, []
    finally:
        receiver.close()
        process.join()
    if kind == "ok":
        return {**payload, "scan_backends": backends}
    if kind == "oom" or (kind is None and process.exitcode == -signal.SIGKILL):
        return {"values": OOM, "reserved": OOM, "scan_backends": backends}
    if kind == "error":
        raise RuntimeError(f"efficiency measurement {request.quantity} of {request.model} failed:\n{payload}")
    raise RuntimeError(f"efficiency measurement {request.quantity} of {request.model} died (exit {process.exitcode})")


def summarise_quantity(values: list) -> dict:
    """Median of the raw values, or ``"OOM"`` if any measurement ran out of memory."""
    numbers = [v for v in values if v != OOM]
    median = OOM if len(numbers) < len(values) else statistics.median(numbers)
    return {"median": median, "values": values}


def stage1_sequence_length(size: int) -> int:
    """Tokens of the longest sequence a Mamba layer scans at input S x S x S: SegMamba's stem has stride 2, so
    stage 1 holds ceil(S / 2)^3 tokens (4,096 at 32^3, 262,144 at 128^3), the paper's "sequence length"."""
    return math.ceil(size / 2) ** 3


def device_description(device: torch.device) -> str:
    """Human-readable name of the device (GPU model or CPU model)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_efficiency(
    model: str,
    size: int,
    device: torch.device,
    in_channels: int = 4,
    out_channels: int = 4,
    overrides: dict | None = None,
    repeats: int = EfficiencySettings.repeats,
    volume_size: tuple[int, int, int] | None = None,
    sw_batch_size: int = EfficiencySettings.sw_batch_size,
    factory: str = DEFAULT_FACTORY,
    memory_limit_mb: float | None = None,
    variant: str | None = None,
) -> dict:
    """Measure TM, IM and IT of one model at patch size ``size`` and return the JSON record.

    Memory quantities run ``repeats`` fresh processes each; throughput runs one process with ``repeats``
    timed passes. ``volume_size`` defaults to one patch (S, S, S). ``variant`` names a measured variant of the
    model (e.g. "fused attention"), recorded as is; None for the model as configured.

    Besides the medians and raw values the record holds ``training_memory_reserved`` and
    ``inference_memory_reserved`` (same structure; None on CPU, which has no reserved figure),
    ``sequence_length`` (see ``stage1_sequence_length``) and ``scan_backend`` (the selective-scan backends that
    ran, e.g. "triton"; None for a model without a Mamba scan).
    """
    overrides = dict(overrides or {})
    volume_size = tuple(volume_size or (size,) * 3)
    network = load_factory(factory)(model, in_channels, out_channels, patch_size=(size,) * 3, **overrides)
    params = sum(p.numel() for p in network.parameters())
    del network
    base = MeasurementRequest(
        quantity=QUANTITIES[0],
        model=model,
        size=size,
        in_channels=in_channels,
        out_channels=out_channels,
        overrides=overrides,
        device=str(device),
        volume_size=volume_size,
        repeats=repeats,
        sw_batch_size=sw_batch_size,
        factory=factory,
        memory_limit_mb=memory_limit_mb,
    )
    results, backends = {}, set()
    for quantity in QUANTITIES:
        request = dataclasses.replace(base, quantity=quantity)
        runs = [measure_in_subprocess(request) for _ in range(1 if quantity == "inference_throughput" else repeats)]
        backends.update(name for run in runs for name in run["scan_backends"])
        if quantity == "inference_throughput":
            values = [OOM] if runs[0]["values"] == OOM else runs[0]["values"]
        else:
            values = [OOM if run["values"] == OOM else run["values"][0] for run in runs]
            results[f"{quantity}_reserved"] = None  # CPU: no reserved figure
            if device.type == "cuda":
                reserved = [OOM if run["reserved"] == OOM else run["reserved"][0] for run in runs]
                results[f"{quantity}_reserved"] = {**summarise_quantity(reserved), "unit": UNITS[quantity]}
        results[quantity] = {**summarise_quantity(values), "unit": UNITS[quantity]}
    return {
        "model": model,
        "size": size,
        "patch_size": [size] * 3,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "overrides": overrides,
        "params": params,
        "device": device.type,
        "device_name": device_description(device),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "amp": device.type == "cuda",
        "repeats": repeats,
        "training_batch_size": TRAINING_BATCH_SIZE,
        "training_steps": TRAINING_STEPS,
        "volume_size": list(volume_size),
        "sw_batch_size": sw_batch_size,
        "overlap": SLIDING_WINDOW_OVERLAP,
        "memory_measure": "torch.cuda.max_memory_allocated" if device.type == "cuda" else "peak RSS (ru_maxrss)",
        "memory_reserved_measure": "torch.cuda.max_memory_reserved" if device.type == "cuda" else None,
        "memory_limit_mb": memory_limit_mb,
        "variant": variant,
        "sequence_length": stage1_sequence_length(size),
        "scan_backend": scan_backend_label(backends),
        **{quantity: results[quantity] for quantity in QUANTITIES},
        "training_memory_reserved": results["training_memory_reserved"],
        "inference_memory_reserved": results["inference_memory_reserved"],
    }
