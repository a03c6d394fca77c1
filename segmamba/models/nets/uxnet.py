"""3D UX-Net (Lee et al., ICLR 2023, https://arxiv.org/abs/2209.15076), re-implemented from the paper."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segmamba.models.blocks import ChannelsFirstLayerNorm, UXBlock
from segmamba.models.nets.shared_decoder import UnetrStyleNet


class UXNetEncoder(nn.Module):
    """UX-Net encoder (``uxnet_3d``): stem conv 7^3/2 + LN, then per stage (LN + conv 2^3/2 from stage 1)
    and ``depths[i]`` UX blocks; stage i returns ``norm{i}`` (a channel LayerNorm) of its output.

    Args:
        in_chans: input channels.
        depths: UX blocks per stage.
        dims: channels per stage.
        drop_path_rate: maximum stochastic-depth rate (linear over all blocks).
        layer_scale_init_value: initial layer scale of every block.
    """

    def __init__(
        self,
        in_chans: int,
        depths: Sequence[int],
        dims: Sequence[int],
        drop_path_rate: float,
        layer_scale_init_value: float,
    ) -> None:
        super().__init__()
        stem = nn.Sequential(
            nn.Conv3d(in_chans, dims[0], kernel_size=7, stride=2, padding=3), ChannelsFirstLayerNorm(dims[0])
        )
        downsamples = [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i - 1]), nn.Conv3d(dims[i - 1], dims[i], kernel_size=2, stride=2))
            for i in range(1, len(dims))
        ]
        self.downsample_layers = nn.ModuleList([stem, *downsamples])
        total = sum(depths)
        rates = [drop_path_rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.stages = nn.ModuleList(
            nn.Sequential(*[UXBlock(d, rates[start + j], layer_scale_init_value) for j in range(n)])
            for d, n, start in zip(dims, depths, starts, strict=True)
        )
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", ChannelsFirstLayerNorm(d))
        self.num_stages = len(dims)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the four normalised stage outputs for x (B, in, D, H, W)."""
        outputs = []
        for i in range(self.num_stages):
            x = self.stages[i](self.downsample_layers[i](x))
            outputs.append(getattr(self, f"norm{i}")(x))
        return outputs


class UXNet(UnetrStyleNet):
    """3D UX-Net: UX-Net encoder + the UNETR-style MONAI decoder (same wiring as SegMamba's).

    The defaults are the repository defaults (53,059,444 parameters at in 4 / out 4). The published code
    hard-codes the head input to 48 channels; here it is ``feat_size[0]`` (48 by default), so narrow
    configurations work.

    Args:
        in_chans: input channels, default ``4``.
        out_chans: output classes (logits), default ``4``.
        depths: UX blocks per stage, default ``(2, 2, 2, 2)``.
        feat_size: channels per stage, default ``(48, 96, 192, 384)``.
        hidden_size: bottleneck channels, default ``768``.
        drop_path_rate: stochastic depth, default ``0.0``.
        layer_scale_init_value: default ``1e-6``.
        norm_name: decoder norm, default ``"instance"``.
        res_block: residual decoder blocks, default ``True``.

    Shapes: input B in D H W (multiples of 16, at least 32), output B out D H W.

    Examples::

        >>> net = UXNet(in_chans=4, out_chans=4, feat_size=(8, 16, 32, 64), hidden_size=128)
        >>> net(torch.randn(1, 4, 32, 32, 32)).shape
        torch.Size([1, 4, 32, 32, 32])
    """

    def __init__(
        self,
        in_chans: int = 4,
        out_chans: int = 4,
        depths: Sequence[int] = (2, 2, 2, 2),
        feat_size: Sequence[int] = (48, 96, 192, 384),
        hidden_size: int = 768,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        norm_name: str | tuple = "instance",
        res_block: bool = True,
    ) -> None:
        super().__init__()
        if len(depths) != 4 or len(feat_size) != 4:
            raise ValueError(f"depths and feat_size need 4 entries, got {list(depths)} and {list(feat_size)}")
        self.uxnet_3d = UXNetEncoder(in_chans, depths, feat_size, drop_path_rate, layer_scale_init_value)
        self._build_decoder(in_chans, out_chans, feat_size, hidden_size, norm_name, res_block)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the four normalised encoder stage outputs (1/2 .. 1/16 resolution)."""
        return self.uxnet_3d(x)
