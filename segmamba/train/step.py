"""One optimisation step of the published recipe, as training and the efficiency measurement (TM) take it.

SGD (momentum, Nesterov, weight decay from the settings), poly learning-rate decay per iteration, the loss,
fp16 autocast with a gradient scaler on CUDA, gradient-norm clipping; plus the per-step seed that makes every
step a pure function of (seed, rank, iteration).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from segmamba.inference.sliding_window import autocast_context
from segmamba.train.losses import LossFn, cross_entropy
from segmamba.train.settings import TrainSettings


def poly_lr(initial_lr: float, iteration: int, total_iterations: int, exponent: float = 0.9) -> float:
    """Polynomial decay stepped per iteration: ``initial_lr * (1 - iteration / total) ** exponent``.

    Args:
        initial_lr: learning rate at iteration 0.
        iteration: 0-based index of the optimisation step about to be taken.
        total_iterations: number of steps of the whole run (epochs * iterations per epoch).
        exponent: decay exponent (0.9 in nnU-Net and SegMamba).
    """
    if total_iterations <= 0:
        raise ValueError(f"total_iterations must be positive, got {total_iterations}")
    progress = min(max(iteration, 0), total_iterations) / total_iterations
    return initial_lr * (1.0 - progress) ** exponent


def step_seed(seed: int, rank: int, iteration: int) -> int:
    """Seed of torch's RNG for one optimisation step (dropout etc.), a pure function of its arguments."""
    return int(np.random.SeedSequence([seed, rank, iteration]).generate_state(1, dtype=np.uint64)[0] >> 1)


def configure_determinism(device: torch.device) -> None:
    """Enforce deterministic algorithms on CPU (so resumed runs are bit-identical); CUDA keeps its fast paths."""
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


def memory_format_for(device: torch.device) -> torch.memory_format:
    """Memory format of the model and its input batches: ``channels_last_3d`` on CPU, where oneDNN's 3D
    convolutions take 3-29 % less CPU time per training step in it (``benchmarks/channels_last.py``);
    contiguous on CUDA (the fused scan and attention kernels expect it)."""
    return torch.channels_last_3d if device.type == "cpu" else torch.contiguous_format


def model_on(device: torch.device, model: nn.Module) -> nn.Module:
    """``model`` moved to ``device`` in the memory format of its training batches (:func:`memory_format_for`)."""
    return model.to(device, memory_format=memory_format_for(device))


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: dict[str, torch.Tensor],
    lr: float,
    grad_clip: float,
    amp: bool,
    loss_fn: LossFn = cross_entropy,
) -> float:
    """One SGD step: the loss (default CE over all classes), AMP on CUDA, unscale and clip the gradient norm, step.

    Args:
        model: the network (possibly wrapped in DistributedDataParallel, which averages gradients).
        optimizer: its optimizer; every group's learning rate is set to ``lr`` first.
        scaler: gradient scaler (disabled off CUDA or without AMP).
        batch: ``{"image": (B, C, *patch) float, "label": (B, 1, *patch) int}``; negative labels count as 0.
        lr: learning rate of this step.
        grad_clip: maximum global gradient norm.
        amp: use fp16 autocast on CUDA.
        loss_fn: ``loss_fn(float logits, labels (B, *patch)) -> scalar`` (see ``segmamba.train.losses``).

    Returns:
        The loss of this process's batch.
    """
    device = next(model.parameters()).device
    for group in optimizer.param_groups:
        group["lr"] = lr
    image = batch["image"].to(device, non_blocking=True, memory_format=memory_format_for(device)).float()
    label = batch["label"].to(device, non_blocking=True).long().clamp_min(0)[:, 0]
    optimizer.zero_grad(set_to_none=True)
    with autocast_context(device, amp):
        logits = model(image)
        loss = loss_fn(logits.float(), label)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def make_optimizer(model: nn.Module, config: TrainSettings) -> torch.optim.SGD:
    """SGD over all parameters with the configured momentum, Nesterov flag and weight decay."""
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
