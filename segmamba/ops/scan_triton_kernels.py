"""Triton kernels of the selective scan: chunked forward with state checkpoints, and a recomputing backward.

One program handles one (batch, channel) pair and walks the sequence in chunks of ``BLOCK_L`` steps. With
dt_t = softplus?(delta_t + delta_bias) (forced to 0 past the end of the sequence, so padding steps keep the
state unchanged)::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * u_t * B_t          (state: BLOCK_N >= N entries, h_{-1} = 0)
    y_t = (sum_n C_t[n] h_t[n] + D u_t) * silu?(z_t)

Inside a chunk the recurrence is a ``tl.associative_scan`` over (decay, input) pairs along the time axis of a
(BLOCK_N, BLOCK_L) tile, started from the state carried over from the previous chunk. The forward writes
the state before every chunk (``ckpt``, (batch * dim, chunks, BLOCK_N) float32) and the last state; nothing
of size (batch, dim, L, N) is ever stored.

The backward walks the chunks in reverse order. It recomputes a chunk's states from its checkpoint, then
runs the adjoint recurrence backwards in time with a reverse associative scan::

    G_t = C_t * gy_t + exp(dt_{t+1} * A) * G_{t+1}             (G_L = 0; G_{L-1} also gets dLoss/dh_{L-1})

(the decay of step t+1 is recomputed from delta at t+1), carrying G from chunk to chunk. With
a_t h_{t-1} = h_t - dt_t u_t B_t it forms every gradient: du, ddelta and dz per step, dA, dD and
ddelta_bias per program (summed over the batch by the caller), and dB, dC by atomic adds into float32
(batch, N, L) buffers (one add per channel, as mamba-ssm does).

All arithmetic is float32 whatever the input dtypes (float32, float16 or bfloat16): loads are upcast,
stores cast to the destination's dtype. The functions below are undecorated; ``selective_scan_triton``
builds compiled (``triton.jit``) or interpreted versions of them. They call no other Triton function except
``linear_combine`` (the scan's combine function, usable from both), because the interpreter cannot call
compiled helpers.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def linear_combine(decay_left, value_left, decay_right, value_right):
    """Compose two steps h -> decay * h + value, the left one first (associative, not commutative)."""
    return decay_left * decay_right, value_left * decay_right + value_right


def scan_forward(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr, ckpt_ptr, last_ptr,
    dim, length, dstate, n_chunks,
    stride_u_b, stride_u_d, stride_delta_b, stride_delta_d, stride_B_b, stride_B_n, stride_C_b, stride_C_n,
    stride_z_b, stride_z_d, stride_out_b, stride_out_d,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    """Forward scan of one (batch, channel) pair; writes out, the per-chunk checkpoints and the last state."""
    pid = tl.program_id(0).to(tl.int64)
    batch = pid // dim
    channel = pid % dim
    rows = tl.arange(0, BLOCK_N)
    row_mask = rows < dstate
    cols = tl.arange(0, BLOCK_L)
    A = tl.load(A_ptr + channel * dstate + rows, mask=row_mask, other=0.0).to(tl.float32)
    skip = tl.load(D_ptr + channel).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + channel).to(tl.float32) if HAS_BIAS else 0.0
    u_row = u_ptr + batch * stride_u_b + channel * stride_u_d
    delta_row = delta_ptr + batch * stride_delta_b + channel * stride_delta_d
    B_tile = B_ptr + batch * stride_B_b + rows[:, None] * stride_B_n
    C_tile = C_ptr + batch * stride_C_b + rows[:, None] * stride_C_n
    state = tl.zeros([BLOCK_N], dtype=tl.float32)
    for chunk in range(0, n_chunks):
        offs = chunk * BLOCK_L + cols
        mask = offs < length
        tile_mask = row_mask[:, None] & mask[None, :]
        u = tl.load(u_row + offs, mask=mask, other=0.0).to(tl.float32)
        dt = tl.load(delta_row + offs, mask=mask, other=0.0).to(tl.float32) + bias
        if SOFTPLUS:
            # softplus with mamba-ssm's threshold; log1p(e) = log(w) * e / (w - 1), w = 1 + e, stays accurate
            e = tl.exp(tl.minimum(dt, 20.0))
            w = 1.0 + e
            dt = tl.where(dt <= 20.0, tl.where(w == 1.0, e, tl.log(w) * e / (w - 1.0)), dt)
        dt = tl.where(mask, dt, 0.0)
        B = tl.load(B_tile + offs[None, :], mask=tile_mask, other=0.0).to(tl.float32)
        C = tl.load(C_tile + offs[None, :], mask=tile_mask, other=0.0).to(tl.float32)
        decay = tl.exp(dt[None, :] * A[:, None])
        decay_cum, local = tl.associative_scan((decay, (dt * u)[None, :] * B), 1, linear_combine)
        states = local + decay_cum * state[:, None]
        y = tl.sum(states * C, axis=0)
        if HAS_D:
            y += skip * u
        if HAS_Z:
            z = tl.load(z_ptr + batch * stride_z_b + channel * stride_z_d + offs, mask=mask, other=0.0)
            z = z.to(tl.float32)
            y = y * z * tl.sigmoid(z)
        out = out_ptr + batch * stride_out_b + channel * stride_out_d + offs
        tl.store(out, y.to(out_ptr.dtype.element_ty), mask=mask)
        tl.store(ckpt_ptr + (pid * n_chunks + chunk) * BLOCK_N + rows, state)
        state = tl.sum(tl.where(cols[None, :] == BLOCK_L - 1, states, 0.0), axis=1)
    tl.store(last_ptr + pid * dstate + rows, state, mask=row_mask)


def scan_backward(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, gout_ptr, glast_ptr, ckpt_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dD_ptr, dbias_ptr, dB_ptr, dC_ptr,
    dim, length, dstate, n_chunks,
    stride_u_b, stride_u_d, stride_delta_b, stride_delta_d, stride_B_b, stride_B_n, stride_C_b, stride_C_n,
    stride_z_b, stride_z_d, stride_gout_b, stride_gout_d,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_GLAST: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    """Backward of ``scan_forward`` for one (batch, channel) pair.

    Writes du, ddelta, dz (contiguous (batch, dim, L)), this program's dA (BLOCK_N), dD and ddelta_bias
    entries, and adds its share of dB and dC (contiguous float32 (batch, N, L)).
    """
    pid = tl.program_id(0).to(tl.int64)
    batch = pid // dim
    channel = pid % dim
    rows = tl.arange(0, BLOCK_N)
    row_mask = rows < dstate
    cols = tl.arange(0, BLOCK_L)
    A = tl.load(A_ptr + channel * dstate + rows, mask=row_mask, other=0.0).to(tl.float32)
    skip = tl.load(D_ptr + channel).to(tl.float32) if HAS_D else 0.0
    bias = tl.load(bias_ptr + channel).to(tl.float32) if HAS_BIAS else 0.0
    u_row = u_ptr + batch * stride_u_b + channel * stride_u_d
    delta_row = delta_ptr + batch * stride_delta_b + channel * stride_delta_d
    B_tile = B_ptr + batch * stride_B_b + rows[:, None] * stride_B_n
    C_tile = C_ptr + batch * stride_C_b + rows[:, None] * stride_C_n
    grad_row = pid * length  # du, ddelta, dz: contiguous (batch, dim, L)
    dBC_tile = batch * dstate * length + rows[:, None] * length  # dB, dC: contiguous (batch, N, L)
    if HAS_GLAST:
        glast = tl.load(glast_ptr + pid * dstate + rows, mask=row_mask, other=0.0).to(tl.float32)
    carry = tl.zeros([BLOCK_N], dtype=tl.float32)  # G at the first step of the chunk after this one
    dA = tl.zeros([BLOCK_N], dtype=tl.float32)
    dD = tl.zeros([BLOCK_L], dtype=tl.float32)
    dbias = tl.zeros([BLOCK_L], dtype=tl.float32)
    for step in range(0, n_chunks):
        chunk = n_chunks - 1 - step
        offs = chunk * BLOCK_L + cols
        mask = offs < length
        tile_mask = row_mask[:, None] & mask[None, :]
        u = tl.load(u_row + offs, mask=mask, other=0.0).to(tl.float32)
        raw = tl.load(delta_row + offs, mask=mask, other=0.0).to(tl.float32) + bias
        raw_next = tl.load(delta_row + offs + 1, mask=offs + 1 < length, other=0.0).to(tl.float32) + bias
        if SOFTPLUS:
            e = tl.exp(tl.minimum(raw, 20.0))
            w = 1.0 + e
            dt = tl.where(raw <= 20.0, tl.where(w == 1.0, e, tl.log(w) * e / (w - 1.0)), raw)
            e_next = tl.exp(tl.minimum(raw_next, 20.0))
            w_next = 1.0 + e_next
            dt_next = tl.where(
                raw_next <= 20.0, tl.where(w_next == 1.0, e_next, tl.log(w_next) * e_next / (w_next - 1.0)), raw_next
            )
        else:
            dt = raw
            dt_next = raw_next
        dt = tl.where(mask, dt, 0.0)
        dt_next = tl.where(offs + 1 < length, dt_next, 0.0)
        B = tl.load(B_tile + offs[None, :], mask=tile_mask, other=0.0).to(tl.float32)
        C = tl.load(C_tile + offs[None, :], mask=tile_mask, other=0.0).to(tl.float32)
        # recompute the chunk's states from its checkpoint
        start = tl.load(ckpt_ptr + (pid * n_chunks + chunk) * BLOCK_N + rows)
        inputs = (dt * u)[None, :] * B
        decay_cum, local = tl.associative_scan((tl.exp(dt[None, :] * A[:, None]), inputs), 1, linear_combine)
        states = local + decay_cum * start[:, None]
        gy = tl.load(gout_ptr + batch * stride_gout_b + channel * stride_gout_d + offs, mask=mask, other=0.0)
        gy = gy.to(tl.float32)
        if HAS_Z:
            # out = y * silu(z): dz = gout * y * silu'(z), gy = gout * silu(z)
            y = tl.sum(states * C, axis=0)
            if HAS_D:
                y += skip * u
            z = tl.load(z_ptr + batch * stride_z_b + channel * stride_z_d + offs, mask=mask, other=0.0)
            z = z.to(tl.float32)
            sig = tl.sigmoid(z)
            dz = gy * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(dz_ptr + grad_row + offs, dz.to(dz_ptr.dtype.element_ty), mask=mask)
            gy = gy * z * sig
        source = gy[None, :] * C
        if HAS_GLAST:
            source = tl.where(offs[None, :] == length - 1, source + glast[:, None], source)
        decay_next = tl.exp(dt_next[None, :] * A[:, None])
        grad_cum, grad_local = tl.associative_scan((decay_next, source), 1, linear_combine, reverse=True)
        G = grad_local + grad_cum * carry[:, None]
        before = states - inputs  # exp(dt_t A) h_{t-1}
        ddt = tl.sum(G * (A[:, None] * before + B * u[None, :]), axis=0)
        du = dt * tl.sum(G * B, axis=0)
        if HAS_D:
            du += skip * gy
            dD += tl.where(mask, gy * u, 0.0)
        dA += tl.sum(G * dt[None, :] * before, axis=1)
        ddelta = tl.where(mask, ddt * tl.sigmoid(raw) if SOFTPLUS else ddt, 0.0)
        dbias += ddelta
        tl.store(du_ptr + grad_row + offs, du.to(du_ptr.dtype.element_ty), mask=mask)
        tl.store(ddelta_ptr + grad_row + offs, ddelta.to(ddelta_ptr.dtype.element_ty), mask=mask)
        tl.atomic_add(dB_ptr + dBC_tile + offs[None, :], G * (dt * u)[None, :], mask=tile_mask, sem="relaxed")
        tl.atomic_add(dC_ptr + dBC_tile + offs[None, :], states * gy[None, :], mask=tile_mask, sem="relaxed")
        carry = tl.sum(tl.where(cols[None, :] == 0, G, 0.0), axis=1)
    tl.store(dA_ptr + pid * BLOCK_N + rows, dA)
    tl.store(dD_ptr + pid, tl.sum(dD, axis=0))
    tl.store(dbias_ptr + pid, tl.sum(dbias, axis=0))
