"""Registry of every network by name: construction with validated overrides, input-size rules, counts.

Each entry holds the configured constructor keywords (the values used by the benchmark); callers may
override exactly those keys (``build_model(name, ..., **overrides)``), any other key is a ConfigError.

Importing this module is cheap: torch, MONAI and the networks are imported only when a model is built, so
the override-key and patch-size rules (:func:`resolve_params`, :func:`check_model_config`) can run where
torch would cost seconds (the workflow's dry run).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmamba.errors import ConfigError
from segmamba.models.resenc_plan import RESENC_M_128

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class ModelSpec:
    """One registered network.

    Attributes:
        name: registry name.
        description: one line for listings.
        builder: ``builder(in_channels, out_channels, patch_size, **params) -> nn.Module``.
        defaults: the configured values of the overridable constructor keywords.
        fixed: constructor keywords that define the variant and cannot be overridden.
        min_multiple: ``params -> int``: every patch axis must be a multiple of it.
        min_size: ``params -> int``: smallest patch size per axis that runs (e.g. InstanceNorm needs more
            than one voxel at the coarsest level).
    """

    name: str
    description: str
    builder: Builder
    defaults: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    min_multiple: Callable[[Mapping[str, Any]], int] = lambda params: 16
    min_size: Callable[[Mapping[str, Any]], int] = lambda params: 32


def _lazy(module: str, attribute: str) -> Builder:
    """A builder that imports ``module`` (and with it torch and MONAI) only when it is called."""

    def build(*args, **kwargs) -> nn.Module:
        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    build.__qualname__ = build.__name__ = attribute
    return build


def _segmamba_builder(in_channels: int, out_channels: int, patch_size: Sequence[int], **params) -> nn.Module:
    """SegMamba and its variants; patch_size is not needed (the inter-slice order uses the actual depth)."""
    from segmamba.models.nets.segmamba import SegMamba

    return SegMamba(in_chans=in_channels, out_chans=out_channels, **params)


def _uxnet_builder(in_channels: int, out_channels: int, patch_size: Sequence[int], **params) -> nn.Module:
    """3D UX-Net; patch_size is unused."""
    from segmamba.models.nets.uxnet import UXNet

    return UXNet(in_chans=in_channels, out_chans=out_channels, **params)


_MONAI = "segmamba.models.nets.monai_baselines"
build_segresnet = _lazy(_MONAI, "build_segresnet")
build_mednext = _lazy(_MONAI, "build_mednext")
build_unetr = _lazy(_MONAI, "build_unetr")
build_swinunetr = _lazy(_MONAI, "build_swinunetr")
build_resenc_unet = _lazy("segmamba.models.nets.resenc_unet", "build_resenc_unet")


_UNET_STYLE = {
    "depths": (2, 2, 2, 2),
    "feat_size": (48, 96, 192, 384),
    "hidden_size": 768,
    "norm_name": "instance",
    "res_block": True,
}
_MAMBA = {"d_state": 16, "d_conv": 4, "expand": 2}
_GSC = {"gsc_gate": "add"}


def _swin_min_size(params: Mapping[str, Any]) -> int:
    """SwinUNETR's encoder10 runs at 1/32; InstanceNorm there needs at least 2 voxels per axis."""
    norm = params["norm_name"]
    norm = norm if isinstance(norm, str) else norm[0]
    return 64 if norm.lower() == "instance" else 32


def _resenc_multiple(params: Mapping[str, Any]) -> int:
    """ResEnc halves every axis in each stage after the first."""
    return 2 ** (len(params["features_per_stage"]) - 1)


def _resenc_min_size(params: Mapping[str, Any]) -> int:
    """InstanceNorm at the coarsest stage needs at least 2 voxels per axis."""
    return 2 * _resenc_multiple(params)


SWIN_DEFAULTS = {
    "feature_size": 48,
    "depths": (2, 2, 2, 2),
    "num_heads": (3, 6, 12, 24),
    "window_size": 7,
    "norm_name": "instance",
    "drop_rate": 0.0,
    "attn_drop_rate": 0.0,
    "dropout_path_rate": 0.0,
    "use_checkpoint": True,
    "downsample": "merging",
}
"""Constructor defaults shared by SwinUNETR and SwinUNETR-V2 (they differ only in ``use_v2``)."""

_SPECS = (
    ModelSpec(
        "segmamba",
        "SegMamba (published code): GSC + tri-orientated Mamba (ToM) encoder",
        _segmamba_builder,
        {**_UNET_STYLE, **_MAMBA, **_GSC},
        {"mixer": "tom", "use_gsc": True},
    ),
    ModelSpec(
        "segmamba_m1",
        "ablation M1: plain Mamba layer (forward direction only), no GSC",
        _segmamba_builder,
        {**_UNET_STYLE, **_MAMBA},
        {"mixer": "mamba", "use_gsc": False},
    ),
    ModelSpec(
        "segmamba_m2",
        "ablation M2: plain Mamba layer (forward only) + GSC",
        _segmamba_builder,
        {**_UNET_STYLE, **_MAMBA, **_GSC},
        {"mixer": "mamba", "use_gsc": True},
    ),
    ModelSpec(
        "segmamba_m3",
        "ablation M3: ToM without GSC",
        _segmamba_builder,
        {**_UNET_STYLE, **_MAMBA},
        {"mixer": "tom", "use_gsc": False},
    ),
    ModelSpec(
        "segmamba_m6",
        "ablation M6: GSC + global multi-head self-attention instead of ToM",
        _segmamba_builder,
        {**_UNET_STYLE, **_GSC, "attention_head_dim": 16, "attention_kernel": "auto"},
        {"mixer": "attention", "use_gsc": True},
    ),
    ModelSpec(
        "segresnet",
        "MONAI SegResNet, init_filters 32, blocks (1,2,2,4)/(1,1,1), dropout 0.2",
        build_segresnet,
        {
            "init_filters": 32,
            "blocks_down": (1, 2, 2, 4),
            "blocks_up": (1, 1, 1),
            "dropout_prob": 0.2,
            "norm": ("GROUP", {"num_groups": 8}),
            "upsample_mode": "nontrainable",
        },
        min_multiple=lambda params: 2 ** (len(params["blocks_down"]) - 1),
        min_size=lambda params: 2 ** (len(params["blocks_down"]) - 1),
    ),
    ModelSpec(
        "uxnet",
        "3D UX-Net (own re-implementation), repository defaults",
        _uxnet_builder,
        {**_UNET_STYLE, "drop_path_rate": 0.0, "layer_scale_init_value": 1e-6},
    ),
    ModelSpec(
        "mednext",
        "MONAI MedNeXt-B, kernel 3, no deep supervision",
        build_mednext,
        {
            "init_filters": 32,
            "kernel_size": 3,
            "encoder_expansion_ratio": (2, 3, 4, 4),
            "decoder_expansion_ratio": (4, 4, 3, 2),
            "bottleneck_expansion_ratio": 4,
            "blocks_down": (2, 2, 2, 2),
            "blocks_bottleneck": 2,
            "blocks_up": (2, 2, 2, 2),
            "use_residual_connection": True,
            "norm_type": "group",
            "global_resp_norm": False,
        },
        min_multiple=lambda params: 2 ** len(params["blocks_down"]),
        min_size=lambda params: 2 ** len(params["blocks_down"]),
    ),
    ModelSpec(
        "unetr",
        "MONAI UNETR, ViT-B/16, feature 16, conv projection, img_size = patch size",
        build_unetr,
        {
            "feature_size": 16,
            "hidden_size": 768,
            "mlp_dim": 3072,
            "num_heads": 12,
            "proj_type": "conv",
            "norm_name": "instance",
            "conv_block": True,
            "res_block": True,
            "dropout_rate": 0.0,
            "qkv_bias": False,
        },
        min_size=lambda params: 16,
    ),
    ModelSpec(
        "swinunetr",
        "MONAI SwinUNETR, feature 48, gradient checkpointing",
        build_swinunetr,
        SWIN_DEFAULTS,
        {"use_v2": False},
        min_multiple=lambda params: 32,
        min_size=_swin_min_size,
    ),
    ModelSpec(
        "swinunetr_v2",
        "MONAI SwinUNETR-V2 (use_v2), feature 48, gradient checkpointing",
        build_swinunetr,
        SWIN_DEFAULTS,
        {"use_v2": True},
        min_multiple=lambda params: 32,
        min_size=_swin_min_size,
    ),
    ModelSpec(
        "nnunet_resenc_m",
        "nnU-Net ResEnc M (v2.8.1 planner, 128^3 isotropic), deep supervision off",
        build_resenc_unet,
        dict(RESENC_M_128),
        min_multiple=_resenc_multiple,
        min_size=_resenc_min_size,
    ),
)
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def list_models() -> list[str]:
    """Names of every registered model and variant, in registry order."""
    return list(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; ConfigError naming the valid models when unknown."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def resolve_params(name: str, **overrides) -> dict[str, Any]:
    """Configured constructor keywords of ``name`` with ``overrides`` applied (JSON lists become tuples).

    Raises ConfigError naming the model and the key for any key that is not overridable.
    """
    spec = get_spec(name)
    for key in overrides:
        if key not in spec.defaults:
            raise ConfigError(
                f"model {name!r}: unknown override {key!r}; valid override keys: {', '.join(sorted(spec.defaults))}"
            )
    params = {**spec.defaults, **overrides}
    return {key: tuple(value) if isinstance(value, list) else value for key, value in params.items()}


def min_input_multiple(name: str, **overrides) -> int:
    """Patch sizes of model ``name`` (with ``overrides``) must be multiples of this number on every axis."""
    return int(get_spec(name).min_multiple(resolve_params(name, **overrides)))


def min_input_size(name: str, **overrides) -> int:
    """Smallest patch size per axis that model ``name`` (with ``overrides``) can run on."""
    params = resolve_params(name, **overrides)
    spec = get_spec(name)
    return max(int(spec.min_size(params)), int(spec.min_multiple(params)))


def _check_patch_size(name: str, patch_size: Sequence[int], multiple: int, smallest: int) -> tuple[int, int, int]:
    """Validate a 3-D patch size against the model's input rules; returns it as a tuple."""
    patch = tuple(int(p) for p in patch_size)
    if len(patch) != 3 or any(p % multiple or p < smallest for p in patch):
        raise ConfigError(
            f"model {name!r}: patch size {list(patch_size)} invalid; need 3 axes, each a multiple of {multiple} "
            f"and at least {smallest}"
        )
    return patch


def build_model(
    name: str,
    in_channels: int,
    out_channels: int,
    patch_size: int | Sequence[int] = (128, 128, 128),
    **overrides,
) -> nn.Module:
    """Build model ``name`` mapping (B, in_channels, X, Y, Z) to logits (B, out_channels, X, Y, Z).

    Args:
        name: a name from :func:`list_models`.
        in_channels: input channels (image modalities).
        out_channels: classes, background included.
        patch_size: training patch size (an int means a cube); used by UNETR (img_size) and validated
            against :func:`min_input_multiple` / :func:`min_input_size` for every model.
        overrides: the model's own constructor keywords (see ``segmamba models`` or ``REGISTRY[name].defaults``).

    Raises:
        ConfigError: unknown model, unknown override key, an invalid value, or an unsupported patch size.
    """
    spec = get_spec(name)
    params = resolve_params(name, **overrides)
    if in_channels < 1 or out_channels < 1:
        raise ConfigError(
            f"model {name!r}: in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}"
        )
    if isinstance(patch_size, int):
        patch_size = (patch_size,) * 3
    multiple, smallest = min_input_multiple(name, **overrides), min_input_size(name, **overrides)
    patch = _check_patch_size(name, patch_size, multiple, smallest)
    try:
        return spec.builder(in_channels, out_channels, patch, **params, **spec.fixed)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model {name!r}: invalid configuration {overrides}: {exc}") from exc


def count_parameters(module: nn.Module) -> int:
    """Total number of parameter elements of ``module`` (all parameters; every model here trains all)."""
    return sum(parameter.numel() for parameter in module.parameters())


def model_parameter_count(
    name: str, in_channels: int, out_channels: int, patch_size: int | Sequence[int] = (128, 128, 128), **overrides
) -> int:
    """Parameter count of a configured model, built on the meta device (no memory) where the model allows it."""
    import torch

    try:
        with torch.device("meta"):
            return count_parameters(build_model(name, in_channels, out_channels, patch_size, **overrides))
    except (RuntimeError, NotImplementedError):  # e.g. SwinUNETR calls .item() while constructing
        return count_parameters(build_model(name, in_channels, out_channels, patch_size, **overrides))


def check_model_config(
    name: str,
    overrides: Mapping[str, Any],
    overrides_key: str,
    patch_sizes: Mapping[str, Sequence[int]],
    construct: bool = True,
    in_channels: int = 1,
    out_channels: int = 2,
) -> None:
    """Check a model's configuration before any job runs (the workflow calls it while parsing).

    Args:
        name: registry name.
        overrides: the model's constructor overrides from the config.
        overrides_key: where ``overrides`` sit in the config (e.g. ``scales.demo.model_overrides.segmamba``).
        patch_sizes: ``{config key: patch size}`` the model will run on (training patch, efficiency sizes).
        construct: also run the constructor when there are overrides, so that values it rejects are found
            too. This imports torch and MONAI (seconds); the other checks need neither. It builds on the CPU:
            for the narrow models that overrides usually make that is faster than the meta device, whose ops
            dispatch through Python meta kernels.
        in_channels, out_channels: channels to construct with (the constructors' checks do not depend on them).

    Raises:
        ConfigError: naming the config key and the model: an unknown model or override key, a patch size the
            model rejects, or an override its constructor rejects.
    """
    try:
        multiple, smallest = min_input_multiple(name, **overrides), min_input_size(name, **overrides)
    except ConfigError as exc:
        raise ConfigError(f"config {overrides_key}: {exc}") from exc
    for key, patch_size in patch_sizes.items():
        try:
            _check_patch_size(name, patch_size, multiple, smallest)
        except ConfigError as exc:
            raise ConfigError(f"config {key}: {exc}") from exc
    if construct and overrides:
        for patch_size in dict.fromkeys(tuple(p) for p in patch_sizes.values()) or [(128, 128, 128)]:
            try:
                build_model(name, in_channels, out_channels, patch_size, **overrides)
            except ConfigError as exc:
                raise ConfigError(f"config {overrides_key}: {exc}") from exc
