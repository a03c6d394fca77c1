"""nnU-Net ResEnc M as nnU-Net v2.8.1's planner configures it for an isotropic 128^3 patch (no torch needed).

Source: nnunetv2 2.8.1, ``experiment_planning/experiment_planners/residual_unets/
residual_encoder_unet_planners.py`` (``ResEncUNetPlanner.get_plans_for_configuration`` and
``nnUNetPlannerResEncM``: 8 GB target, ``UNet_reference_val_3d`` 680,000,000), with the topology of
``experiment_planning/experiment_planners/network_topology.py`` (``get_pool_and_conv_props``) and the base
values of ``default_experiment_planner.py`` (``ExperimentPlanner.__init__``). Running that planner logic for
4-channel, 4-label data at 1 mm isotropic spacing whose median shape is 128^3 gives patch 128^3, batch size 2,
and these ``arch_kwargs`` for ``dynamic_network_architectures.architectures.unet.ResidualEncoderUNet``:

- ``n_stages`` 6: every axis is pooled while the coarsest feature map keeps an edge of at least 4
  (``UNet_featuremap_min_edge_length`` 4): 128 / 2^5 = 4;
- ``features_per_stage`` ``min(320, 32 * 2^i)`` (``UNet_base_num_features`` 32, ``UNet_max_features_3d`` 320):
  (32, 64, 128, 256, 320, 320);
- ``n_blocks_per_stage`` (1, 3, 4, 6, 6, 6): ``UNet_blocks_per_stage_encoder`` (1, 3, 4, 6, 6, 6, ...) cut to
  the stage count; ``n_conv_per_stage_decoder`` (1, 1, 1, 1, 1): ``UNet_blocks_per_stage_decoder``;
- ``kernel_sizes`` [3, 3, 3] in every stage; ``strides`` [1, 1, 1] then [2, 2, 2] five times (isotropic spacing);
- ``conv_op`` Conv3d, ``conv_bias`` True, ``norm_op`` InstanceNorm3d with ``{"eps": 1e-5, "affine": True}``,
  ``dropout_op`` None, ``nonlin`` LeakyReLU with ``{"inplace": True}`` (negative slope 0.01, torch's default);
- the network is built by ``get_network_from_plans`` and initialised with ``network.apply(network.initialize)``
  (He normal with negative slope 1e-2, zero biases, the last norm of every residual block zeroed).
"""

RESENC_M_128 = {
    "features_per_stage": (32, 64, 128, 256, 320, 320),
    "n_blocks_per_stage": (1, 3, 4, 6, 6, 6),
    "n_conv_per_stage_decoder": (1, 1, 1, 1, 1),
}
"""The planner's stage widths and depths for a 128^3 isotropic patch: the registry's overridable defaults."""

KERNEL_SIZE = (3, 3, 3)
"""Convolution kernel of every stage (isotropic spacing)."""

CONV_BIAS = True
NORM_KWARGS = {"eps": 1e-5, "affine": True}
NONLIN_KWARGS = {"inplace": True}


def stage_strides(n_stages: int) -> list[tuple[int, int, int]]:
    """The planner's strides for isotropic spacing: the first stage at full resolution, then halve every axis."""
    return [(1, 1, 1)] + [(2, 2, 2)] * (n_stages - 1)
