"""Triton selective scan (mamba-ssm ``selective_scan_fn`` semantics) for CUDA GPUs, no compilation step needed.

The kernels (``scan_triton_kernels``) are chunked over L with the state carried from chunk to chunk; the
forward saves the state before every chunk, and the backward recomputes each chunk from it. Memory is
O(batch * dim * L) like mamba-ssm's kernel (plus (batch, dim, L / chunk, N) checkpoints); no (batch, dim,
L, N) tensor exists. Inputs may be float32, float16 or bfloat16 (mixed, as under autocast); everything is
computed in float32; A, D and delta_bias are used in float32.

Triton ships with the CUDA builds of torch. CUDA tensors run compiled kernels. CPU tensors run under
Triton's interpreter, which is slow (for tests and debugging) and which Triton switches on for the whole
process when ``TRITON_INTERPRET=1`` is set before triton is first imported; in that mode CUDA tensors are
interpreted too.
"""

from __future__ import annotations

import functools
import os

import torch

CHUNK_COMPILED = 128
"""Time steps per chunk of the compiled kernels (one (N, chunk) tile per program and chunk)."""
CHUNK_INTERPRETED = 16
"""Time steps per chunk under the interpreter, whose scan costs ~0.2 ms per tile element."""
NUM_WARPS = 8
"""Warps per program: with (16, 128) tiles the backward needs 248 registers per thread on sm_90 and does not
spill (with 4 warps it spills); checked by compiling for sm_90 in tests/ops/test_ops_triton.py."""
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def interpreter_requested() -> bool:
    """Whether ``TRITON_INTERPRET=1`` is set (Triton's own switch for its interpreter)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def interpreter_active() -> bool:
    """Whether triton runs in interpreter mode in this process (``TRITON_INTERPRET=1`` at its first import).

    The mode is fixed then: ``triton.language``'s own helper functions are built for one mode only.
    """
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(getattr(tl.standard, "zeros", None), InterpretedFunction)


@functools.cache
def _import_problem() -> str | None:
    """Why triton cannot be used at all (not importable, too old), or None."""
    try:
        import triton
        import triton.language as tl
    except Exception as exc:  # noqa: BLE001 - a broken install may raise anything
        return f"triton is not importable ({type(exc).__name__}: {exc})"
    if int(triton.__version__.split(".")[0]) < 3 or not hasattr(tl, "associative_scan"):
        return f"triton {triton.__version__} is too old (the scan needs triton >= 3.0)"
    return None


def triton_problem(device_type: str) -> str | None:
    """Why the Triton scan cannot run on ``device_type`` tensors in this process, or None when it can."""
    if _import_problem() is not None:
        return _import_problem()
    if device_type == "cuda":
        return None if torch.cuda.is_available() else "CUDA is not available"
    if device_type == "cpu":
        if not interpreter_requested():
            return "CPU tensors need Triton's interpreter: set TRITON_INTERPRET=1"
        if not interpreter_active():
            return "TRITON_INTERPRET=1 was set after triton had been imported in this process: set it before it starts"
        return None
    return f"tensors on {device_type!r} (the Triton scan runs on CUDA, or on CPU under TRITON_INTERPRET=1)"


@functools.cache
def _kernels():
    """(forward, backward) kernels, compiled by ``triton.jit`` or wrapped for Triton's interpreter."""
    import triton
    from triton.runtime.interpreter import InterpretedFunction

    from segmamba.ops import scan_triton_kernels as source

    wrap = InterpretedFunction if interpreter_active() else triton.jit
    return wrap(source.scan_forward), wrap(source.scan_backward)


def _chunk_length() -> int:
    return CHUNK_INTERPRETED if interpreter_active() else CHUNK_COMPILED


def _unit_stride(t: torch.Tensor | None) -> torch.Tensor | None:
    """``t`` with stride 1 along L (copied only when needed, as mamba-ssm does)."""
    return t if t is None or t.stride(-1) == 1 else t.contiguous()


def _block_n(dstate: int) -> int:
    return max(2, 1 << (dstate - 1).bit_length())


class SelectiveScanTriton(torch.autograd.Function):
    """Autograd Function over the Triton kernels; returns (out, last_state), both differentiable."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        batch, dim, length = u.shape
        dstate = A.shape[1]
        chunk = _chunk_length()
        n_chunks = -(-length // chunk)
        block_n = _block_n(dstate)
        forward_kernel, _ = _kernels()
        out = torch.empty((batch, dim, length), dtype=u.dtype, device=u.device)
        ckpt = torch.empty((batch * dim, n_chunks, block_n), dtype=torch.float32, device=u.device)
        last_state = torch.empty((batch, dim, dstate), dtype=torch.float32, device=u.device)
        zs = (z.stride(0), z.stride(1)) if z is not None else (0, 0)
        forward_kernel[(batch * dim,)](
            u, delta, A, B, C, D if D is not None else A, z if z is not None else u,
            delta_bias if delta_bias is not None else A, out, ckpt, last_state,
            dim, length, dstate, n_chunks,
            u.stride(0), u.stride(1), delta.stride(0), delta.stride(1), B.stride(0), B.stride(1),
            C.stride(0), C.stride(1), *zs, out.stride(0), out.stride(1),
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=bool(delta_softplus), BLOCK_N=block_n, BLOCK_L=chunk, num_warps=NUM_WARPS,
        )  # fmt: skip
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        ctx.delta_softplus = bool(delta_softplus)
        return out, last_state

    @staticmethod
    def backward(ctx, gout, glast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        batch, dim, length = u.shape
        dstate = A.shape[1]
        chunk = _chunk_length()
        n_chunks, block_n = ckpt.shape[1], ckpt.shape[2]
        _, backward_kernel = _kernels()
        if gout is None:
            gout = torch.zeros_like(u)
        gout = _unit_stride(gout)
        glast = None if glast is None else glast.contiguous()
        f32 = {"dtype": torch.float32, "device": u.device}
        du = torch.empty((batch, dim, length), dtype=u.dtype, device=u.device)
        ddelta = torch.empty((batch, dim, length), dtype=delta.dtype, device=u.device)
        dz = torch.empty((batch, dim, length), dtype=z.dtype, device=u.device) if z is not None else None
        dA = torch.empty((batch, dim, block_n), **f32)
        dD = torch.empty((batch, dim), **f32)
        dbias = torch.empty((batch, dim), **f32)
        dB = torch.zeros((batch, dstate, length), **f32)
        dC = torch.zeros((batch, dstate, length), **f32)
        zs = (z.stride(0), z.stride(1)) if z is not None else (0, 0)
        backward_kernel[(batch * dim,)](
            u, delta, A, B, C, D if D is not None else A, z if z is not None else u,
            delta_bias if delta_bias is not None else A, gout, glast if glast is not None else ckpt, ckpt,
            du, ddelta, dz if dz is not None else du, dA, dD, dbias, dB, dC,
            dim, length, dstate, n_chunks,
            u.stride(0), u.stride(1), delta.stride(0), delta.stride(1), B.stride(0), B.stride(1),
            C.stride(0), C.stride(1), *zs, gout.stride(0), gout.stride(1),
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=ctx.delta_softplus, HAS_GLAST=glast is not None, BLOCK_N=block_n, BLOCK_L=chunk,
            num_warps=NUM_WARPS,
        )  # fmt: skip
        return (
            du,
            ddelta,
            dA.sum(0)[:, :dstate].to(A.dtype),
            dB.to(B.dtype),
            dC.to(C.dtype),
            dD.sum(0).to(D.dtype) if D is not None else None,
            dz,
            dbias.sum(0).to(delta_bias.dtype) if delta_bias is not None else None,
            None,
        )


def _check_inputs(u, delta, A, B, C, D, z, delta_bias) -> None:
    batch, dim, length = u.shape
    dstate = A.shape[-1]
    expected = {
        "delta": (delta, (batch, dim, length)),
        "A": (A, (dim, dstate)),
        "B": (B, (batch, dstate, length)),
        "C": (C, (batch, dstate, length)),
        "D": (D, (dim,)),
        "z": (z, (batch, dim, length)),
        "delta_bias": (delta_bias, (dim,)),
    }
    for name, (tensor, shape) in expected.items():
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"selective_scan (triton): {name} has shape {tuple(tensor.shape)}, expected {shape}")
    for name, tensor in {"u": u, **{k: v[0] for k, v in expected.items()}}.items():
        if tensor is not None and tensor.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"selective_scan (triton): {name} is {tensor.dtype}; supported: float32, float16, bfloat16")
        if tensor is not None and tensor.device != u.device:
            raise ValueError(f"selective_scan (triton): {name} is on {tensor.device}, u on {u.device}")


def selective_scan_triton(
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
    """Selective scan with the Triton kernels (same semantics as ``selective_scan_ref``).

    Shapes: u, delta, z: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,). Differentiable in
    every tensor argument (the last state too). The result has u's dtype; the last state (b, d, n) is
    float32. Computed in float32 with A, D and delta_bias in float32, also under autocast.

    Raises:
        RuntimeError: Triton cannot run on these tensors (see ``triton_problem``).
        ValueError, TypeError: mismatched shapes or devices, or float64 inputs.
    """
    problem = triton_problem(u.device.type)
    if problem is not None:
        raise RuntimeError(f"scan backend 'triton' cannot run: {problem}")
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if u.shape[-1] == 0:
        out = u.new_zeros(u.shape)
        last = torch.zeros((*u.shape[:2], A.shape[-1]), dtype=torch.float32, device=u.device)
        return (out, last) if return_last_state else out
    with torch.autocast(device_type=u.device.type, enabled=False):
        out, last_state = SelectiveScanTriton.apply(
            _unit_stride(u), _unit_stride(delta), A.float().contiguous(), _unit_stride(B), _unit_stride(C),
            None if D is None else D.float().contiguous(), _unit_stride(z),
            None if delta_bias is None else delta_bias.float().contiguous(), bool(delta_softplus),
        )  # fmt: skip
    return (out, last_state) if return_last_state else out
