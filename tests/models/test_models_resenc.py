"""nnU-Net ResEnc M: the built network against the numbers of nnU-Net v2.8.1's ResEnc M planner for a 128^3
isotropic patch, its parameter count against a count worked out from the configuration, and single-output
training (every parameter gets a gradient)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segmamba.errors import ConfigError
from segmamba.models import build_model, count_parameters, min_input_multiple, min_input_size, model_parameter_count

# nnU-Net v2.8.1, nnUNetPlannerResEncM, 4 channels, 1 mm isotropic, 128^3 patch: plans["architecture"]["arch_kwargs"]
PLANNED_128 = {
    "n_stages": 6,
    "features_per_stage": [32, 64, 128, 256, 320, 320],
    "kernel_sizes": [[3, 3, 3]] * 6,
    "strides": [[1, 1, 1]] + [[2, 2, 2]] * 5,
    "n_blocks_per_stage": [1, 3, 4, 6, 6, 6],
    "n_conv_per_stage_decoder": [1, 1, 1, 1, 1],
    "conv_bias": True,
    "norm_op_kwargs": {"eps": 1e-5, "affine": True},
    "negative_slope": 0.01,
}
DEMO = {
    "features_per_stage": [8, 16, 32, 64],
    "n_blocks_per_stage": [1, 3, 4, 6],
    "n_conv_per_stage_decoder": [1, 1, 1],
}


def expected_parameters(in_channels, classes, features, blocks, decoder_convs):
    """Parameters of a residual-encoder U-Net, counted from its definition: stem conv; per stage residual
    blocks of two 3^3 convs (bias) + affine InstanceNorms, a 1^3 projection (no bias) + norm where the width
    changes; per decoder stage a 2^3 transposed conv (bias) and 3^3 convs on the concatenation; a 1^3 head."""

    def conv(cin, cout, kernel, bias=True):
        return cin * cout * kernel**3 + (cout if bias else 0) + 2 * cout  # + the affine norm after it

    total, previous = conv(in_channels, features[0], 3), features[0]
    for width, count in zip(features, blocks, strict=True):
        total += conv(previous, width, 3) + conv(width, width, 3)
        total += conv(previous, width, 1, bias=False) if previous != width else 0
        total += (count - 1) * 2 * conv(width, width, 3)
        previous = width
    for level in range(len(features) - 1, 0, -1):
        below, skip = features[level], features[level - 1]
        total += below * skip * 2**3 + skip
        total += conv(2 * skip, skip, 3) + (decoder_convs[level - 1] - 1) * conv(skip, skip, 3)
    return total + features[0] * classes + classes


@pytest.fixture(scope="module")
def planned():
    """The registry's nnunet_resenc_m at its defaults, 4 channels and 4 classes, on the meta device."""
    with torch.device("meta"):
        return build_model("nnunet_resenc_m", 4, 4, patch_size=128)


def test_configuration_is_the_resenc_m_plan_for_128_cubed(planned):
    encoder, decoder = planned.encoder, planned.decoder
    assert len(encoder.stages) == PLANNED_128["n_stages"]
    assert list(encoder.output_channels) == PLANNED_128["features_per_stage"]
    assert [list(s) for s in encoder.strides] == PLANNED_128["strides"]
    assert [list(k) for k in encoder.kernel_sizes] == PLANNED_128["kernel_sizes"]
    assert [len(stage.blocks) for stage in encoder.stages] == PLANNED_128["n_blocks_per_stage"]
    assert [len(stage.convs) for stage in decoder.stages] == PLANNED_128["n_conv_per_stage_decoder"]
    for stage, stride in zip(encoder.stages, PLANNED_128["strides"], strict=True):
        first = stage.blocks[0]
        assert list(first.conv1.conv.stride) == stride and list(first.conv2.conv.stride) == [1, 1, 1]
    assert encoder.stem.convs[0].conv.in_channels == 4 and encoder.stem.convs[0].conv.out_channels == 32
    assert [t.kernel_size for t in decoder.transpconvs] == [(2, 2, 2)] * 5
    assert decoder.deep_supervision is False


def test_norm_nonlinearity_bias_and_no_dropout(planned):
    modules = list(planned.modules())
    norms = [m for m in modules if isinstance(m, nn.InstanceNorm3d)]
    assert norms and all(n.eps == PLANNED_128["norm_op_kwargs"]["eps"] and n.affine for n in norms)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm | nn.modules.dropout._DropoutNd) for m in modules)
    activations = [m for m in modules if isinstance(m, nn.LeakyReLU)]
    assert activations and all(a.negative_slope == PLANNED_128["negative_slope"] and a.inplace for a in activations)
    convs = [m for m in modules if isinstance(m, nn.Conv3d | nn.ConvTranspose3d)]
    projections = [m for m in convs if m.kernel_size == (1, 1, 1) and m.out_channels != 4]
    assert all(c.bias is not None for c in convs if c not in projections)  # conv_bias=True
    assert projections and all(c.bias is None for c in projections)  # the residual projections have none


def test_parameter_count_at_128_cubed_matches_the_count_from_the_configuration(planned):
    expected = expected_parameters(
        4,
        4,
        PLANNED_128["features_per_stage"],
        PLANNED_128["n_blocks_per_stage"],
        PLANNED_128["n_conv_per_stage_decoder"],
    )
    assert count_parameters(planned) == expected == 102_350_884
    assert model_parameter_count("nnunet_resenc_m", 4, 4) == expected
    demo = model_parameter_count("nnunet_resenc_m", 4, 4, patch_size=32, **DEMO)
    assert demo == expected_parameters(4, 4, *DEMO.values()) == 1_622_188


def test_single_output_trains_every_parameter_and_starts_like_nnunet():
    torch.manual_seed(0)
    model = build_model("nnunet_resenc_m", 2, 3, patch_size=(32, 16, 48), **DEMO)
    block = model.encoder.stages[1].blocks[0]
    assert torch.count_nonzero(block.conv2.norm.weight) == 0 and torch.count_nonzero(block.conv1.conv.bias) == 0
    out = model(torch.randn(2, 2, 32, 16, 48))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 32, 16, 48)
    torch.nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 32, 16, 48))).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_input_size_rules_follow_the_stage_count():
    assert min_input_multiple("nnunet_resenc_m") == 32 and min_input_size("nnunet_resenc_m") == 64
    assert min_input_multiple("nnunet_resenc_m", **DEMO) == 8 and min_input_size("nnunet_resenc_m", **DEMO) == 16
    with pytest.raises(ConfigError, match="patch size"):
        build_model("nnunet_resenc_m", 4, 4, patch_size=32)  # 6 stages: one voxel at the bottleneck


@pytest.mark.parametrize(
    "overrides",
    [{"n_blocks_per_stage": [1, 3, 4]}, {"n_conv_per_stage_decoder": [1, 1, 1, 1, 1, 1]}, {"n_stages": 4}],
)
def test_inconsistent_overrides_are_config_errors(overrides):
    with pytest.raises(ConfigError, match="nnunet_resenc_m"):
        build_model("nnunet_resenc_m", 4, 4, patch_size=128, **overrides)
