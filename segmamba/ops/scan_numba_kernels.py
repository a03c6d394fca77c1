"""Numba kernels of the CPU selective scan: fused forward and reverse-time adjoint (backward).

Per batch b and channel c, with dt_t = softplus?(delta_t + delta_bias[c])::

    h_t = exp(dt_t * A[c]) * h_{t-1} + dt_t * u_t * B_t        (n states, h_{-1} = 0)
    y_t = (sum_n C_t[n] * h_t[n] + D[c] * u_t) * silu?(z_t)

Work is split into ``groups`` channel groups per batch element (``prange`` over batch * groups). Each
group walks the sequence in chunks of ``chunk`` steps: the chunk's u, delta, z (and gradient) rows are
copied into small time-major buffers, so the innermost loop runs over the group's channels with unit
stride and vectorises (one SIMD lane per channel, no horizontal reductions). The forward pass stores the
state at the start of every chunk (``ckpt``); the backward pass recomputes the states of one chunk from
it and runs the adjoint recurrence backwards. Gradients of B and C are summed over the channels of a
group into per-group buffers, and those of A, D and delta_bias per batch element; the caller reduces
them (no write races between threads).

Kernels are dtype-generic (float32 for speed, float64 for gradcheck). LLVM cannot vectorise libm's
``expf``/``log1pf`` (numba has no SVML here), so float32 uses branch-free polynomials that compile to
SIMD code:

- ``fast_exp``: exp(x) = 2^k exp(r), k = round(x / ln 2) obtained with the 1.5 * 2^23 rounding trick
  (its bits also give 2^k), exp(r) = 1 + r + r^2 q(r) with a cubic q; relative error < 4e-7 and < 6e-8
  for |x| < 0.01, exact at 0, so exp(x) - 1 keeps its relative accuracy for small x;
- ``fast_log1p_unit``: log(1 + x) for x in [0, 1] via 2 atanh(x / (2 + x)), relative error < 2e-8.

float64 maps to ``math.exp`` / ``math.log1p``. The math helpers live in this module because numba's
cache is invalidated by the source file of the cached function only.

Longer than 400 lines: numba's cache is invalidated only by the source file of a cached function, so the
kernels and the math helpers they call stay in one file.

The first call compiles the kernels (tens of seconds per dtype); with a writable cache directory
(``__pycache__`` next to this file, or ``NUMBA_CACHE_DIR``) later processes load them from disk. numba
writes cache files atomically, so concurrent processes may share them; an unwritable cache falls back to
compiling in memory with a warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

# no "reassoc": (x * log2e + magic) - magic must not be simplified to x * log2e
EXACT_ORDER_FASTMATH = {"nnan", "ninf", "nsz", "contract", "arcp"}

_EXP_MIN = np.float32(-87.33654)  # 2^-126: smallest normal float32
_EXP_MAX = np.float32(88.0)
_LOG2E = np.float32(1.4426950408889634)
_LN2 = np.float32(0.6931471805599453)
# 1.5 * 2^23 + 127: adding it rounds x*log2(e) to an integer k and leaves k + 127 in the low mantissa bits
_ROUND_MAGIC = np.float32(12583039.0)
# exp(r) = 1 + r + r^2 q(r) on |r| <= ln(2)/2; q: least-squares minimax fit of degree 3 (relative error 4e-7)
_EXP_Q = (np.float32(0.008312525227665901), np.float32(0.041890114545822144),
          np.float32(0.16667114198207855), np.float32(0.499992311000824))  # fmt: skip
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_ZERO = np.float32(0.0)
_MANTISSA_BITS = np.int32(23)
# 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), s <= 1/3
_ATANH_Q = tuple(np.float32(1.0 / k) for k in (13, 11, 9, 7, 5, 3))


def cached_njit(**options):
    """``numba.njit`` with ``cache=True``, falling back to no cache when no cache directory is writable.

    numba caches next to the source file (``__pycache__``) or under ``NUMBA_CACHE_DIR``; its cache files
    are written atomically, so concurrent processes may share them.
    """

    def decorate(func):
        try:
            return njit(cache=True, error_model="numpy", **options)(func)
        except RuntimeError as err:  # numba: "cannot cache function ...: no locator available"
            warnings.warn(f"numba cache unavailable ({err}); the scan kernels compile in every process", stacklevel=2)
            return njit(cache=False, error_model="numpy", **options)(func)

    return decorate


@intrinsic
def int_bits_as_float32(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (LLVM trunc + bitcast, vectorisable)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], context.get_value_type(types.int32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, context.get_value_type(types.float32))

    return types.float32(bits), codegen


@intrinsic
def float32_bits_as_int(typingctx, value):
    """Reinterpret the bits of a float32 as an int32 (an LLVM bitcast, vectorisable)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return types.int32(types.float32), codegen


def fast_exp(x):
    """exp(x) for numba code: vectorisable polynomial for float32, ``math.exp`` for float64.

    float32 arguments are clamped to [-87.34, 88]: results saturate at 2^-126 and ~1.65e38 (no inf).
    """
    raise NotImplementedError("callable from numba-compiled code only")


def fast_log1p_unit(x):
    """log(1 + x) for 0 <= x <= 1 in numba code: vectorisable series for float32, ``math.log1p`` for float64."""
    raise NotImplementedError("callable from numba-compiled code only")


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) in numba code, stable for every x."""
    raise NotImplementedError("callable from numba-compiled code only")


def sigmoid(x):
    """1 / (1 + exp(-x)) in numba code (the derivative of softplus)."""
    raise NotImplementedError("callable from numba-compiled code only")


def _exp_float32(x):
    x = min(max(x, _EXP_MIN), _EXP_MAX)
    shifted = x * _LOG2E + _ROUND_MAGIC
    k = shifted - _ROUND_MAGIC
    r = x - k * _LN2
    q3, q2, q1, q0 = _EXP_Q
    p = (((q3 * r + q2) * r + q1) * r + q0) * (r * r) + r  # exp(r) - 1
    scale = int_bits_as_float32(float32_bits_as_int(shifted) << _MANTISSA_BITS)  # 2^k
    return p * scale + scale


def _log1p_unit_float32(x):
    s = x / (_TWO + x)
    s2 = s * s
    q13, q11, q9, q7, q5, q3 = _ATANH_Q
    q = (((((q13 * s2 + q11) * s2 + q9) * s2 + q7) * s2 + q5) * s2 + q3) * s2
    return _TWO * (s + s * q)


def _softplus_float32(x):
    return max(x, _ZERO) + fast_log1p_unit(fast_exp(-abs(x)))


def _softplus_float64(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid_float32(x):
    return _ONE / (_ONE + fast_exp(-x))


def _sigmoid_float64(x):
    return 1.0 / (1.0 + math.exp(-x))


def _register(stub, float32_impl, float64_impl):
    """Make ``stub`` callable from numba code, dispatching on the float type of its argument."""

    @overload(stub, jit_options={"fastmath": EXACT_ORDER_FASTMATH, "error_model": "numpy"})
    def _dispatch(x):
        if x == types.float32:
            return float32_impl
        if x == types.float64:
            return float64_impl
        return None


_register(fast_exp, _exp_float32, lambda x: math.exp(x))
_register(fast_log1p_unit, _log1p_unit_float32, lambda x: math.log1p(x))
_register(softplus, _softplus_float32, _softplus_float64)
_register(sigmoid, _sigmoid_float32, _sigmoid_float64)


KERNEL_FASTMATH = True


@cached_njit(fastmath=KERNEL_FASTMATH)
def load_chunk_time_major(src, b, c0, t0, buf):
    """buf[i, c] = src[b, c0 + c, t0 + i] for the buf.shape[0] steps of a chunk (channel- to time-major)."""
    steps, channels = buf.shape
    for c in range(channels):
        row = src[b, c0 + c]
        for i in range(steps):
            buf[i, c] = row[t0 + i]


@cached_njit(fastmath=KERNEL_FASTMATH)
def store_chunk_channel_major(buf, dst, b, c0, t0):
    """dst[b, c0 + c, t0 + i] = buf[i, c] (inverse of ``load_chunk_time_major``)."""
    steps, channels = buf.shape
    for c in range(channels):
        row = dst[b, c0 + c]
        for i in range(steps):
            row[t0 + i] = buf[i, c]


@cached_njit(fastmath=KERNEL_FASTMATH)
def delta_to_dt(buf, bias, use_softplus, grad_factor):
    """In place: buf = softplus?(buf + bias) (buf: steps x channels).

    grad_factor (same shape) receives d dt / d delta; pass an empty array when it is not needed.
    """
    steps, channels = buf.shape
    with_factor = grad_factor.shape[0] > 0
    if with_factor and not use_softplus:
        grad_factor[:] = 1
    for i in range(steps):
        row = buf[i]
        for c in range(channels):
            row[c] += bias[c]
        if use_softplus:
            if with_factor:
                factor = grad_factor[i]
                for c in range(channels):
                    factor[c] = sigmoid(row[c])
            for c in range(channels):
                row[c] = softplus(row[c])


@cached_njit(parallel=True, fastmath=KERNEL_FASTMATH)
def scan_forward_kernel(u, delta, A, B, C, D, z, delta_bias, use_softplus, gated, out, ckpt, last_state, chunk, groups):
    """Fused forward scan.

    u, delta, z, out: (b, d, L); A: (d, n); B, C: (b, n, L); D, delta_bias: (d,); z is read only when
    ``gated``. ckpt: (b, ceil(L/chunk), n, d) receives the state before each chunk; last_state: (b, d, n).
    """
    batch, dim, length = u.shape
    nstate = A.shape[1]
    nchunks = ckpt.shape[1]
    for job in prange(batch * groups):
        b = job // groups
        g = job % groups
        c0 = g * dim // groups
        c1 = (g + 1) * dim // groups
        nc = c1 - c0
        At = np.ascontiguousarray(A[c0:c1].T)
        Dg = D[c0:c1]
        bias = delta_bias[c0:c1]
        h = np.zeros((nstate, nc), dtype=u.dtype)
        ubuf = np.empty((chunk, nc), dtype=u.dtype)
        dtbuf = np.empty((chunk, nc), dtype=u.dtype)
        no_factor = np.empty((0, nc), dtype=u.dtype)
        zbuf = np.empty((chunk, nc), dtype=u.dtype)
        ybuf = np.empty((chunk, nc), dtype=u.dtype)
        dtu = np.empty(nc, dtype=u.dtype)
        for j in range(nchunks):
            t0 = j * chunk
            steps = min(chunk, length - t0)
            ckpt[b, j, :, c0:c1] = h
            load_chunk_time_major(u, b, c0, t0, ubuf[:steps])
            load_chunk_time_major(delta, b, c0, t0, dtbuf[:steps])
            delta_to_dt(dtbuf[:steps], bias, use_softplus, no_factor)
            for i in range(steps):
                t = t0 + i
                ui = ubuf[i]
                dti = dtbuf[i]
                yi = ybuf[i]
                for c in range(nc):
                    dtu[c] = dti[c] * ui[c]
                    yi[c] = Dg[c] * ui[c]
                for n in range(nstate):
                    Bn = B[b, n, t]
                    Cn = C[b, n, t]
                    hn = h[n]
                    An = At[n]
                    for c in range(nc):
                        v = fast_exp(dti[c] * An[c]) * hn[c] + dtu[c] * Bn
                        hn[c] = v
                        yi[c] += Cn * v
            if gated:
                load_chunk_time_major(z, b, c0, t0, zbuf[:steps])
                for i in range(steps):
                    yi = ybuf[i]
                    zi = zbuf[i]
                    for c in range(nc):
                        yi[c] *= zi[c] * sigmoid(zi[c])
            store_chunk_channel_major(ybuf[:steps], out, b, c0, t0)
        last_state[b, c0:c1, :] = h.T


@cached_njit(parallel=True, fastmath=KERNEL_FASTMATH)
def scan_backward_kernel(
    u, delta, A, B, C, D, z, delta_bias, use_softplus, gated, gout, ckpt, chunk, groups,
    gu, gdelta, gz, gA, gD, gbias, gB_part, gC_part,
):  # fmt: skip
    """Reverse-time adjoint of ``scan_forward_kernel``.

    Inputs as in the forward plus gout (b, d, L) = dLoss/dout and the forward's ckpt. Outputs (every
    element written): gu, gdelta: (b, d, L); gz: (b, d, L) when ``gated``; gA: (b, d, n), gD and gbias:
    (b, d) per batch element; gB_part, gC_part: (b, groups, n, L), per-group partial sums.
    """
    batch, dim, length = u.shape
    nstate = A.shape[1]
    nchunks = ckpt.shape[1]
    for job in prange(batch * groups):
        b = job // groups
        g = job % groups
        c0 = g * dim // groups
        c1 = (g + 1) * dim // groups
        nc = c1 - c0
        zero = np.zeros(1, dtype=u.dtype)[0]
        one = np.ones(1, dtype=u.dtype)[0]
        At = np.ascontiguousarray(A[c0:c1].T)
        Dg = D[c0:c1]
        bias = delta_bias[c0:c1]
        gh = np.zeros((nstate, nc), dtype=u.dtype)
        gAt = np.zeros((nstate, nc), dtype=u.dtype)
        gD_acc = np.zeros(nc, dtype=u.dtype)
        gbias_acc = np.zeros(nc, dtype=u.dtype)
        states = np.empty((chunk + 1, nstate, nc), dtype=u.dtype)
        ubuf = np.empty((chunk, nc), dtype=u.dtype)
        dtbuf = np.empty((chunk, nc), dtype=u.dtype)
        factor = np.empty((chunk, nc), dtype=u.dtype)
        gybuf = np.empty((chunk, nc), dtype=u.dtype)
        ybuf = np.empty((chunk, nc), dtype=u.dtype)
        zbuf = np.empty((chunk, nc), dtype=u.dtype)
        gubuf = np.empty((chunk, nc), dtype=u.dtype)
        gdtbuf = np.empty((chunk, nc), dtype=u.dtype)
        dtu = np.empty(nc, dtype=u.dtype)
        sum_dt = np.empty(nc, dtype=u.dtype)
        sum_b = np.empty(nc, dtype=u.dtype)
        for j in range(nchunks - 1, -1, -1):
            t0 = j * chunk
            steps = min(chunk, length - t0)
            load_chunk_time_major(u, b, c0, t0, ubuf[:steps])
            load_chunk_time_major(delta, b, c0, t0, dtbuf[:steps])
            delta_to_dt(dtbuf[:steps], bias, use_softplus, factor[:steps])
            load_chunk_time_major(gout, b, c0, t0, gybuf[:steps])
            states[0] = ckpt[b, j, :, c0:c1]
            for i in range(steps):
                t = t0 + i
                ui = ubuf[i]
                dti = dtbuf[i]
                yi = ybuf[i]
                for c in range(nc):
                    dtu[c] = dti[c] * ui[c]
                    yi[c] = Dg[c] * ui[c]
                for n in range(nstate):
                    Bn = B[b, n, t]
                    Cn = C[b, n, t]
                    An = At[n]
                    prev = states[i, n]
                    cur = states[i + 1, n]
                    for c in range(nc):
                        v = fast_exp(dti[c] * An[c]) * prev[c] + dtu[c] * Bn
                        cur[c] = v
                        yi[c] += Cn * v
            if gated:
                # out = y * silu(z): gy = gout * silu(z), gz = gout * y * silu'(z)
                load_chunk_time_major(z, b, c0, t0, zbuf[:steps])
                for i in range(steps):
                    yi = ybuf[i]
                    zi = zbuf[i]
                    gyi = gybuf[i]
                    for c in range(nc):
                        s = sigmoid(zi[c])
                        silu = zi[c] * s
                        gzv = gyi[c] * yi[c] * (s + silu * (one - s))
                        gyi[c] *= silu
                        yi[c] = gzv
                store_chunk_channel_major(ybuf[:steps], gz, b, c0, t0)
            for i in range(steps - 1, -1, -1):
                t = t0 + i
                ui = ubuf[i]
                dti = dtbuf[i]
                gy = gybuf[i]
                for c in range(nc):
                    dtu[c] = dti[c] * ui[c]
                    sum_dt[c] = zero
                    sum_b[c] = zero
                for n in range(nstate):
                    Bn = B[b, n, t]
                    Cn = C[b, n, t]
                    An = At[n]
                    ghn = gh[n]
                    gAn = gAt[n]
                    prev = states[i, n]
                    cur = states[i + 1, n]
                    acc_b = zero
                    acc_c = zero
                    for c in range(nc):
                        a = fast_exp(dti[c] * An[c])
                        g_h = ghn[c] + gy[c] * Cn
                        acc_c += gy[c] * cur[c]
                        g_x = g_h * prev[c] * a
                        sum_dt[c] += g_x * An[c]
                        gAn[c] += g_x * dti[c]
                        sum_b[c] += g_h * Bn
                        acc_b += g_h * dtu[c]
                        ghn[c] = g_h * a
                    gB_part[b, g, n, t] = acc_b
                    gC_part[b, g, n, t] = acc_c
                fi = factor[i]
                for c in range(nc):
                    gdv = (sum_dt[c] + ui[c] * sum_b[c]) * fi[c]
                    gdtbuf[i, c] = gdv
                    gbias_acc[c] += gdv
                    gubuf[i, c] = dti[c] * sum_b[c] + Dg[c] * gy[c]
                    gD_acc[c] += gy[c] * ui[c]
            store_chunk_channel_major(gubuf[:steps], gu, b, c0, t0)
            store_chunk_channel_major(gdtbuf[:steps], gdelta, b, c0, t0)
        gA[b, c0:c1, :] = gAt.T
        gD[b, c0:c1] = gD_acc
        gbias[b, c0:c1] = gbias_acc
