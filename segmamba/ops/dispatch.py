"""Which implementation runs the selective scan and the causal conv1d, and which ones ran in this process.

Scan backends, each named after its implementation:

- ``mamba_ssm``: mamba-ssm's fused CUDA ``selective_scan_fn`` (CUDA tensors, mamba-ssm importable);
- ``triton``: Triton kernels (``scan_triton``, kernels in ``scan_triton_kernels``), no compilation step: CUDA
  tensors, or CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``, slow, for tests);
- ``torch``: chunked, memory-lean scan in plain torch (``scan_torch_chunked``), any device;
- ``numba``: fused numba kernels with a hand-written backward (``scan_numba``, kernels in ``scan_numba_kernels``),
  CPU tensors;
- ``reference``: the sequential definition (``scan_reference``), for tests.

Automatic choice: CUDA tensors -> ``mamba_ssm`` if mamba-ssm imports, else ``triton`` if Triton runs, else
``torch`` (each fallback with one warning); CPU tensors -> ``numba`` (``torch`` if numba is missing); other
devices -> ``torch``. The environment variable ``SEGMAMBA_SCAN_BACKEND=reference|numba|torch|triton|mamba_ssm``
forces a backend (``auto`` or empty: automatic); a forced backend that cannot run raises RuntimeError. The
names used before the backends were named after their implementation, ``cpu`` (numba) and ``cuda``
(mamba-ssm), are still accepted with a FutureWarning naming the new name.

The causal conv1d follows the same variable: ``mamba_ssm`` -> causal-conv1d's ``causal_conv1d_fn`` (the kernel
package installed with mamba-ssm), ``reference`` -> ``causal_conv1d_ref``, the others -> a grouped ``F.conv1d``;
automatic: the causal-conv1d kernel for CUDA tensors when importable, else ``F.conv1d``.

Every backend that ran in this process is recorded: :func:`scan_backends_run` lists them and
:func:`scan_backend_label` gives the string that train, predict and efficiency write into their outputs.
mamba-ssm and causal-conv1d are imported lazily, at the first call on CUDA tensors, never at import time.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings

import torch

from segmamba.ops.scan_reference import selective_scan_ref
from segmamba.ops.scan_torch_chunked import selective_scan_torch
from segmamba.ops.scan_triton import selective_scan_triton, triton_problem

BACKENDS = ("reference", "numba", "torch", "triton", "mamba_ssm")
RENAMED_BACKENDS = {"cpu": "numba", "cuda": "mamba_ssm"}
"""Old backend names (before the backends were named after their implementation) -> the current ones."""
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
def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_BACKENDS_RUN: set[str] = set()


def available_backends() -> list[str]:
    """Scan backends usable in this process (``mamba_ssm`` needs mamba-ssm and a CUDA device, ``triton`` a CUDA
    device or ``TRITON_INTERPRET=1``)."""
    backends = ["reference", "torch"]
    if _numba_available():
        backends.insert(1, "numba")
    if triton_problem("cuda") is None or triton_problem("cpu") is None:
        backends.append("triton")
    if torch.cuda.is_available() and cuda_selective_scan_fn() is not None:
        backends.append("mamba_ssm")
    return backends


def record_run(backend: str) -> None:
    """Note that ``backend`` ran a scan in this process."""
    _BACKENDS_RUN.add(backend)


def scan_backends_run() -> frozenset[str]:
    """The scan backends that have run in this process (by ``selective_scan`` / ``selective_scan_with_backend``)."""
    return frozenset(_BACKENDS_RUN)


def scan_backend_label(backends=None) -> str | None:
    """``backends`` (default: ``scan_backends_run()``) as one string, e.g. ``"triton"`` or ``"numba+torch"``;
    None when no scan ran (a model without a Mamba layer)."""
    backends = scan_backends_run() if backends is None else backends
    return "+".join(sorted(backends)) or None


def backend_name(name: str, source: str) -> str:
    """``name`` as a current backend name: an old name (``cpu``, ``cuda``) is renamed with a FutureWarning.

    ``source`` names where it came from in the messages (the variable or "scan backend"). ValueError if unknown.
    """
    if name in RENAMED_BACKENDS:
        new = RENAMED_BACKENDS[name]
        warnings.warn(
            f"{source} {name!r} is deprecated: the scan backends are named after their implementation; use {new!r}",
            FutureWarning,
            stacklevel=3,
        )
        return new
    if name not in BACKENDS:
        raise ValueError(f"{source} {name!r} is not one of {', '.join(BACKENDS)}")
    return name


def requested_backend() -> str | None:
    """The backend forced by ``SEGMAMBA_SCAN_BACKEND`` (None for automatic); ValueError if unknown."""
    value = os.environ.get(BACKEND_ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    return backend_name(value, BACKEND_ENV_VAR)


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
                return "mamba_ssm"
            fallback = "triton" if triton_problem("cuda") is None else "torch"
            _warn_cuda_fallback(fallback)
            return fallback
        if device_type == "cpu" and _numba_available():
            return "numba"
        return "torch"
    requested = backend_name(requested, "scan backend")
    if requested == "mamba_ssm" and (device_type != "cuda" or cuda_selective_scan_fn() is None):
        raise RuntimeError(
            f"scan backend 'mamba_ssm' needs CUDA tensors and mamba-ssm (tensors on {device_type!r}, mamba-ssm "
            f"{'importable' if cuda_selective_scan_fn() is not None else 'not importable'}): {CUDA_INSTALL_HINT}"
        )
    if requested == "numba" and (device_type != "cpu" or not _numba_available()):
        raise RuntimeError(f"scan backend 'numba' needs CPU tensors and numba (tensors on {device_type!r})")
    if requested == "triton" and triton_problem(device_type) is not None:
        raise RuntimeError(f"scan backend 'triton' cannot run: {triton_problem(device_type)}")
    return requested


def scan_function(backend: str):
    """The selective-scan function of ``backend`` (a current name, as :func:`choose_scan_backend` returns)."""
    if backend == "mamba_ssm":
        return cuda_selective_scan_fn()
    if backend == "numba":
        from segmamba.ops.scan_numba import selective_scan_cpu  # numba import deferred

        return selective_scan_cpu
    return {"torch": selective_scan_torch, "triton": selective_scan_triton, "reference": selective_scan_ref}[backend]


def use_conv_kernel(device_type: str, requested: str | None) -> bool:
    """Whether the causal conv1d runs causal-conv1d's kernel (else ``F.conv1d`` or, forced, the reference).

    Raises:
        RuntimeError: ``mamba_ssm`` forced where the kernel cannot run (no CUDA tensors or no causal-conv1d).
    """
    use_kernel = device_type == "cuda" and cuda_causal_conv1d_fn() is not None
    if requested == "mamba_ssm" and not use_kernel:
        raise RuntimeError(f"conv backend 'mamba_ssm' needs CUDA tensors and causal-conv1d: {CUDA_INSTALL_HINT}")
    return use_kernel and requested in (None, "mamba_ssm")
