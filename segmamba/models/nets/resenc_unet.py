"""nnU-Net's residual-encoder U-Net, ResEnc M (Isensee et al., "nnU-Net Revisited", MICCAI 2024,
https://arxiv.org/abs/2404.09556), built with dynamic-network-architectures (MIC-DKFZ's network package).

The configuration (stages, widths, blocks, kernels, strides, norm, nonlinearity, bias, initialisation) is what
nnU-Net v2.8.1's ResEnc M planner writes for an isotropic 128^3 patch; the numbers and their source are in
:mod:`segmamba.models.resenc_plan`.

Deviation from nnU-Net, so that the common single-output recipe applies: deep supervision is off (one output at
full resolution), and the lower-resolution segmentation heads that dynamic-network-architectures builds anyway
(only so that deep-supervision checkpoints load) are removed, so that every parameter trains (DDP needs that).
The network sees this project's (X, Y, Z) arrays as they are: with 3^3 kernels and isotropic strides its
function family does not depend on the axis order, and no nnU-Net checkpoint is meant to be loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from segmamba.models.resenc_plan import CONV_BIAS, KERNEL_SIZE, NONLIN_KWARGS, NORM_KWARGS, RESENC_M_128, stage_strides


def build_resenc_unet(
    in_channels: int,
    out_channels: int,
    patch_size: Sequence[int],
    features_per_stage: Sequence[int] = RESENC_M_128["features_per_stage"],
    n_blocks_per_stage: Sequence[int] = RESENC_M_128["n_blocks_per_stage"],
    n_conv_per_stage_decoder: Sequence[int] = RESENC_M_128["n_conv_per_stage_decoder"],
) -> nn.Module:
    """nnU-Net ResEnc M as planned for a 128^3 isotropic patch (defaults), single output; patch_size is unused.

    Args:
        in_channels: input channels.
        out_channels: classes (logits, background included).
        patch_size: training patch (the stage count fixes which sizes run; see the registry's input rules).
        features_per_stage: channels of each resolution stage (their number is the stage count).
        n_blocks_per_stage: residual blocks per encoder stage (one entry per stage).
        n_conv_per_stage_decoder: convolutions per decoder stage (one entry fewer than stages).

    Raises:
        ValueError: inconsistent stage lists.
    """
    from dynamic_network_architectures.architectures.unet import ResidualEncoderUNet

    n_stages = len(features_per_stage)
    if n_stages < 2 or len(n_blocks_per_stage) != n_stages or len(n_conv_per_stage_decoder) != n_stages - 1:
        raise ValueError(
            f"need at least 2 stages, one n_blocks_per_stage entry per stage and one n_conv_per_stage_decoder entry "
            f"fewer; got features_per_stage {list(features_per_stage)}, n_blocks_per_stage "
            f"{list(n_blocks_per_stage)}, n_conv_per_stage_decoder {list(n_conv_per_stage_decoder)}"
        )
    if min(*features_per_stage, *n_blocks_per_stage, *n_conv_per_stage_decoder) < 1:
        raise ValueError("features_per_stage, n_blocks_per_stage and n_conv_per_stage_decoder must be positive")
    network = ResidualEncoderUNet(
        input_channels=in_channels,
        n_stages=n_stages,
        features_per_stage=list(features_per_stage),
        conv_op=nn.Conv3d,
        kernel_sizes=[KERNEL_SIZE] * n_stages,
        strides=stage_strides(n_stages),
        n_blocks_per_stage=list(n_blocks_per_stage),
        num_classes=out_channels,
        n_conv_per_stage_decoder=list(n_conv_per_stage_decoder),
        conv_bias=CONV_BIAS,
        norm_op=nn.InstanceNorm3d,
        norm_op_kwargs=dict(NORM_KWARGS),
        dropout_op=None,
        dropout_op_kwargs=None,
        nonlin=nn.LeakyReLU,
        nonlin_kwargs=dict(NONLIN_KWARGS),
        deep_supervision=False,
    )
    network.apply(network.initialize)
    heads = network.decoder.seg_layers
    network.decoder.seg_layers = nn.ModuleList([nn.Identity() for _ in heads[:-1]] + [heads[-1]])
    return network
