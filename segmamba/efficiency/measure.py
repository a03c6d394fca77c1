"""The three efficiency measurements, each meant to run alone in a fresh process (see ``runner``).

- ``training_memory``: peak memory of training steps at batch 2 (SGD with Nesterov momentum as in the
  recipe, cross-entropy, AMP fp16 with a gradient scaler and clipping at 12 on CUDA). Two steps run so that
  the optimiser's momentum buffers exist during the second, i.e. the steady state is covered.
- ``inference_memory``: peak memory of one forward pass on one patch (batch 1, no gradients, AMP on CUDA).
- ``inference_throughput``: cases per second of MONAI sliding-window inference (roi = patch size, overlap
  0.5, Gaussian weighting) over one volume; a one-patch pass first as a warm-up, then ``repeats`` timed
  passes.

Memory is ``torch.cuda.max_memory_allocated`` on CUDA (after ``reset_peak_memory_stats``), with
``torch.cuda.max_memory_reserved`` (what the caching allocator held, closer to what nvidia-smi shows) beside
it, and the peak resident set size of the process (``ru_maxrss``) on CPU, all in MB (2**20 bytes).
"""

from __future__ import annotations

import importlib
import resource
import time
from dataclasses import dataclass, field

import torch
from monai.inferers import sliding_window_inference

MB = 2**20
TRAINING_BATCH_SIZE = 2
TRAINING_STEPS = 2
SLIDING_WINDOW_OVERLAP = 0.5
DEFAULT_FACTORY = "segmamba.models:build_model"
QUANTITIES = ("training_memory", "inference_memory", "inference_throughput")


@dataclass(frozen=True)
class MeasurementRequest:
    """Everything a fresh process needs to build the model and measure one quantity.

    Attributes:
        quantity: one of ``QUANTITIES``.
        model: model name passed to the factory.
        size: patch edge length S (patch S x S x S).
        volume_size: volume of the throughput measurement (3 axes).
        factory: ``"module:function"`` building the model as ``f(model, in_channels, out_channels,
            patch_size=(S, S, S), **overrides)``.
        memory_limit_mb: CPU only: cap the process address space at its size after set-up plus this many MB
            (simulates a smaller machine; allocations beyond it fail as out-of-memory).
    """

    quantity: str
    model: str
    size: int
    in_channels: int = 4
    out_channels: int = 4
    overrides: dict = field(default_factory=dict)
    device: str = "cpu"
    volume_size: tuple[int, int, int] = (128, 128, 128)
    repeats: int = 1
    sw_batch_size: int = 1
    factory: str = DEFAULT_FACTORY
    memory_limit_mb: float | None = None


def load_factory(spec: str):
    """Import ``"module:function"`` and return the function."""
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_requested_model(request: MeasurementRequest) -> torch.nn.Module:
    """Build the requested model with its factory (on the CPU)."""
    patch = (request.size,) * 3
    factory = load_factory(request.factory)
    return factory(request.model, request.in_channels, request.out_channels, patch_size=patch, **request.overrides)


def cap_address_space(extra_mb: float) -> None:
    """Limit this process's virtual memory to its current size plus ``extra_mb`` (Linux only)."""
    with open("/proc/self/statm") as handle:
        current_bytes = int(handle.read().split()[0]) * resource.getpagesize()
    limit = int(current_bytes + extra_mb * MB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def lift_address_space_cap() -> None:
    """Undo :func:`cap_address_space` (raise the soft limit to the hard one), e.g. to report a failure."""
    resource.setrlimit(resource.RLIMIT_AS, (resource.getrlimit(resource.RLIMIT_AS)[1],) * 2)


def start_peak_tracking(device: torch.device) -> None:
    """Reset the CUDA peak statistics (the CPU peak RSS cannot be reset: use a fresh process)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak allocated CUDA memory, or peak RSS of this process on CPU, in MB."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def peak_memory(device: torch.device) -> dict:
    """``{"values": [peak memory], "reserved": [peak reserved CUDA memory] or None on CPU}``, in MB."""
    allocated = peak_memory_mb(device)
    reserved = [torch.cuda.max_memory_reserved(device) / MB] if device.type == "cuda" else None
    return {"values": [allocated], "reserved": reserved}


class TrainingStep:
    """One training step exactly as ``segmamba train`` takes it (:func:`segmamba.train.step.train_step` with the
    recipe's optimiser from :func:`segmamba.train.step.make_optimizer`: SGD, Nesterov momentum, weight decay,
    cross-entropy, gradient clipping, fp16 AMP with a gradient scaler on CUDA when ``amp``) on a fixed random
    batch."""

    def __init__(self, model: torch.nn.Module, in_channels: int, out_channels: int, size: int, device, amp: bool):
        from segmamba.train.settings import TrainSettings
        from segmamba.train.step import make_optimizer

        self.recipe = TrainSettings(preprocessed="", split="", model="", out="")
        self.model, self.amp = model.train(), amp
        self.optimizer = make_optimizer(model, self.recipe)
        self.scaler = torch.amp.GradScaler(torch.device(device).type, enabled=amp)
        self.batch = {
            "image": torch.randn((TRAINING_BATCH_SIZE, in_channels, *(size,) * 3), device=device),
            "label": torch.randint(0, out_channels, (TRAINING_BATCH_SIZE, 1, *(size,) * 3), device=device),
        }

    def __call__(self) -> float:
        """Run the step; returns the loss."""
        from segmamba.train.step import train_step

        return train_step(
            self.model, self.optimizer, self.scaler, self.batch, self.recipe.lr, self.recipe.grad_clip, self.amp
        )


def training_memory(model: torch.nn.Module, request: MeasurementRequest, device: torch.device) -> dict:
    """Peak memory (MB, see ``peak_memory``) of ``TRAINING_STEPS`` training steps at batch 2."""
    step = TrainingStep(model, request.in_channels, request.out_channels, request.size, device, device.type == "cuda")
    start_peak_tracking(device)
    for _ in range(TRAINING_STEPS):
        step()
    return peak_memory(device)


def inference_memory(model: torch.nn.Module, request: MeasurementRequest, device: torch.device) -> dict:
    """Peak memory (MB, see ``peak_memory``) of one forward pass on one patch without gradients."""
    model.eval()
    image = torch.randn((1, request.in_channels, *(request.size,) * 3), device=device)
    start_peak_tracking(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        model(image)
    return peak_memory(device)


def inference_throughput(model: torch.nn.Module, request: MeasurementRequest, device: torch.device) -> dict:
    """``{"values": cases per second of sliding-window inference over one volume, once per repeat}``."""
    model.eval()
    roi = (request.size,) * 3
    volume = torch.randn((1, request.in_channels, *request.volume_size), device=device)
    rates = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        sliding_window(torch.randn((1, request.in_channels, *roi), device=device), model, request)  # warm-up
        for _ in range(request.repeats):
            synchronize(device)
            start = time.perf_counter()
            sliding_window(volume, model, request)
            synchronize(device)
            rates.append(1.0 / (time.perf_counter() - start))
    return {"values": rates}


def sliding_window(volume: torch.Tensor, model: torch.nn.Module, request: MeasurementRequest) -> torch.Tensor:
    """MONAI sliding-window inference with roi = patch size, overlap 0.5 and Gaussian weighting."""
    roi = (request.size,) * 3
    return sliding_window_inference(
        volume, roi, request.sw_batch_size, model, overlap=SLIDING_WINDOW_OVERLAP, mode="gaussian"
    )


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


MEASUREMENTS = {
    "training_memory": training_memory,
    "inference_memory": inference_memory,
    "inference_throughput": inference_throughput,
}


def run_measurement(request: MeasurementRequest) -> dict:
    """Build the model on the requested device and measure ``request.quantity``.

    Returns ``{"values": [...]}``, for the memory quantities with ``"reserved"`` ([...], None on CPU).
    """
    device = torch.device(request.device)
    model = build_requested_model(request).to(device)
    if request.memory_limit_mb is not None:
        cap_address_space(request.memory_limit_mb)
    return MEASUREMENTS[request.quantity](model, request, device)
