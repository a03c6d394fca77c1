"""Reusable sub-modules of the project's networks (MONAI-style ``blocks``)."""

from segmamba.models.blocks.attention import GlobalSelfAttention
from segmamba.models.blocks.gsc import GSC_GATES, GatedSpatialConv
from segmamba.models.blocks.layers import ChannelsFirstLayerNorm, MlpChannel, TokenMixerLayer
from segmamba.models.blocks.scan_order import DIRECTIONS, from_sequence, sequence_order, to_sequence
from segmamba.models.blocks.tom import TriOrientedMamba
from segmamba.models.blocks.ux_block import UXBlock

__all__ = [
    "DIRECTIONS",
    "GSC_GATES",
    "ChannelsFirstLayerNorm",
    "GatedSpatialConv",
    "GlobalSelfAttention",
    "MlpChannel",
    "TokenMixerLayer",
    "TriOrientedMamba",
    "UXBlock",
    "from_sequence",
    "sequence_order",
    "to_sequence",
]
