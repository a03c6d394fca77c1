"""Process-group setup for DDP under torchrun (or ``segmamba train --nproc N``) and small collectives."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger("segmamba.train")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job: ``rank`` of ``world_size``; ``local_rank`` picks the GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and logs (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when running with more than one process."""
        return self.world_size > 1


def context_from_env() -> DistContext:
    """Read RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun (defaults: a single process)."""
    return DistContext(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """Join the process group (nccl on CUDA, gloo on CPU) when running with several processes."""
    if ctx.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
        logger.info("rank %d/%d joined the %s process group (pid %d)", ctx.rank, ctx.world_size, backend, os.getpid())


def shutdown(ctx: DistContext) -> None:
    """Leave the process group if this process joined one."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for all processes (no-op for a single process)."""
    if ctx.enabled:
        dist.barrier()


def sum_across(ctx: DistContext, values: list[float], device: torch.device) -> list[float]:
    """Sum a short list of floats over all processes (identity for a single process)."""
    if not ctx.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def any_across(ctx: DistContext, flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is set on any process."""
    return sum_across(ctx, [1.0 if flag else 0.0], device)[0] > 0
