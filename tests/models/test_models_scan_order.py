"""ToM scan orders: forward / reverse / inter-slice permutations, their inverses, and parity with the
published chunk interleave when nslices equals the stage depth."""

from __future__ import annotations

import pytest
import torch

from segmamba.models.blocks.scan_order import from_sequence, sequence_order, to_sequence

SHAPES = [(4, 3, 2), (3, 5, 2), (1, 4, 4), (5, 1, 3), (2, 2, 7)]


def depth_fastest_indices(depth: int, height: int, width: int) -> list[int]:
    """Expected inter-slice order written out with loops: for each (h, w) in raster order, all depths."""
    return [d * height * width + h * width + w for h in range(height) for w in range(width) for d in range(depth)]


def published_interleave(tokens: torch.Tensor, nslices: int) -> torch.Tensor:
    """The published inter-slice reorder: split L into nslices chunks, stack them on a new last axis, flatten."""
    return torch.stack(tokens.chunk(nslices, dim=-1), dim=-1).flatten(-2)


def published_deinterleave(sequence: torch.Tensor, nslices: int) -> torch.Tensor:
    """The published inverse: view as (..., L / nslices, nslices), swap the last two axes, flatten."""
    *lead, length = sequence.shape
    return sequence.view(*lead, length // nslices, nslices).transpose(-1, -2).flatten(-2)


def test_spec_example_slice_order_4_3_2():
    order = sequence_order("slice", (4, 3, 2)).tolist()
    assert order[:9] == [0, 6, 12, 18, 1, 7, 13, 19, 2]
    assert order == depth_fastest_indices(4, 3, 2)


@pytest.mark.parametrize("shape", SHAPES)
def test_orders_match_index_definitions(shape):
    length = shape[0] * shape[1] * shape[2]
    assert sequence_order("forward", shape).tolist() == list(range(length))
    assert sequence_order("reverse", shape).tolist() == list(range(length - 1, -1, -1))
    assert sequence_order("slice", shape).tolist() == depth_fastest_indices(*shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("direction", ["forward", "reverse", "slice"])
def test_to_sequence_is_a_gather_and_from_sequence_inverts_it(shape, direction):
    length = shape[0] * shape[1] * shape[2]
    tokens = torch.randn(2, 3, length)
    order = torch.tensor(
        {"forward": list(range(length)), "reverse": list(range(length))[::-1], "slice": depth_fastest_indices(*shape)}[
            direction
        ]
    )
    sequence = to_sequence(tokens, direction, shape)
    assert torch.equal(sequence, tokens[..., order])
    assert torch.equal(from_sequence(sequence, direction, shape), tokens)
    assert torch.equal(to_sequence(from_sequence(tokens, direction, shape), direction, shape), tokens)


def test_slice_order_visits_depth_fastest_on_a_real_grid():
    depth, height, width = 3, 2, 4
    grid = torch.zeros(1, 3, depth, height, width)
    grid[0, 0] = torch.arange(depth).view(depth, 1, 1)
    grid[0, 1] = torch.arange(height).view(1, height, 1)
    grid[0, 2] = torch.arange(width).view(1, 1, width)
    sequence = to_sequence(grid.flatten(2), "slice", (depth, height, width))[0]
    assert sequence[0, :6].tolist() == [0, 1, 2, 0, 1, 2]  # depth cycles fastest
    assert sequence[2, :6].tolist() == [0, 0, 0, 1, 1, 1]  # then the last axis
    assert sequence[1, :12].tolist() == [0] * 12  # height changes slowest


@pytest.mark.parametrize("size, nslices", [(64, 64), (32, 32), (16, 16), (8, 8)])
def test_slice_order_equals_published_interleave_at_128_cubed_stage_shapes(size, nslices):
    shape = (size, size, size)
    tokens = torch.arange(size**3, dtype=torch.float64).view(1, 1, -1)
    assert torch.equal(to_sequence(tokens, "slice", shape), published_interleave(tokens, nslices))
    sequence = torch.randn(1, 2, size**3)
    assert torch.equal(from_sequence(sequence, "slice", shape), published_deinterleave(sequence, nslices))


def test_published_interleave_is_not_depth_order_when_nslices_differs_from_depth():
    shape = (4, 8, 8)  # depth 4 but the published fixed list would use nslices 8 at this stage
    tokens = torch.arange(4 * 8 * 8).view(1, 1, -1)
    assert not torch.equal(to_sequence(tokens, "slice", shape), published_interleave(tokens, 8))
    assert torch.equal(to_sequence(tokens, "slice", shape), published_interleave(tokens, 4))


def test_bad_direction_and_length_raise():
    with pytest.raises(ValueError, match="direction"):
        to_sequence(torch.zeros(1, 1, 8), "diagonal", (2, 2, 2))
    with pytest.raises(ValueError, match="length"):
        to_sequence(torch.zeros(1, 1, 9), "slice", (2, 2, 2))
