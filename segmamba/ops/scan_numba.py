"""CPU fast path of the selective scan: fused numba kernels wrapped in a torch autograd Function.

The whole op (delta_bias, softplus, the recurrence, the D skip and the z gate) runs in the compiled
kernels of ``scan_numba_kernels``; backward recomputes the states chunk by chunk from checkpoints saved by the
forward. Everything is computed in float32 (float64 if any input is float64) and returned in u's dtype,
like mamba-ssm's ``selective_scan_fn``.

Threads: the kernels use numba's thread pool (``numba.set_num_threads``). Unless ``NUMBA_THREADING_LAYER``
is set, this module selects numba's ``workqueue`` layer: the OpenMP layer would share torch's libgomp,
whose idle threads spin after every parallel region, which costs milliseconds per call on a busy machine.
``workqueue`` does not support launching kernels from several Python threads at once; set
``NUMBA_THREADING_LAYER=omp`` (or ``tbb``) for that.
"""

from __future__ import annotations

import numba
import numba.np.ufunc.parallel as numba_parallel
import torch

from segmamba.ops import scan_numba_kernels
from segmamba.ops.scan_reference import scan_compute_dtype

CHUNK = 64


def _prefer_workqueue_threads() -> None:
    """Select numba's workqueue threading layer if none was configured and numba's threads are not started."""
    if str(numba.config.THREADING_LAYER).lower() == "default" and not numba_parallel._is_initialized:
        numba.config.THREADING_LAYER = "workqueue"


_prefer_workqueue_threads()


def _groups(batch: int, dim: int) -> int:
    """Channel groups per batch element: enough parallel jobs for numba's threads, at most one per channel."""
    per_batch = -(-numba.get_num_threads() // batch)
    return max(1, min(dim, per_batch))


def _np(t: torch.Tensor):
    """Contiguous numpy view of a CPU tensor (no copy when already contiguous)."""
    return t.detach().contiguous().numpy()


class SelectiveScanCPU(torch.autograd.Function):
    """Autograd Function over the fused scan; all tensor inputs are in one float dtype, on CPU."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        batch, dim, length = u.shape
        nstate = A.shape[1]
        groups = _groups(batch, dim)
        gated = z is not None
        z_arg = z if gated else u
        out = torch.empty_like(u)
        ckpt = u.new_empty((batch, -(-length // CHUNK), nstate, dim))
        last_state = u.new_empty((batch, dim, nstate))
        scan_numba_kernels.scan_forward_kernel(
            _np(u), _np(delta), _np(A), _np(B), _np(C), _np(D), _np(z_arg), _np(delta_bias),
            delta_softplus, gated, out.numpy(), ckpt.numpy(), last_state.numpy(), CHUNK, groups,
        )  # fmt: skip
        ctx.save_for_backward(u, delta, A, B, C, D, z_arg, delta_bias, ckpt)
        ctx.config = (delta_softplus, gated, groups)
        ctx.mark_non_differentiable(last_state)
        return out, last_state

    @staticmethod
    def backward(ctx, gout, _glast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        delta_softplus, gated, groups = ctx.config
        batch, dim, length = u.shape
        nstate = A.shape[1]
        gu = torch.empty_like(u)
        gdelta = torch.empty_like(u)
        gz = torch.empty_like(u) if gated else u.new_empty((0, 0, 0))
        gA = u.new_empty((batch, dim, nstate))
        gD = u.new_empty((batch, dim))
        gbias = u.new_empty((batch, dim))
        gB_part = u.new_empty((batch, groups, nstate, length))
        gC_part = u.new_empty((batch, groups, nstate, length))
        scan_numba_kernels.scan_backward_kernel(
            _np(u), _np(delta), _np(A), _np(B), _np(C), _np(D), _np(z), _np(delta_bias), delta_softplus, gated,
            _np(gout.to(u.dtype)), ckpt.numpy(), CHUNK, groups,
            gu.numpy(), gdelta.numpy(), gz.numpy(), gA.numpy(), gD.numpy(), gbias.numpy(),
            gB_part.numpy(), gC_part.numpy(),
        )  # fmt: skip
        return (
            gu, gdelta, gA.sum(0), gB_part.sum(1), gC_part.sum(1), gD.sum(0),
            gz if gated else None, gbias.sum(0), None,
        )  # fmt: skip


def selective_scan_cpu(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """Selective scan on CPU tensors with the fused numba kernels (same semantics as ``selective_scan_ref``).

    Shapes: u, delta, z: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,). Differentiable in
    every tensor argument. Inputs in float16/bfloat16 are upcast; the result has u's dtype and the last
    state (b, d, n) the compute dtype.
    """
    dtype = scan_compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    dim = u.shape[1]
    D_c = u.new_zeros(dim, dtype=dtype) if D is None else D.to(dtype)
    bias_c = u.new_zeros(dim, dtype=dtype) if delta_bias is None else delta_bias.to(dtype)
    z_c = None if z is None else z.to(dtype)
    out, last_state = SelectiveScanCPU.apply(
        u.to(dtype), delta.to(dtype), A.to(dtype), B.to(dtype), C.to(dtype), D_c, z_c, bias_c, bool(delta_softplus)
    )
    out = out.to(u.dtype)
    return (out, last_state) if return_last_state else out
