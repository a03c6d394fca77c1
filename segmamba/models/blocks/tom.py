"""Tri-orientated Mamba (ToM) mixer: one Mamba with forward, reverse and inter-slice directions.

Shared LayerNorm (in the enclosing layer), ``in_proj`` and ``out_proj``; a separate depthwise conv, x/dt
projections, A and D per direction, named as in the published checkpoints (suffix ``""``, ``"_b"``,
``"_s"``; ``A_log``, ``A_b_log``, ``A_s_log``). The direction outputs are summed before ``out_proj``.
With ``directions=("forward",)`` it is the plain (upstream) Mamba mixer used by the ablation variants.

The scan and the causal conv come from :mod:`segmamba.ops` (fused CUDA kernels when available, a fast CPU
path otherwise); the scan runs in float32 even under autocast, and ``A_log``/``D`` are float32 parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from segmamba.models.blocks.scan_order import DIRECTIONS, from_sequence, to_sequence
from segmamba.ops import causal_conv1d, selective_scan

DIRECTION_SUFFIX = {"forward": "", "reverse": "_b", "slice": "_s"}


def _a_log_name(direction: str) -> str:
    return f"A{DIRECTION_SUFFIX[direction]}_log"


class TriOrientedMamba(nn.Module):
    """Mamba mixer over one or more scan directions of a 3-D token grid (SegMamba ``bimamba_type="v3"``).

    Args:
        d_model: token channels C.
        d_state: SSM state size N, default ``16``.
        d_conv: depthwise conv width, default ``4``.
        expand: inner width factor (Din = expand * C), default ``2``.
        directions: scan directions, default ``("forward", "reverse", "slice")`` (ToM);
            ``("forward",)`` gives a plain Mamba mixer.
        dt_min, dt_max, dt_init_floor: range of the initial step sizes (upstream Mamba defaults).

    Shapes: ``forward(tokens, spatial_shape)`` with tokens B L C in raster order of ``spatial_shape``
    (D, H, W), L = D*H*W; returns B L C.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        directions: tuple[str, ...] = DIRECTIONS,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        unknown = [d for d in directions if d not in DIRECTIONS]
        if unknown or not directions or len(set(directions)) != len(directions):
            raise ValueError(f"directions must be distinct entries of {DIRECTIONS}, got {directions!r}")
        self.directions = tuple(directions)
        self.d_state = d_state
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        for direction in self.directions:
            self._add_direction(direction, d_conv, dt_min, dt_max, dt_init_floor)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _add_direction(self, direction: str, d_conv: int, dt_min: float, dt_max: float, dt_floor: float) -> None:
        """Create one direction's conv, projections, A_log and D, initialised as upstream Mamba."""
        suffix = DIRECTION_SUFFIX[direction]
        d_inner, rank, d_state = self.d_inner, self.dt_rank, self.d_state
        conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        x_proj = nn.Linear(d_inner, rank + 2 * d_state, bias=False)
        dt_proj = nn.Linear(rank, d_inner, bias=True)
        with torch.no_grad():
            nn.init.uniform_(dt_proj.weight, -(rank**-0.5), rank**-0.5)
            log_dt = torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
            dt = torch.exp(log_dt).clamp(min=dt_floor)
            dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        a_log = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)
        setattr(self, f"conv1d{suffix}", conv)
        setattr(self, f"x_proj{suffix}", x_proj)
        setattr(self, f"dt_proj{suffix}", dt_proj)
        setattr(self, _a_log_name(direction), nn.Parameter(a_log))
        setattr(self, f"D{suffix}", nn.Parameter(torch.ones(d_inner, dtype=torch.float32)))

    def _scan_direction(self, xz: torch.Tensor, direction: str) -> torch.Tensor:
        """Run one direction's conv + selective SSM + gate on its ordered sequence xz (B, 2 Din, L)."""
        suffix = DIRECTION_SUFFIX[direction]
        conv: nn.Conv1d = getattr(self, f"conv1d{suffix}")
        x_proj: nn.Linear = getattr(self, f"x_proj{suffix}")
        dt_proj: nn.Linear = getattr(self, f"dt_proj{suffix}")
        a_log: torch.Tensor = getattr(self, _a_log_name(direction))
        skip_d: torch.Tensor = getattr(self, f"D{suffix}")

        x, z = xz.chunk(2, dim=1)
        x = causal_conv1d(x, conv.weight.squeeze(1), conv.bias, activation="silu")
        x_dbl = F.linear(x.transpose(1, 2), x_proj.weight)  # (B, L, R + 2N)
        dt, b_ssm, c_ssm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, dt_proj.weight).transpose(1, 2)  # (B, Din, L); bias is added inside the scan
        return selective_scan(
            x,
            delta,
            -torch.exp(a_log.float()),
            b_ssm.transpose(1, 2).contiguous(),
            c_ssm.transpose(1, 2).contiguous(),
            D=skip_d.float(),
            z=z,
            delta_bias=dt_proj.bias.float(),
            delta_softplus=True,
        )

    def forward(self, tokens: torch.Tensor, spatial_shape: tuple[int, int, int]) -> torch.Tensor:
        """Mix tokens (B, L, C) laid out in raster order of ``spatial_shape`` (D, H, W); returns (B, L, C)."""
        xz = self.in_proj(tokens).transpose(1, 2).contiguous()  # (B, 2 Din, L)
        mixed = None
        for direction in self.directions:
            y = self._scan_direction(to_sequence(xz, direction, spatial_shape), direction)
            y = from_sequence(y, direction, spatial_shape)
            mixed = y if mixed is None else mixed + y
        return self.out_proj(mixed.transpose(1, 2))
