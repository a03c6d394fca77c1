"""Sequential reference definition of the selective scan (mamba-ssm ``selective_scan_ref`` semantics).

Used by the tests as ground truth for every fast path. Slow (one Python step per time index) and
differentiable through plain torch autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def scan_compute_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """Return the dtype the scan is computed in: float64 if any input is float64, else float32."""
    if any(t is not None and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def prepare_delta(
    delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool, dtype: torch.dtype
) -> torch.Tensor:
    """Apply ``delta_bias`` (d,) and the optional softplus to delta (b, d, L) in ``dtype``."""
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def selective_scan_ref(
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
    """Sequential selective scan (mamba-ssm ``selective_scan_ref`` semantics).

    Shapes: u, delta, z: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,).

    With dt = softplus?(delta + delta_bias) and h_{-1} = 0::

        h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t        (b, d, n)
        y_t = sum_n C_t[n] h_t[:, :, n] + D * u_t
        out = y * silu(z)                                         (if z is given)

    Computed in float32 (float64 if any input is float64); returned in u's dtype. With
    ``return_last_state`` also returns h_{L-1} (b, d, n) in the compute dtype.
    """
    dtype_in = u.dtype
    dtype = scan_compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    u_c = u.to(dtype)
    dt = prepare_delta(delta, delta_bias, delta_softplus, dtype)
    A_c, B_c, C_c = A.to(dtype), B.to(dtype), C.to(dtype)
    batch, dim, length = u.shape
    state = u_c.new_zeros((batch, dim, A.shape[1]))
    ys = []
    for t in range(length):
        dt_t = dt[:, :, t, None]  # (b, d, 1)
        state = torch.exp(dt_t * A_c) * state + dt_t * B_c[:, None, :, t] * u_c[:, :, t, None]
        ys.append((state * C_c[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1) if length > 0 else u_c.new_zeros((batch, dim, 0))
    if D is not None:
        y = y + u_c * D.to(dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(dtype))
    out = y.to(dtype_in)
    return (out, state) if return_last_state else out
