"""The tri-orientated Mamba mixer: direction wiring, parameter sharing, initialisation and precision."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segmamba.models.blocks import TriOrientedMamba
from segmamba.models.blocks.tom import DIRECTION_SUFFIX

PER_DIRECTION = ("conv1d{s}.weight", "conv1d{s}.bias", "x_proj{s}.weight", "dt_proj{s}.weight", "dt_proj{s}.bias")


def forward_only_copy(tom: TriOrientedMamba, direction: str) -> TriOrientedMamba:
    """A forward-only mixer carrying the shared projections and ``direction``'s own parameters."""
    single = TriOrientedMamba(tom.in_proj.in_features, directions=("forward",))
    suffix = DIRECTION_SUFFIX[direction]
    source = tom.state_dict()
    state = {
        "in_proj.weight": source["in_proj.weight"],
        "out_proj.weight": source["out_proj.weight"],
        "A_log": source[f"A{suffix}_log"],
        "D": source[f"D{suffix}"],
    }
    for template in PER_DIRECTION:
        state[template.format(s="")] = source[template.format(s=suffix)]
    single.load_state_dict(state, strict=True)
    return single


def test_tom_is_the_sum_of_three_independently_ordered_scans():
    torch.manual_seed(0)
    depth, height, width, channels = 3, 2, 4, 8
    tom = TriOrientedMamba(channels)
    tokens = torch.randn(2, depth * height * width, channels)
    # raster index visited at each step of the inter-slice scan, written out independently of the model
    slice_order = torch.tensor(
        [d * height * width + h * width + w for h in range(height) for w in range(width) for d in range(depth)]
    )
    slice_inverse = torch.argsort(slice_order)
    expected = forward_only_copy(tom, "forward")(tokens, (depth, height, width))
    reverse = forward_only_copy(tom, "reverse")(tokens.flip(1), (depth, height, width)).flip(1)
    sliced = forward_only_copy(tom, "slice")(tokens[:, slice_order], (height, width, depth))[:, slice_inverse]
    expected = expected + reverse + sliced
    torch.testing.assert_close(tom(tokens, (depth, height, width)), expected, rtol=1e-5, atol=1e-5)


def test_scan_order_matters_for_each_direction():
    torch.manual_seed(1)
    tom = TriOrientedMamba(8)
    tokens = torch.randn(1, 3 * 2 * 4, 8)
    reverse = forward_only_copy(tom, "reverse")
    assert not torch.allclose(reverse(tokens.flip(1), (3, 2, 4)).flip(1), reverse(tokens, (3, 2, 4)), atol=1e-4)
    sliced = forward_only_copy(tom, "slice")
    permuted = tokens.view(1, 3, 2, 4, 8).permute(0, 2, 3, 1, 4).reshape(1, 24, 8)
    unpermuted = sliced(permuted, (2, 4, 3)).view(1, 2, 4, 3, 8).permute(0, 3, 1, 2, 4).reshape(1, 24, 8)
    assert not torch.allclose(unpermuted, sliced(tokens, (3, 2, 4)), atol=1e-4)


def test_parameter_sharing_and_shapes_follow_the_spec():
    tom = TriOrientedMamba(48)
    shapes = {name: tuple(p.shape) for name, p in tom.named_parameters()}
    assert shapes["in_proj.weight"] == (192, 48)
    assert shapes["out_proj.weight"] == (48, 96)
    for suffix in ("", "_b", "_s"):
        assert shapes[f"conv1d{suffix}.weight"] == (96, 1, 4)
        assert shapes[f"x_proj{suffix}.weight"] == (3 + 32, 96)
        assert shapes[f"dt_proj{suffix}.weight"] == (96, 3)
        assert shapes[f"A{suffix}_log"] == (96, 16)
        assert shapes[f"D{suffix}"] == (96,)
    assert sum(p.numel() for p in tom.parameters()) + 2 * 48 == 31_488  # + the layer's LayerNorm (published model code)
    assert not any(name.startswith(("in_proj_", "out_proj_")) for name in shapes)


def test_initialisation_as_upstream_mamba():
    torch.manual_seed(2)
    tom = TriOrientedMamba(64)
    rank = math.ceil(64 / 16)
    for suffix in ("", "_b", "_s"):
        a_log = getattr(tom, f"A{suffix}_log")
        assert a_log.dtype == torch.float32
        torch.testing.assert_close(a_log[5], torch.log(torch.arange(1.0, 17.0)))
        assert torch.equal(getattr(tom, f"D{suffix}"), torch.ones(128))
        dt_proj = getattr(tom, f"dt_proj{suffix}")
        assert dt_proj.weight.abs().max() <= rank**-0.5
        step = F.softplus(dt_proj.bias)
        assert step.min() >= 1e-3 * (1 - 1e-4) and step.max() <= 1e-1 * (1 + 1e-4)
    assert not torch.equal(tom.dt_proj.bias, tom.dt_proj_b.bias)  # each direction initialised independently
    assert not torch.equal(tom.dt_proj_b.bias, tom.dt_proj_s.bias)


def test_scan_parameters_stay_float32_under_autocast():
    torch.manual_seed(3)
    tom = TriOrientedMamba(16)
    tokens = torch.randn(1, 2 * 2 * 3, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tom(tokens, (2, 2, 3))
    assert tom.A_s_log.dtype == torch.float32 and tom.D_b.dtype == torch.float32
    assert torch.isfinite(out.float()).all()
    reference = tom(tokens, (2, 2, 3))
    torch.testing.assert_close(out.float(), reference, rtol=0.1, atol=0.05)


def test_gradients_reach_every_direction():
    torch.manual_seed(4)
    tom = TriOrientedMamba(8)
    tom(torch.randn(1, 2 * 3 * 2, 8), (2, 3, 2)).square().sum().backward()
    for name, parameter in tom.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("directions", [(), ("forward", "forward"), ("up",)])
def test_invalid_directions_raise(directions):
    with pytest.raises(ValueError, match="directions"):
        TriOrientedMamba(8, directions=directions)
