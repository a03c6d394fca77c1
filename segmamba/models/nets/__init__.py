"""Whole networks (MONAI-style ``nets``): SegMamba and its variants, 3D UX-Net, MONAI baseline builders."""

from segmamba.models.nets.monai_baselines import build_mednext, build_segresnet, build_swinunetr, build_unetr
from segmamba.models.nets.segmamba import MambaEncoder, SegMamba
from segmamba.models.nets.shared_decoder import UnetrStyleNet
from segmamba.models.nets.uxnet import UXNet, UXNetEncoder

__all__ = [
    "MambaEncoder",
    "SegMamba",
    "UXNet",
    "UXNetEncoder",
    "UnetrStyleNet",
    "build_mednext",
    "build_segresnet",
    "build_swinunetr",
    "build_unetr",
]
