"""Learning-rate schedule of the published recipe."""

from __future__ import annotations


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
