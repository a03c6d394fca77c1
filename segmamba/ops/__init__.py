"""Selective scan and causal conv1d ops (mamba-ssm semantics) with automatic backend selection.

Backends of ``selective_scan``:

- ``cuda``: mamba-ssm's fused ``selective_scan_fn`` (CUDA tensors, mamba-ssm importable);
- ``triton``: Triton kernels (``scan_triton``, kernels in ``scan_triton_kernels``), no compilation step: CUDA
  tensors, or CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``, slow, for tests);
- ``torch``: chunked, memory-lean scan in plain torch (``scan_torch_chunked``), any device;
- ``cpu``: fused numba kernels with a hand-written backward (``scan_numba``, kernels in ``scan_numba_kernels``),
  CPU tensors;
- ``reference``: the sequential definition (``scan_reference``), for tests.

Automatic choice: CUDA tensors -> ``cuda`` if mamba-ssm imports, else ``triton`` if Triton runs, else
``torch`` (each fallback with one warning); CPU tensors -> ``cpu`` (``torch`` if numba is missing); other
devices -> ``torch``. The environment variable ``SEGMAMBA_SCAN_BACKEND=reference|cpu|torch|triton|cuda``
forces a backend (``auto`` or empty: automatic); a forced backend that cannot run raises RuntimeError.

Every backend that ran in this process is recorded: ``scan_backends_run()`` lists them and
``scan_backend_label()`` gives the string that train, predict and efficiency write into their outputs.

``causal_conv1d`` follows the same variable: ``cuda`` -> causal-conv1d's ``causal_conv1d_fn``,
``reference`` -> ``causal_conv1d_ref``, ``cpu``/``torch``/``triton`` -> a grouped ``F.conv1d``; automatic: the
causal-conv1d kernel for CUDA tensors when importable, else ``F.conv1d``.

mamba-ssm and causal-conv1d are imported lazily, at the first call on CUDA tensors, never at import time.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings

import torch

from segmamba.ops.causal_conv1d import causal_conv1d_ref, causal_conv1d_torch
from segmamba.ops.scan_reference import selective_scan_ref
from segmamba.ops.scan_torch_chunked import selective_scan_torch
from segmamba.ops.scan_triton import selective_scan_triton, triton_problem

BACKENDS = ("reference", "cpu", "torch", "triton", "cuda")
BACKEND_ENV_VAR = "SEGMAMBA_SCAN_BACKEND"
CUDA_INSTALL_HINT = "pip install 'segmamba-bench[cuda]' (mamba-ssm and causal-conv1d) on a machine with CUDA"


def _import_attribute(module: str, name: str):
    """``module.name`` if the module imports cleanly, else None (any import-time failure counts)."""
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - broken CUDA wheels raise ImportError, OSError or RuntimeError
        return None


@functools.cache
def cuda_selective_scan_fn():
    """mamba-ssm's fused ``selective_scan_fn``, or None when mamba-ssm cannot be imported."""
    return _import_attribute("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn")


@functools.cache
def cuda_causal_conv1d_fn():
    """causal-conv1d's fused ``causal_conv1d_fn``, or None when causal-conv1d cannot be imported."""
    return _import_attribute("causal_conv1d", "causal_conv1d_fn")


@functools.cache
def _cpu_kernels_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_BACKENDS_RUN: set[str] = set()


def available_backends() -> list[str]:
    """Scan backends usable in this process (``cuda`` needs mamba-ssm and a CUDA device, ``triton`` a CUDA
    device or ``TRITON_INTERPRET=1``)."""
    backends = ["reference", "torch"]
    if _cpu_kernels_available():
        backends.insert(1, "cpu")
    if triton_problem("cuda") is None or triton_problem("cpu") is None:
        backends.append("triton")
    if torch.cuda.is_available() and cuda_selective_scan_fn() is not None:
        backends.append("cuda")
    return backends


def scan_backends_run() -> frozenset[str]:
    """The scan backends that have run in this process (by ``selective_scan`` / ``selective_scan_with_backend``)."""
    return frozenset(_BACKENDS_RUN)


def scan_backend_label(backends=None) -> str | None:
    """``backends`` (default: ``scan_backends_run()``) as one string, e.g. ``"triton"`` or ``"cpu+torch"``;
    None when no scan ran (a model without a Mamba layer)."""
    backends = scan_backends_run() if backends is None else backends
    return "+".join(sorted(backends)) or None


def requested_backend() -> str | None:
    """The backend forced by ``SEGMAMBA_SCAN_BACKEND`` (None for automatic); ValueError if unknown."""
    value = os.environ.get(BACKEND_ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV_VAR}={value!r} is not one of {', '.join(BACKENDS)} or auto")
    return value


@functools.cache
def _warn_cuda_fallback(backend: str) -> None:
    """Warn once per process that CUDA scans do not use mamba-ssm's kernels."""
    if backend == "triton":
        detail = "uses the Triton kernels (scan backend 'triton')"
    else:
        detail = f"uses the slower pure-torch path (scan backend 'torch'; Triton: {triton_problem('cuda')})"
    warnings.warn(
        f"mamba-ssm is not importable: the selective scan on CUDA {detail}. For mamba-ssm's kernels: "
        f"{CUDA_INSTALL_HINT}",
        RuntimeWarning,
        stacklevel=4,
    )


def choose_scan_backend(device_type: str, requested: str | None = None) -> str:
    """Backend for a scan on ``device_type`` ("cpu", "cuda", ...); ``requested`` forces one (checked)."""
    if requested is None:
        if device_type == "cuda":
            if cuda_selective_scan_fn() is not None:
                return "cuda"
            fallback = "triton" if triton_problem("cuda") is None else "torch"
            _warn_cuda_fallback(fallback)
            return fallback
        if device_type == "cpu" and _cpu_kernels_available():
            return "cpu"
        return "torch"
    if requested not in BACKENDS:
        raise ValueError(f"unknown scan backend {requested!r}; expected one of {', '.join(BACKENDS)}")
    if requested == "cuda" and (device_type != "cuda" or cuda_selective_scan_fn() is None):
        raise RuntimeError(
            f"scan backend 'cuda' needs CUDA tensors and mamba-ssm (tensors on {device_type!r}, mamba-ssm "
            f"{'importable' if cuda_selective_scan_fn() is not None else 'not importable'}): {CUDA_INSTALL_HINT}"
        )
    if requested == "cpu" and (device_type != "cpu" or not _cpu_kernels_available()):
        raise RuntimeError(f"scan backend 'cpu' needs CPU tensors and numba (tensors on {device_type!r})")
    if requested == "triton" and triton_problem(device_type) is not None:
        raise RuntimeError(f"scan backend 'triton' cannot run: {triton_problem(device_type)}")
    return requested


def _scan_function(backend: str):
    if backend == "cuda":
        return cuda_selective_scan_fn()
    if backend == "cpu":
        from segmamba.ops.scan_numba import selective_scan_cpu  # numba import deferred

        return selective_scan_cpu
    return {"torch": selective_scan_torch, "triton": selective_scan_triton, "reference": selective_scan_ref}[backend]


def selective_scan_with_backend(
    backend: str, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False
):
    """``selective_scan`` on an explicitly chosen backend (one of ``BACKENDS``, checked against the device)."""
    backend = choose_scan_backend(u.device.type, backend)
    scan = _scan_function(backend)
    _BACKENDS_RUN.add(backend)
    return scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def selective_scan(
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
    """Selective scan with mamba-ssm ``selective_scan_fn`` semantics on the best available backend.

    Args:
        u: input, (batch, dim, L).
        delta: step sizes before bias/softplus, (batch, dim, L).
        A: state matrix (diagonal per channel), (dim, N); kept in float32.
        B, C: input and output projections, (batch, N, L).
        D: skip weight, (dim,); default None (no skip).
        z: gate, (batch, dim, L); the output is multiplied by silu(z). Default None.
        delta_bias: added to delta, (dim,). Default None.
        delta_softplus: apply softplus to delta + delta_bias. Default False.
        return_last_state: also return the final state (batch, dim, N). Default False.

    Returns:
        y (batch, dim, L) in u's dtype (computed in float32 even under autocast), and the last state
        when ``return_last_state``. Differentiable in every tensor argument.

    The backend follows ``SEGMAMBA_SCAN_BACKEND`` when set, else the device (see the module docstring); it is
    recorded in ``scan_backends_run()``.
    """
    backend = choose_scan_backend(u.device.type, requested_backend())
    scan = _scan_function(backend)
    _BACKENDS_RUN.add(backend)
    return scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def causal_conv1d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, activation: str | None = None
) -> torch.Tensor:
    """Causal depthwise conv1d with causal-conv1d ``causal_conv1d_fn`` semantics.

    Args:
        x: input, (batch, dim, L).
        weight: (dim, width); weight[:, -1] multiplies the current step.
        bias: (dim,); default None.
        activation: None or "silu" ("swish" is an alias). Default None.

    Returns:
        (batch, dim, L) in x's dtype; differentiable. Backend as described in the module docstring.
    """
    requested = requested_backend()
    if requested == "reference":
        return causal_conv1d_ref(x, weight, bias, activation)
    use_kernel = x.device.type == "cuda" and cuda_causal_conv1d_fn() is not None
    if requested == "cuda" and not use_kernel:
        raise RuntimeError(f"conv backend 'cuda' needs CUDA tensors and causal-conv1d: {CUDA_INSTALL_HINT}")
    if use_kernel and requested in (None, "cuda"):
        return cuda_causal_conv1d_fn()(x, weight, bias, activation=activation)
    return causal_conv1d_torch(x, weight, bias, activation)


__all__ = [
    "BACKENDS",
    "BACKEND_ENV_VAR",
    "available_backends",
    "causal_conv1d",
    "causal_conv1d_ref",
    "causal_conv1d_torch",
    "choose_scan_backend",
    "requested_backend",
    "scan_backend_label",
    "scan_backends_run",
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_torch",
    "selective_scan_triton",
    "selective_scan_with_backend",
]
