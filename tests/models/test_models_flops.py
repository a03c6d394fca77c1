"""FLOP counting: the selective scan's formula against a direct count of the reference loop, and whole models."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from segmamba.models.checkpoint import model_spec
from segmamba.models.flops import count_forward_flops, counted_selective_scan, forward_flops, selective_scan_flops
from segmamba.ops.scan_reference import selective_scan_ref

aten = torch.ops.aten


@pytest.fixture(autouse=True)
def torch_scan(monkeypatch):
    """The counted op runs the real scan on real tensors: the plain-torch one here (no numba compilation)."""
    monkeypatch.setenv("SEGMAMBA_SCAN_BACKEND", "torch")


TINY_MAMBA = {"feat_size": [4, 8, 8, 8], "hidden_size": 8, "depths": [1, 1, 1, 1]}


class ElementaryOps(TorchDispatchMode):
    """Counts the multiplies and adds the ops perform: one per output element of a multiply or add, and
    (inputs - outputs) adds for a sum; every other op (exp, softplus, silu, copies, views) counts nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.multiplies = self.adds = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is aten.mul.Tensor:
            self.multiplies += out.numel()
        elif func is aten.add.Tensor:
            self.adds += out.numel()
        elif func is aten.sum.dim_IntList:
            self.adds += args[0].numel() - out.numel()
        return out


def scan_inputs(batch: int, dim: int, length: int, state: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    return {
        "u": rand(batch, dim, length),
        "delta": rand(batch, dim, length),
        "A": -rand(dim, state).abs(),
        "B": rand(batch, state, length),
        "C": rand(batch, state, length),
        "D": rand(dim),
        "z": rand(batch, dim, length),
        "delta_bias": rand(dim),
    }


def test_formula_by_hand_for_one_tiny_scan():
    # b=1, d=2, L=3, N=4: per (b, d, t) the state update is 4*4 multiplies + 4 adds, y = C.h is 4 multiplies
    # + 3 adds (27), plus 1 add for delta_bias, 1 multiply + 1 add for D*u, 1 multiply for the gate: 31.
    assert selective_scan_flops(1, 2, 3, 4) == 6 * 31
    assert selective_scan_flops(1, 2, 3, 4, has_d=False, has_z=False, has_delta_bias=False) == 6 * 27
    assert selective_scan_flops(2, 5, 7, 1, has_z=False) == 70 * (7 - 1 + 1 + 2)


@pytest.mark.parametrize(
    ("shape", "optional"),
    [((1, 2, 3, 4), ("D", "z", "delta_bias")), ((2, 3, 5, 2), ()), ((1, 4, 6, 3), ("D",)), ((2, 1, 4, 5), ("z",))],
)
def test_formula_equals_the_multiplies_and_adds_of_the_reference_loop(shape, optional):
    inputs = scan_inputs(*shape)
    for name in ("D", "z", "delta_bias"):
        if name not in optional:
            inputs[name] = None
    with ElementaryOps() as ops:
        selective_scan_ref(**inputs, delta_softplus=True)
    expected = selective_scan_flops(
        *shape, has_d="D" in optional, has_z="z" in optional, has_delta_bias="delta_bias" in optional
    )
    assert ops.multiplies + ops.adds == expected


def test_flop_counter_sees_the_registered_scan_formula_and_the_op_computes_the_scan():
    inputs = scan_inputs(2, 3, 5, 4, seed=1)
    with FlopCounterMode(display=False) as counter:
        out = counted_selective_scan(**inputs, delta_softplus=True)
    assert counter.get_total_flops() == 2 * 3 * 5 * (7 * 4 - 1 + 4)
    torch.testing.assert_close(out, selective_scan_ref(**inputs, delta_softplus=True))


def test_mixer_flops_are_its_projections_convs_and_three_scans():
    from segmamba.models.blocks.tom import TriOrientedMamba

    channels, state, tokens = 32, 2, (2, 2, 3)  # dt rank ceil(32 / 16) = 2 (a rank-1 product is no matmul)
    mixer = TriOrientedMamba(channels, d_state=state, d_conv=4, expand=2)
    length, inner, rank = 12, 64, 2
    flops = count_forward_flops(mixer, torch.randn(1, length, channels), tokens)
    in_proj = 2 * length * channels * 2 * inner
    out_proj = 2 * length * inner * channels
    # per direction: the causal depthwise conv (width 4, one output per step), x_proj, dt_proj, the scan
    conv = 2 * inner * 4 * length
    x_proj = 2 * length * inner * (rank + 2 * state)
    dt_proj = 2 * length * rank * inner
    scan = selective_scan_flops(1, inner, length, state)
    assert flops == in_proj + out_proj + 3 * (conv + x_proj + dt_proj + scan)


def test_meta_count_of_a_segmamba_equals_the_count_on_real_tensors():
    spec = model_spec("segmamba", 2, 3, (32, 32, 32), TINY_MAMBA)
    meta = forward_flops(spec)
    from segmamba.models.checkpoint import build_from_spec

    torch.manual_seed(0)
    real = count_forward_flops(build_from_spec(spec).eval(), torch.randn(1, 2, 32, 32, 32))
    assert meta == real
    # the scans are in it: the same model without them counts less
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        build_from_spec(spec).eval()(torch.randn(1, 2, 32, 32, 32))
    assert counter.get_total_flops() < real


def test_a_model_that_cannot_be_counted_gives_none_and_a_warning(caplog):
    spec = model_spec("segresnet", 1, 2, (32, 32, 32), {"init_filters": 4})
    spec["in_channels"] = 3  # the input does not fit the first convolution: the count fails
    with caplog.at_level("WARNING"):
        assert forward_flops(spec) is None
    assert "segresnet" in caplog.text


def test_scans_of_a_segmamba_are_three_directions_per_mamba_layer_of_every_stage(monkeypatch):
    from segmamba.models.blocks import tom
    from segmamba.models.checkpoint import build_from_spec

    spec = model_spec("segmamba", 4, 4, (32, 32, 32), {**TINY_MAMBA, "feat_size": [8, 16, 32, 64]})
    total = forward_flops(spec)
    with torch.device("meta"):
        model = build_from_spec(spec).eval()
    monkeypatch.setattr(tom, "selective_scan", lambda u, *args, **kwargs: torch.empty_like(u))  # uncounted
    with torch.no_grad(), FlopCounterMode(display=False) as without_scans:
        model(torch.empty(1, 4, 32, 32, 32, device="meta"))
    # stage s (one Mamba layer each): (16 / 2**s)³ tokens, inner width 2 * feat_size[s], state 16; per token and
    # channel 7 * 16 - 1 = 111, + 1 (delta_bias) + 2 (D skip) + 1 (z gate) = 115; three directions
    expected = sum(3 * (16 // 2**s) ** 3 * 2 * width * 115 for s, width in enumerate([8, 16, 32, 64]))
    assert expected == 30_028_800
    assert total - without_scans.get_total_flops() == expected
