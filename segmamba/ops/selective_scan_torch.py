"""Pure-torch selective scan for any device (the CUDA fallback when mamba-ssm is not installed).

The linear recurrence h_t = a_t * h_{t-1} + x_t is evaluated with a blocked parallel scan: a
Hillis-Steele scan inside blocks of ``BLOCK`` steps (log2(BLOCK) vectorised passes), the same scan applied
recursively to the per-block totals to get each block's incoming state, and one fix-up pass. This uses
only multiplications and additions of the decays (no division, no exp of cumulative sums), so it is as
stable as the sequential loop. It materialises (b, d, L, n) tensors, so memory grows with L * n like
mamba-ssm's ``selective_scan_ref``; autograd is plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segmamba.ops.selective_scan_ref import prepare_delta, scan_compute_dtype

BLOCK = 16


def _hillis_steele(decay: torch.Tensor, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan along dim -2: (cumulative decay products, states with a zero initial state)."""
    length = decay.shape[-2]
    step = 1
    while step < length:
        inp = torch.cat([inp[..., :step, :], inp[..., step:, :] + decay[..., step:, :] * inp[..., :-step, :]], -2)
        decay = torch.cat([decay[..., :step, :], decay[..., step:, :] * decay[..., :-step, :]], -2)
        step *= 2
    return decay, inp


def linear_recurrence(decay: torch.Tensor, inp: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """States h_t = decay_t * h_{t-1} + inp_t along dim -2 with h_{-1} = 0; decay, inp: (..., L, n)."""
    length = decay.shape[-2]
    if length <= block:
        return _hillis_steele(decay, inp)[1]
    pad = -length % block
    if pad:
        decay = F.pad(decay, (0, 0, 0, pad), value=1.0)
        inp = F.pad(inp, (0, 0, 0, pad))
    lead, nstate = decay.shape[:-2], decay.shape[-1]
    blocks = decay.shape[-2] // block
    decay_cum, local = _hillis_steele(
        decay.reshape(*lead, blocks, block, nstate), inp.reshape(*lead, blocks, block, nstate)
    )
    block_end = linear_recurrence(decay_cum[..., -1, :], local[..., -1, :], block)
    incoming = F.pad(block_end[..., :-1, :], (0, 0, 1, 0))
    states = local + decay_cum * incoming.unsqueeze(-2)
    return states.reshape(*lead, blocks * block, nstate)[..., :length, :]


def selective_scan_torch(
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
    """Selective scan in plain torch on u's device (same semantics as ``selective_scan_ref``).

    Shapes: u, delta, z: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,). Computed in float32
    (float64 if any input is float64) with autocast disabled; returned in u's dtype.
    """
    dtype = scan_compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    with torch.autocast(device_type=u.device.type, enabled=False):
        u_c = u.to(dtype)
        dt = prepare_delta(delta, delta_bias, delta_softplus, dtype)
        decay = torch.exp(dt.unsqueeze(-1) * A.to(dtype)[:, None, :])  # (b, d, L, n)
        inp = (dt * u_c).unsqueeze(-1) * B.to(dtype).transpose(1, 2).unsqueeze(1)
        states = linear_recurrence(decay, inp)
        y = (states * C.to(dtype).transpose(1, 2).unsqueeze(1)).sum(-1)
        if D is not None:
            y = y + u_c * D.to(dtype)[:, None]
        if z is not None:
            y = y * F.silu(z.to(dtype))
        last_state = states[..., -1, :] if u.shape[-1] else u_c.new_zeros((*u.shape[:2], A.shape[1]))
    out = y.to(u.dtype)
    return (out, last_state) if return_last_state else out
