"""Pure-torch selective scan for any device, lean in memory (the fallback when neither mamba-ssm nor Triton runs).

The sequence is cut into chunks of ``CHUNK`` steps and the state is carried from chunk to chunk. Inside a
chunk the linear recurrence h_t = a_t * h_{t-1} + x_t is evaluated in place by a blocked scan
(``scan_states_``): a sequential pass inside blocks of ``BLOCK`` steps, vectorised over all blocks, the same
scan applied recursively to the per-block totals, and one fix-up pass. It uses only multiplications and
additions of the decays (no division, no exp of cumulative sums), so it is as stable as the sequential loop.

Memory: only one chunk's (b, d, CHUNK, n) tensors exist at a time. The forward keeps just the state before
every chunk, (L / CHUNK, b, d, n). The backward is written out (a torch autograd Function, no autograd
graph through the recurrence): it walks the chunks in reverse order, recomputes each one from its saved
state, runs the adjoint recurrence G_t = C_t gy_t + a_{t+1} G_{t+1} backwards with the same blocked scan and
carries a_{t0} G_{t0} to the previous chunk. Forward + backward at L = 262,144, d = 96, n = 16 needs a few
hundred MB beyond the inputs and gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segmamba.ops.scan_reference import scan_compute_dtype

BLOCK = 16
CHUNK = 2048
"""Time steps per chunk: each (b, d, CHUNK, n) float32 tensor is 12.6 MB at b = 1, d = 96, n = 16."""


def scan_states_(decay: torch.Tensor, inp: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """In place: turn ``inp`` (L, ...) into the states h_t = decay_t * h_{t-1} + inp_t along dim 0 (h_{-1} = 0).

    Time is the first dimension, so every step of the vectorised passes is one contiguous slab. ``decay``
    (same shape) is overwritten with partial products. Not differentiable (plain in-place ops). Returns ``inp``.
    """
    length = inp.shape[0]
    full = length - length % block if length > block else 0
    if full:
        a = decay[:full].unflatten(0, (full // block, block))
        h = inp[:full].unflatten(0, (full // block, block))
        for k in range(1, block):  # within every block at once: local states and cumulative decays
            h[:, k].addcmul_(a[:, k], h[:, k - 1])
            a[:, k].mul_(a[:, k - 1])
        ends = scan_states_(a[:, -1].clone(), h[:, -1].clone(), block)  # the true state at each block's end
        h[1:, :-1].addcmul_(a[1:, :-1], ends[:-1, None])
        h[:, -1] = ends
    for t in range(max(full, 1), length):  # the steps after the last full block (all steps if L <= block)
        inp[t].addcmul_(decay[t], inp[t - 1])
    return inp


def _time_major(t: torch.Tensor, part: slice) -> torch.Tensor:
    """Chunk ``part`` of a (b, c, L) tensor as a contiguous (l, b, c) tensor."""
    return t[..., part].permute(2, 0, 1).contiguous()


def _chunk_dt(delta, delta_bias, softplus, part):
    """(delta + delta_bias, dt = softplus?(delta + delta_bias)) of one chunk, time-major (l, b, d)."""
    raw = _time_major(delta, part)
    if delta_bias is not None:
        raw = raw + delta_bias
    return raw, F.softplus(raw) if softplus else raw


def _chunk_states(dt, u, A, B, start, keep: bool = True):
    """(decays a_t, inputs x_t, states h_t) of one chunk from the state ``start`` (b, d, n), each (l, b, d, n).

    dt, u: (l, b, d); B: (l, b, n); all time-major and contiguous. Without ``keep`` only the states are
    returned and the decays and inputs are overwritten while computing them (two copies fewer).
    """
    decay = torch.exp(dt.unsqueeze(-1) * A)
    inputs = (dt * u).unsqueeze(-1) * B.unsqueeze(2)
    states = inputs.clone() if keep else inputs
    states[0].addcmul_(decay[0], start)
    states = scan_states_(decay.clone() if keep else decay, states)
    return (decay, inputs, states) if keep else states


def _chunk_output(states, u, C, D):
    """y before the gate, sum_n C_t[n] h_t[n] + D u_t, (l, b, d)."""
    y = torch.einsum("lbdn,lbn->lbd", states, C)
    return y if D is None else y + u * D


def _chunks(length: int, chunk: int) -> list[slice]:
    return [slice(start, min(start + chunk, length)) for start in range(0, length, chunk)]


def _scan_forward(u, delta, A, B, C, D, z, delta_bias, softplus, chunk):
    """(output, last state, stacked state before each chunk (chunks, b, d, n)); no autograd."""
    batch, dim, length = u.shape
    state = u.new_zeros((batch, dim, A.shape[1]))
    out = torch.empty_like(u)
    starts = []
    for part in _chunks(length, chunk):
        starts.append(state)
        u_part = _time_major(u, part)
        dt = _chunk_dt(delta, delta_bias, softplus, part)[1]
        states = _chunk_states(dt, u_part, A, _time_major(B, part), state, keep=False)
        y = _chunk_output(states, u_part, _time_major(C, part), D)
        if z is not None:
            y = y * F.silu(_time_major(z, part))
        out[..., part] = y.permute(1, 2, 0)
        state = states[-1].clone()  # a copy: a view would keep the chunk's states alive
    return out, state, torch.stack(starts) if starts else None


def _chunk_backward(part, saved, softplus, start, gout, carry, grads):
    """Gradients of one chunk; fills the chunk's slice of the per-step gradients, accumulates dA, dD and
    ddelta_bias, and returns the gradient w.r.t. the state before the chunk (dLoss/dh_{t0-1})."""
    u, delta, A, B, C, D, z, delta_bias = saved
    gu, gdelta, gA, gB, gC, gD, gz, gbias = grads
    u, B, C = _time_major(u, part), _time_major(B, part), _time_major(C, part)
    raw, dt = _chunk_dt(delta, delta_bias, softplus, part)
    decay, inputs, states = _chunk_states(dt, u, A, B, start)
    gy = _time_major(gout, part)
    if z is not None:
        z = _time_major(z, part)
        sig = torch.sigmoid(z)
        gz[..., part] = (gy * _chunk_output(states, u, C, D) * sig * (1 + z * (1 - sig))).permute(1, 2, 0)
        gy = gy * z * sig
    # adjoint, backwards in time: G_t = C_t gy_t + a_{t+1} G_{t+1}, G_last = C_last gy_last + carry
    adjoint = gy.flip(0).unsqueeze(-1) * C.flip(0).unsqueeze(2)  # in reversed time order
    adjoint[0] += carry
    shifted = torch.cat([torch.ones_like(decay[:1]), decay[1:].flip(0)])  # a_{t+1}, reversed
    G = scan_states_(shifted, adjoint).flip(0)
    carry = decay[0] * G[0]
    gC[..., part] = torch.einsum("lbd,lbdn->bnl", gy, states)
    gB[..., part] = torch.einsum("lbdn,lbd->bnl", G, dt * u)
    GB = torch.einsum("lbdn,lbn->lbd", G, B)
    gu[..., part] = (dt * GB if D is None else dt * GB + D * gy).permute(1, 2, 0)
    weighted = G.mul_(states.sub_(inputs))  # G_t * a_t h_{t-1}
    gdt = torch.einsum("lbdn,dn->lbd", weighted, A) + u * GB
    gA += torch.einsum("lbdn,lbd->dn", weighted, dt)
    gd = gdt * torch.sigmoid(raw) if softplus else gdt
    gdelta[..., part] = gd.permute(1, 2, 0)
    if gbias is not None:
        gbias += gd.sum((0, 1))
    if gD is not None:
        gD += (gy * u).sum((0, 1))
    return carry


class ChunkedScan(torch.autograd.Function):
    """Chunked scan that saves only the per-chunk states and recomputes each chunk in the backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus, chunk):
        out, last_state, starts = _scan_forward(u, delta, A, B, C, D, z, delta_bias, softplus, chunk)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, starts)
        ctx.config = (softplus, chunk)
        return out, last_state

    @staticmethod
    def backward(ctx, gout, glast):
        *saved, starts = ctx.saved_tensors
        softplus, chunk = ctx.config
        grads = [None if t is None else torch.zeros_like(t) for t in saved]
        carry = glast
        parts = _chunks(saved[0].shape[-1], chunk)
        for index in range(len(parts) - 1, -1, -1):
            carry = _chunk_backward(parts[index], saved, softplus, starts[index], gout, carry, grads)
        return (*grads, None, None)


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
    chunk: int = CHUNK,
):
    """Selective scan in plain torch on u's device (same semantics as ``selective_scan_ref``).

    Shapes: u, delta, z: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,). Computed in float32
    (float64 if any input is float64) with autocast disabled; returned in u's dtype, the last state
    (b, d, n) in the compute dtype. Differentiable in every tensor argument, the last state included.
    ``chunk``: time steps per chunk (memory per chunk grows with b * d * chunk * n).
    """
    dtype = scan_compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    args = [None if t is None else t.to(dtype) for t in (u, delta, A, B, C, D, z, delta_bias)]
    with torch.autocast(device_type=u.device.type, enabled=False):
        grad_needed = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args)
        if grad_needed and u.shape[-1] > 0:
            out, last_state = ChunkedScan.apply(*args, bool(delta_softplus), int(chunk))
        else:
            with torch.no_grad():
                out, last_state, _ = _scan_forward(*args, bool(delta_softplus), int(chunk))
    out = out.to(u.dtype)
    return (out, last_state) if return_last_state else out
