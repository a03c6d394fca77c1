"""Selective scan and causal conv1d ops (mamba-ssm semantics) on the backend :mod:`segmamba.ops.dispatch` chooses.

:func:`selective_scan` and :func:`causal_conv1d` run on the best available implementation for the tensors'
device (or the one forced by ``SEGMAMBA_SCAN_BACKEND``); the backends, each named after its implementation
(``mamba_ssm``, ``triton``, ``torch``, ``numba``, ``reference``), the automatic choice and the record of the
backends that ran are described in :mod:`segmamba.ops.dispatch`.
"""

from __future__ import annotations

import torch

from segmamba.ops import dispatch
from segmamba.ops.causal_conv1d import causal_conv1d_ref, causal_conv1d_torch
from segmamba.ops.dispatch import (
    BACKEND_ENV_VAR,
    BACKENDS,
    available_backends,
    choose_scan_backend,
    requested_backend,
    scan_backend_label,
    scan_backends_run,
)
from segmamba.ops.scan_reference import selective_scan_ref
from segmamba.ops.scan_torch_chunked import selective_scan_torch
from segmamba.ops.scan_triton import selective_scan_triton


def selective_scan_with_backend(
    backend: str, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False
):
    """``selective_scan`` on an explicitly chosen backend (one of ``BACKENDS``, checked against the device; an old
    name, ``cpu`` or ``cuda``, is renamed with a FutureWarning)."""
    backend = dispatch.choose_scan_backend(u.device.type, backend)
    scan = dispatch.scan_function(backend)
    dispatch.record_run(backend)
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

    The backend follows ``SEGMAMBA_SCAN_BACKEND`` when set, else the device (:mod:`segmamba.ops.dispatch`); it
    is recorded in ``scan_backends_run()``.
    """
    backend = dispatch.choose_scan_backend(u.device.type, dispatch.requested_backend())
    scan = dispatch.scan_function(backend)
    dispatch.record_run(backend)
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
        (batch, dim, L) in x's dtype; differentiable. Backend as described in :mod:`segmamba.ops.dispatch`.
    """
    requested = dispatch.requested_backend()
    if requested == "reference":
        return causal_conv1d_ref(x, weight, bias, activation)
    if dispatch.use_conv_kernel(x.device.type, requested):
        return dispatch.cuda_causal_conv1d_fn()(x, weight, bias, activation=activation)
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
