"""UNETR-style decoder shared by SegMamba and 3D UX-Net (MONAI residual blocks, published block names)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import UnetOutBlock, UnetrBasicBlock, UnetrUpBlock
from torch import nn


class UnetrStyleNet(nn.Module):
    """Base class: a 4-stage encoder (set by the subclass) plus the published UNETR-style decoder.

    Skips: ``encoder1`` on the raw input, ``encoder2..4`` on the encoder stage outputs 0..2, ``encoder5``
    (to ``hidden_size`` channels) on stage output 3; ``decoder5..2`` upsample x2 and fuse the skips,
    ``decoder1`` refines at full resolution and ``out`` is a 1x1x1 conv to logits.
    Subclasses assign their encoder first (so that it comes first in the state dict), then call
    :meth:`_build_decoder`, and implement :meth:`encode`.
    """

    def _build_decoder(
        self, in_chans: int, out_chans: int, feat_size: Sequence[int], hidden_size: int, norm_name, res_block: bool
    ) -> None:
        """Create encoder1..5, decoder5..1 and out with kernel 3 residual blocks."""

        def basic(cin: int, cout: int) -> UnetrBasicBlock:
            return UnetrBasicBlock(3, cin, cout, kernel_size=3, stride=1, norm_name=norm_name, res_block=res_block)

        def up(cin: int, cout: int) -> UnetrUpBlock:
            return UnetrUpBlock(
                3, cin, cout, kernel_size=3, upsample_kernel_size=2, norm_name=norm_name, res_block=res_block
            )

        f0, f1, f2, f3 = feat_size
        self.encoder1 = basic(in_chans, f0)
        self.encoder2 = basic(f0, f1)
        self.encoder3 = basic(f1, f2)
        self.encoder4 = basic(f2, f3)
        self.encoder5 = basic(f3, hidden_size)
        self.decoder5 = up(hidden_size, f3)
        self.decoder4 = up(f3, f2)
        self.decoder3 = up(f2, f1)
        self.decoder2 = up(f1, f0)
        self.decoder1 = basic(f0, f0)
        self.out = UnetOutBlock(3, f0, out_chans)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the four encoder stage outputs for input x (B, in, D, H, W)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map x (B, in, D, H, W) to logits (B, out, D, H, W)."""
        stage0, stage1, stage2, stage3 = self.encode(x)
        skip1 = self.encoder1(x)
        skip2 = self.encoder2(stage0)
        skip3 = self.encoder3(stage1)
        skip4 = self.encoder4(stage2)
        bottleneck = self.encoder5(stage3)
        y = self.decoder5(bottleneck, skip4)
        y = self.decoder4(y, skip3)
        y = self.decoder3(y, skip2)
        y = self.decoder2(y, skip1)
        return self.out(self.decoder1(y))
