"""Forward FLOPs of a model at its training patch size, with the selective scan counted by a stated formula.

PyTorch's :class:`torch.utils.flop_counter.FlopCounterMode` counts the matrix products and convolutions it
sees (a length-k dot product as 2k FLOPs: k multiplies and k adds) and nothing else: no elementwise op, no
normalisation. The selective scan of the Mamba layers runs in kernels it cannot see (numba, Triton,
mamba-ssm's CUDA), so while counting, the scan of :mod:`segmamba.models.blocks.tom` is routed through the
custom op ``segmamba_cost::selective_scan``, whose FLOPs are given by :func:`selective_scan_flops`
(registered with ``register_flop_formula``). The op computes the ordinary scan on real tensors and only the
output's shape on the meta device, so :func:`forward_flops` runs the model on the meta device: no memory,
no arithmetic, seconds even for a paper-scale SegMamba at 128³.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

logger = logging.getLogger("segmamba.models")


def selective_scan_flops(
    batch: int,
    dim: int,
    length: int,
    d_state: int,
    has_d: bool = True,
    has_z: bool = True,
    has_delta_bias: bool = True,
) -> int:
    """Multiplies plus adds of one selective scan, counted as the sequential definition performs them.

    ``segmamba.ops.scan_reference.selective_scan_ref`` does, for each batch b, channel d and step t (with
    state size N), on (b, d, N) tensors::

        h_t = exp(dt_t * A) * h_{t-1} + (dt_t * B_t) * u_t     4 multiplies + 1 add per state element
        y_t = sum_n C_t[n] * h_t[n]                           N multiplies + (N - 1) adds

    that is 7N - 1 per (b, d, t); then per (b, d, t): ``dt + delta_bias`` (1 add, with ``delta_bias``),
    ``y + D * u`` (1 multiply + 1 add, with ``D``) and ``y * silu(z)`` (1 multiply, with the gate ``z``).
    Transcendental functions (exp, the softplus of dt, the sigmoid inside silu) are not counted, as
    FlopCounterMode counts no elementwise function either.

    Returns:
        ``batch * dim * length * (7 * d_state - 1 + has_delta_bias + 2 * has_d + has_z)``.
    """
    per_step = 7 * d_state - 1 + int(has_delta_bias) + 2 * int(has_d) + int(has_z)
    return batch * dim * length * per_step


@torch.library.custom_op("segmamba_cost::selective_scan", mutates_args=())
def counted_selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> torch.Tensor:
    """``segmamba.ops.selective_scan`` as one op FlopCounterMode sees (its FLOPs: :func:`selective_scan_flops`)."""
    from segmamba.ops import selective_scan

    return selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus).clone()


@counted_selective_scan.register_fake
def _counted_selective_scan_shape(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Output of the scan without computing it (meta device, fake tensors): u's shape and dtype."""
    return torch.empty_like(u)


@register_flop_formula(torch.ops.segmamba_cost.selective_scan)
def _scan_flop_formula(
    u_shape, delta_shape, A_shape, B_shape, C_shape, D_shape=None, z_shape=None, bias_shape=None, *args, **kwargs
) -> int:
    """FlopCounterMode's formula of ``segmamba_cost::selective_scan`` (arguments arrive as shapes)."""
    batch, dim, length = u_shape
    return selective_scan_flops(
        batch, dim, length, A_shape[1], D_shape is not None, z_shape is not None, bias_shape is not None
    )


def _scan_through_counted_op(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, **kwargs):
    """Drop-in for ``selective_scan`` inside the Mamba mixer while counting (no last state is requested there)."""
    if kwargs.get("return_last_state"):
        raise NotImplementedError("FLOP counting does not support return_last_state")
    return counted_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


@contextlib.contextmanager
def scans_visible_to_flop_counter() -> Iterator[None]:
    """Within the block, the Mamba mixer's scans run as ``segmamba_cost::selective_scan`` (see module docstring)."""
    from segmamba.models.blocks import tom

    original = tom.selective_scan
    tom.selective_scan = _scan_through_counted_op
    try:
        yield
    finally:
        tom.selective_scan = original


def count_forward_flops(model: torch.nn.Module, *inputs) -> int:
    """FLOPs of ``model(*inputs)`` (no gradient), the selective scans included, on the inputs' device."""
    with torch.no_grad(), scans_visible_to_flop_counter(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def forward_flops(spec: dict, patch_size: Sequence[int] | None = None, batch: int = 1) -> int | None:
    """Forward FLOPs of the model of a checkpoint ``spec`` (``segmamba.models.checkpoint.model_spec``) for
    ``batch`` patches of ``patch_size`` (default the spec's training patch), counted on the meta device.

    The model is built on the meta device, or on the CPU and moved there where its constructor needs real
    values (SwinUNETR). Returns None, with a warning naming the model and the error, when the count fails.
    """
    from segmamba.models.checkpoint import build_from_spec

    patch = tuple(int(p) for p in (patch_size or spec["patch_size"]))
    try:
        try:
            with torch.device("meta"):
                model = build_from_spec({**spec, "patch_size": list(patch)})
        except (RuntimeError, NotImplementedError):
            model = build_from_spec({**spec, "patch_size": list(patch)}).to("meta")
        inputs = torch.empty((batch, spec["in_channels"], *patch), device="meta")
        return count_forward_flops(model.eval(), inputs)
    except Exception as exc:  # noqa: BLE001 - any failure of an optional measurement becomes "not measured"
        logger.warning("forward FLOPs of %s at %s not counted: %s: %s", spec["name"], patch, type(exc).__name__, exc)
        return None
