"""SegMamba (Xing et al., MICCAI 2024, https://arxiv.org/abs/2401.13560) and its ablation variants."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from segmamba.models.blocks import (
    DIRECTIONS,
    GatedSpatialConv,
    GlobalSelfAttention,
    MlpChannel,
    TokenMixerLayer,
    TriOrientedMamba,
)
from segmamba.models.nets.shared_decoder import UnetrStyleNet

MIXERS = ("tom", "mamba", "attention")


def token_layer_factory(
    mixer: str, d_state: int, d_conv: int, expand: int, head_dim: int, attention_kernel: str
) -> Callable[[int], nn.Module]:
    """A function ``channels -> residual token-mixing layer`` with the requested mixer."""

    def make_layer(channels: int) -> nn.Module:
        if mixer == "attention":
            attention = GlobalSelfAttention(channels, head_dim, attention_kernel)
            return TokenMixerLayer(channels, attention, mixer_name="attn")
        directions = DIRECTIONS if mixer == "tom" else ("forward",)
        return TokenMixerLayer(channels, TriOrientedMamba(channels, d_state, d_conv, expand, directions))

    return make_layer


class MambaEncoder(nn.Module):
    """SegMamba encoder (``vit`` in the published checkpoints): four stages of downsample -> GSC -> token
    layers; each stage output s_i feeds the next stage and its skip o_i = MLP_i(IN(s_i)) is returned.

    Args:
        in_chans: input channels.
        depths: token layers per stage.
        dims: channels per stage.
        make_layer: ``channels -> token-mixing layer`` (see :func:`token_layer_factory`).
        gsc_gate: GSC combination (``"add"`` / ``"multiply"``), or None for no GSC (identity).
    """

    def __init__(
        self,
        in_chans: int,
        depths: Sequence[int],
        dims: Sequence[int],
        make_layer: Callable[[int], nn.Module],
        gsc_gate: str | None,
    ) -> None:
        super().__init__()
        stem = nn.Sequential(nn.Conv3d(in_chans, dims[0], kernel_size=7, stride=2, padding=3))
        downsamples = [
            nn.Sequential(nn.InstanceNorm3d(dims[i - 1]), nn.Conv3d(dims[i - 1], dims[i], kernel_size=2, stride=2))
            for i in range(1, len(dims))
        ]
        self.downsample_layers = nn.ModuleList([stem, *downsamples])
        self.gscs = nn.ModuleList(nn.Identity() if gsc_gate is None else GatedSpatialConv(d, gsc_gate) for d in dims)
        self.stages = nn.ModuleList(
            nn.Sequential(*[make_layer(d) for _ in range(n)]) for d, n in zip(dims, depths, strict=True)
        )
        self.skip_norms = nn.ModuleList(nn.InstanceNorm3d(d) for d in dims)
        self.mlps = nn.ModuleList(MlpChannel(d, 2 * d) for d in dims)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the four skip outputs o_0..o_3 for x (B, in, D, H, W)."""
        skips = []
        for downsample, gsc, stage, norm, mlp in zip(
            self.downsample_layers, self.gscs, self.stages, self.skip_norms, self.mlps, strict=True
        ):
            x = stage(gsc(downsample(x)))
            skips.append(mlp(norm(x)))
        return skips


class SegMamba(UnetrStyleNet):
    """SegMamba as published (code commit 1039e37): Mamba encoder ``vit`` + UNETR-style MONAI decoder.

    The default arguments give the published BraTS model (in 4, out 4: 67,416,196 parameters, 291
    state-dict tensors; a published checkpoint loads with ``strict=True``).

    Array layout: the published pipeline reads images with SimpleITK, so its network sees (Z, Y, X) arrays;
    this project's arrays are nibabel (X, Y, Z). :meth:`forward` therefore transposes its input to (Z, Y, X),
    runs the published network (convolutions and token layers alike) and transposes the logits back. Inside,
    the published "depth" D of B C D H W is Z: the forward scan has X fastest and Z slowest, and the ToM
    inter-slice direction runs across axial slices (Z fastest), in true depth-fastest order for any input size.
    The published weights thus compute the published function on this project's arrays.

    Args:
        in_chans: input channels, default ``4``.
        out_chans: output classes (logits, background included), default ``4``.
        depths: token layers per stage, default ``(2, 2, 2, 2)``.
        feat_size: channels per stage, default ``(48, 96, 192, 384)``.
        hidden_size: bottleneck channels (``encoder5``), default ``768``.
        norm_name: MONAI norm of the decoder blocks, default ``"instance"``.
        res_block: residual decoder blocks, default ``True``.
        mixer: ``"tom"`` (default), ``"mamba"`` (forward direction only) or ``"attention"`` (global MHSA).
        use_gsc: GSC block per stage, default ``True``.
        gsc_gate: ``"add"`` (published code, default) or ``"multiply"`` (paper).
        d_state, d_conv, expand: Mamba state size, conv width and expansion, default ``16``, ``4``, ``2``.
        attention_head_dim: channels per head of the attention mixer, default ``16``.
        attention_kernel: ``"auto"`` (PyTorch picks, possibly a fused kernel) or ``"math"`` (explicit L x L
            attention matrix), default ``"auto"``.

    Shapes: input B in X Y Z (each a multiple of 16, at least 32), output B out X Y Z.

    Examples::

        >>> net = SegMamba(in_chans=4, out_chans=4, feat_size=(8, 16, 32, 64), hidden_size=128)
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
        norm_name: str | tuple = "instance",
        res_block: bool = True,
        mixer: str = "tom",
        use_gsc: bool = True,
        gsc_gate: str = "add",
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        attention_head_dim: int = 16,
        attention_kernel: str = "auto",
    ) -> None:
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {MIXERS}, got {mixer!r}")
        if len(depths) != 4 or len(feat_size) != 4:
            raise ValueError(f"depths and feat_size need 4 entries, got {list(depths)} and {list(feat_size)}")
        make_layer = token_layer_factory(mixer, d_state, d_conv, expand, attention_head_dim, attention_kernel)
        self.vit = MambaEncoder(in_chans, depths, feat_size, make_layer, gsc_gate if use_gsc else None)
        self._build_decoder(in_chans, out_chans, feat_size, hidden_size, norm_name, res_block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map x (B, in, X, Y, Z) to logits (B, out, X, Y, Z) through the published network on (B, in, Z, Y, X)."""
        return super().forward(x.transpose(2, 4)).transpose(2, 4).contiguous()

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the encoder skips o_0..o_3 (1/2 .. 1/16 resolution) of x in the published (Z, Y, X) layout."""
        return self.vit(x)
