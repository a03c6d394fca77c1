"""Builders for the MONAI 1.6.1 baselines with each baseline paper's configuration (docs/deviations.md).

Each builder takes (in_channels, out_channels, patch_size, **kwargs) where kwargs are the MONAI constructor
keywords the registry allows to be overridden.
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.networks.nets.mednext import MedNeXt
from monai.networks.nets.segresnet import SegResNet
from monai.networks.nets.swin_unetr import SwinUNETR
from monai.networks.nets.unetr import UNETR
from torch import nn


def build_segresnet(in_channels: int, out_channels: int, patch_size: Sequence[int], **kwargs) -> nn.Module:
    """MONAI SegResNet (Myronenko 2018, https://arxiv.org/abs/1810.11654); patch_size is unused."""
    return SegResNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, **kwargs)


def build_mednext(in_channels: int, out_channels: int, patch_size: Sequence[int], **kwargs) -> nn.Module:
    """MONAI MedNeXt (Roy et al. 2023, https://arxiv.org/abs/2303.09975) with every argument explicit
    (the defaults reproduce the ``MedNeXtB`` factory); no deep supervision, patch_size is unused."""
    return MedNeXt(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, deep_supervision=False, **kwargs)


def build_unetr(in_channels: int, out_channels: int, patch_size: Sequence[int], **kwargs) -> nn.Module:
    """MONAI UNETR (Hatamizadeh et al. 2022, https://arxiv.org/abs/2103.10504) with img_size = patch_size
    (the model then accepts exactly that input size)."""
    return UNETR(in_channels=in_channels, out_channels=out_channels, img_size=tuple(patch_size), **kwargs)


def build_swinunetr(in_channels: int, out_channels: int, patch_size: Sequence[int], **kwargs) -> nn.Module:
    """MONAI SwinUNETR (https://arxiv.org/abs/2201.01266; ``use_v2=True`` gives SwinUNETR-V2,
    https://doi.org/10.1007/978-3-031-43901-8_40); patch_size is unused (MONAI 1.6.1 has no img_size)."""
    return SwinUNETR(in_channels=in_channels, out_channels=out_channels, spatial_dims=3, **kwargs)
