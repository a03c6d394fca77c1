"""Training augmentations (nnU-Net defaults as used by SegMamba), built from MONAI transforms.

Order per sample: rotation/scaling (MONAI ``Affined``, parameters drawn by the loader so that it can cut
just the input region the transform needs), optional elastic deformation, Gaussian noise, Gaussian blur,
multiplicative brightness, contrast, simulated low resolution, inverted gamma, gamma, mirroring.

Deviations from batchgenerators, forced by MONAI's transforms: blur, low resolution and gamma draw one
decision per sample rather than per channel; noise draws its standard deviation (not variance) uniformly
from [0, sqrt(0.1)); images are rotated/scaled with trilinear rather than cubic interpolation by default
(``image_interpolation=3`` restores cubic, about 5x slower on CPU); labels use nearest neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
from monai.transforms import (
    Affined,
    Compose,
    Rand3DElasticd,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandScaleIntensityd,
    RandScaleIntensityFixedMeand,
    RandSimulateLowResolutiond,
)
from monai.transforms.utils import create_rotate


@dataclass(frozen=True)
class AugmentationConfig:
    """Per-augmentation probabilities and ranges (defaults: nnU-Net/SegMamba, elastic off)."""

    rotation_prob: float = 0.2
    rotation_degrees: float = 30.0
    scale_prob: float = 0.2
    scale_range: tuple[float, float] = (0.7, 1.4)
    elastic_prob: float = 0.0
    elastic_sigma: tuple[float, float] = (9.0, 13.0)
    elastic_magnitude: tuple[float, float] = (0.0, 8.0)
    noise_prob: float = 0.1
    noise_variance: float = 0.1
    blur_prob: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    brightness_prob: float = 0.15
    brightness_range: tuple[float, float] = (0.75, 1.25)
    contrast_prob: float = 0.15
    contrast_range: tuple[float, float] = (0.75, 1.25)
    lowres_prob: float = 0.25
    lowres_zoom: tuple[float, float] = (0.5, 1.0)
    gamma_inverted_prob: float = 0.1
    gamma_prob: float = 0.3
    gamma_range: tuple[float, float] = (0.7, 1.5)
    mirror_prob: float = 0.5
    image_interpolation: str | int = "bilinear"

    def all_on(self) -> AugmentationConfig:
        """The same ranges with every augmentation applied to every sample (for throughput benchmarks)."""
        return replace(self, **{f.name: 1.0 for f in fields(self) if f.name.endswith("_prob")})


def sample_spatial_params(rng: np.random.Generator, config: AugmentationConfig) -> tuple[list[float], float] | None:
    """Draw rotation angles (radians, per axis) and an isotropic scale; None when neither is applied."""
    rotate = rng.random() < config.rotation_prob
    scale = rng.random() < config.scale_prob
    angles = rng.uniform(-1, 1, 3) * math.radians(config.rotation_degrees) if rotate else np.zeros(3)
    factor = rng.uniform(*config.scale_range) if scale else 1.0
    if not (rotate or scale):
        return None
    return [float(a) for a in angles], float(factor)


def spatial_margin(patch_size, angles, factor) -> list[int]:
    """Voxels to add on each side of the patch so the rotated/scaled sampling grid stays inside the region."""
    matrix = factor * np.abs(create_rotate(3, angles)[:3, :3])
    half_patch = (np.asarray(patch_size) - 1) / 2
    half_needed = matrix @ half_patch
    return [max(0, int(math.ceil(n - h)) + 1) for n, h in zip(half_needed, half_patch, strict=True)]


def spatial_transform(patch_size, angles, factor, config: AugmentationConfig) -> Affined:
    """MONAI affine resampling of ``image`` and ``label`` from the enlarged region onto the patch grid."""
    return Affined(
        keys=("image", "label"),
        rotate_params=angles,
        scale_params=(factor,) * 3,
        spatial_size=tuple(patch_size),
        mode=(config.image_interpolation, "nearest"),
        padding_mode="zeros",
    )


def intensity_and_mirror_transforms(config: AugmentationConfig) -> Compose:
    """The random transforms after the spatial one, keyed on ``image`` (and ``label`` where spatial)."""
    transforms = []
    if config.elastic_prob > 0:
        transforms.append(Rand3DElasticd(keys=("image", "label"), sigma_range=config.elastic_sigma,
                                         magnitude_range=config.elastic_magnitude, prob=config.elastic_prob,
                                         mode=("bilinear", "nearest"), padding_mode="reflection"))
    brightness = (config.brightness_range[0] - 1, config.brightness_range[1] - 1)
    contrast = (config.contrast_range[0] - 1, config.contrast_range[1] - 1)
    transforms += [
        RandGaussianNoised("image", prob=config.noise_prob, std=math.sqrt(config.noise_variance), sample_std=True),
        RandGaussianSmoothd("image", sigma_x=config.blur_sigma, sigma_y=config.blur_sigma,
                            sigma_z=config.blur_sigma, prob=config.blur_prob),
        RandScaleIntensityd("image", factors=brightness, prob=config.brightness_prob),
        RandScaleIntensityFixedMeand("image", factors=contrast, fixed_mean=True, preserve_range=True,
                                     prob=config.contrast_prob),
        RandSimulateLowResolutiond("image", prob=config.lowres_prob, zoom_range=config.lowres_zoom),
        RandAdjustContrastd("image", prob=config.gamma_inverted_prob, gamma=config.gamma_range,
                            invert_image=True, retain_stats=True),
        RandAdjustContrastd("image", prob=config.gamma_prob, gamma=config.gamma_range, retain_stats=True),
    ]
    transforms += [RandFlipd(("image", "label"), prob=config.mirror_prob, spatial_axis=axis) for axis in range(3)]
    return Compose(transforms)
