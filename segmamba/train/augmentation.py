"""Training augmentations: the batchgenerators (nnU-Net) defaults that the published SegMamba code applies.

Per sample, with the published probabilities: rotation (0.2) and isotropic scaling (0.2), Gaussian noise (0.1),
Gaussian blur (0.2), multiplicative brightness (0.15), contrast (0.15), simulated low resolution (0.25),
inverted gamma (0.1), gamma (0.3), mirroring (0.5 per axis); elastic deformation is off, as published.
Every random draw comes from the sample's ``numpy.random.Generator``, so a sample is a pure function of its
seed. As published (batchgenerators 0.25, ``per_channel=True`` where it has the option):

- rotation: three angles from U(-30°, 30°), composed as batchgenerators does in the published (z, y, x) array
  order; scaling: one factor, from U(0.7, 1) or U(1, 1.4) with probability 1/2 each (> 1 shrinks objects);
- noise: one standard deviation from U(0, 0.1) for all channels (batchgenerators' ``noise_variance`` is used as
  the standard deviation);
- blur: each channel with probability 1/2, its own sigma from U(0.5, 1), the same on all axes (scipy's
  ``gaussian_filter``, reflect borders, truncated at 4 sigma);
- brightness: each channel multiplied by its own factor from U(0.75, 1.25);
- contrast: each channel scaled about its own mean by its own factor (U(0.75, 1) or U(1, 1.25)), then clipped
  to its own original range;
- low resolution: each channel with probability 1/2, its own zoom from U(0.5, 1), nearest-neighbour down (the
  pixel centres of skimage's order-0 resize);
- gamma: each channel its own gamma (U(0.7, 1) or U(1, 1.5)) on its own range, its own mean and standard
  deviation restored; the inverted variant negates the image before and after;
- mirroring: each axis with probability 1/2; labels outside the volume are 0.

Deviations from the published pipeline:

- rotated/scaled images are resampled trilinearly, as nnU-Net v2 does (``image_interpolation=3`` restores the
  published cubic spline, several times slower on CPU); labels by nearest neighbour, not by per-label linear
  interpolation (batchgenerators, nnU-Net v2);
- the rotated/scaled patch samples the volume around it, as nnU-Net v2 does; the published loader cuts the
  128³ patch first, so there the rotated corners and zoomed-out borders are 0;
- simulated low resolution upsamples trilinearly, as nnU-Net v2 does, not with a cubic spline;
- mirroring is folded into the crop (or the resampling grid), so it comes before the intensity transforms
  rather than after them: they commute with it, except that the noise field and the nearest-neighbour lattice
  of the low-resolution step are mirrored too, which leaves their distribution unchanged;
- the optional elastic deformation (off by default, as published) is MONAI's ``Rand3DElasticd``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Rand3DElasticd
from monai.transforms.utils import create_rotate
from scipy import ndimage

MAX_SEED = 2**32


@dataclass(frozen=True)
class AugmentationConfig:
    """Per-augmentation probabilities and ranges (defaults: the published recipe, elastic off)."""

    rotation_prob: float = 0.2
    rotation_degrees: float = 30.0
    scale_prob: float = 0.2
    scale_range: tuple[float, float] = (0.7, 1.4)
    elastic_prob: float = 0.0
    elastic_sigma: tuple[float, float] = (9.0, 13.0)
    elastic_magnitude: tuple[float, float] = (0.0, 8.0)
    noise_prob: float = 0.1
    noise_variance: float = 0.1  # batchgenerators' name; used as the largest standard deviation, as there
    blur_prob: float = 0.2
    blur_channel_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    brightness_prob: float = 0.15
    brightness_range: tuple[float, float] = (0.75, 1.25)
    contrast_prob: float = 0.15
    contrast_range: tuple[float, float] = (0.75, 1.25)
    lowres_prob: float = 0.25
    lowres_channel_prob: float = 0.5
    lowres_zoom: tuple[float, float] = (0.5, 1.0)
    gamma_inverted_prob: float = 0.1
    gamma_prob: float = 0.3
    gamma_range: tuple[float, float] = (0.7, 1.5)
    mirror_prob: float = 0.5
    image_interpolation: int = 1  # spline order of the rotated/scaled image: 1 trilinear, 3 cubic (published)

    def all_on(self) -> AugmentationConfig:
        """The same ranges with every augmentation applied to every sample (and channel, for benchmarks)."""
        return replace(self, **{f.name: 1.0 for f in fields(self) if f.name.endswith("_prob")})


def uniform_about_one(rng: np.random.Generator, value_range: tuple[float, float]) -> float:
    """batchgenerators' draw of a factor around 1: U(low, 1) or U(1, high), each with probability 1/2."""
    low, high = value_range
    if rng.random() < 0.5 and low < 1:
        return float(rng.uniform(low, 1))
    return float(rng.uniform(max(low, 1), high))


# ----------------------------------------------------------------------------------------------- spatial
def sample_spatial_matrix(rng: np.random.Generator, config: AugmentationConfig) -> np.ndarray | None:
    """The 3x3 map from patch offsets to volume offsets (voxels) of a rotation/scaling; None when neither applies.

    batchgenerators maps the offsets of its (z, y, x) arrays by ``factor * (Rx Ry Rz)^T``; our arrays are its
    transpose, (x, y, z), so the same map reads with rows and columns reversed.
    """
    rotate = rng.random() < config.rotation_prob
    angles = rng.uniform(-1, 1, 3) * math.radians(config.rotation_degrees) if rotate else np.zeros(3)
    scale = rng.random() < config.scale_prob
    factor = uniform_about_one(rng, config.scale_range) if scale else 1.0
    if not (rotate or scale):
        return None
    published = factor * create_rotate(3, [float(a) for a in angles])[:3, :3].T
    return np.ascontiguousarray(published[::-1, ::-1])


def sample_mirror_axes(rng: np.random.Generator, config: AugmentationConfig) -> tuple[int, ...]:
    """The spatial axes to mirror, each with probability ``mirror_prob``."""
    return tuple(axis for axis in range(3) if rng.random() < config.mirror_prob)


def sampled_box(matrix: np.ndarray, patch_size, lower) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper (exclusive) voxel corners of the volume region that trilinear sampling of the rotated/
    scaled patch with lower corner ``lower`` can touch (the patch rotates about its centre)."""
    half = (np.asarray(patch_size, dtype=float) - 1) / 2
    centre = np.asarray(lower, dtype=float) + half
    reach = np.abs(matrix) @ half
    return np.floor(centre - reach).astype(int) - 1, np.floor(centre + reach).astype(int) + 3


def resample_patch(
    image: torch.Tensor,
    label: torch.Tensor,
    matrix: np.ndarray,
    centre: np.ndarray,
    flip_axes: tuple[int, ...],
    image_out: torch.Tensor,
    label_out: torch.Tensor,
    image_interpolation: int = 1,
) -> None:
    """Sample the patch grid, rotated/scaled by ``matrix`` about ``centre`` and mirrored along ``flip_axes``,
    from ``image`` (C, *region) float32 and ``label`` (1, *region) float32 into ``image_out`` (C, *patch) and
    ``label_out`` (1, *patch); positions outside the region read 0.

    ``centre`` is the patch centre in region voxel coordinates. Image: trilinear (torch ``grid_sample``) or a
    spline of order ``image_interpolation`` (scipy ``affine_transform``); label: nearest neighbour.
    """
    patch = np.asarray(image_out.shape[1:])
    signs = np.array([-1.0 if axis in flip_axes else 1.0 for axis in range(3)])
    linear = matrix * signs  # output index -> region position: linear @ (index - (patch - 1) / 2) + centre
    offset = np.asarray(centre, dtype=float) - linear @ ((patch - 1) / 2)
    size = np.asarray(image.shape[1:], dtype=float)
    # grid_sample's normalised coordinate (align_corners=False) of region position p along axis d: (2p + 1) / n - 1
    scale = 2 / size
    grid_linear = linear * scale[:, None]
    grid_offset = offset * scale + scale / 2 - 1
    index = [torch.arange(n, dtype=torch.float32) for n in patch]
    grid = torch.empty((1, *patch, 3), dtype=torch.float32)
    for component, axis in enumerate((2, 1, 0)):  # grid's last dimension is (W, H, D) = our axes (2, 1, 0)
        a = grid_linear[axis]
        grid[0, ..., component] = (index[0][:, None, None] * float(a[0]) + index[1][None, :, None] * float(a[1])) + (
            index[2][None, None, :] * float(a[2]) + float(grid_offset[axis])
        )
    sample = {"padding_mode": "zeros", "align_corners": False}
    label_out.copy_(F.grid_sample(label[None], grid, mode="nearest", **sample)[0])
    if image_interpolation == 1:
        image_out.copy_(F.grid_sample(image[None], grid, mode="bilinear", **sample)[0])
        return
    for channel, out in zip(image.numpy(), image_out.numpy(), strict=True):
        ndimage.affine_transform(
            channel,
            linear,
            offset,
            output_shape=tuple(patch),
            output=out,
            order=image_interpolation,
            mode="constant",
            cval=0.0,
        )


def elastic_deformation(
    image: torch.Tensor, label: torch.Tensor, rng: np.random.Generator, config: AugmentationConfig
) -> None:
    """MONAI's random elastic deformation of the patch, in place (image bilinear, label nearest)."""
    transform = Rand3DElasticd(
        keys=("image", "label"),
        sigma_range=config.elastic_sigma,
        magnitude_range=config.elastic_magnitude,
        prob=1.0,
        mode=("bilinear", "nearest"),
        padding_mode="reflection",
    )
    transform.set_random_state(seed=int(rng.integers(MAX_SEED)))
    deformed = transform({"image": image, "label": label.float()})
    image.copy_(deformed["image"].as_tensor())
    label.copy_(deformed["label"].as_tensor())


# --------------------------------------------------------------------------------------------- intensity
def channel_view(values) -> torch.Tensor:
    """Per-channel values as a (C, 1, 1, 1) float32 tensor that broadcasts over a (C, X, Y, Z) image."""
    return torch.as_tensor(np.asarray(values, dtype=np.float32)).view(-1, 1, 1, 1)


def channel_range(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel minimum and maximum as (C, 1, 1, 1) tensors."""
    flat = image.view(image.shape[0], -1)
    return flat.amin(1).view(-1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1)


def channel_mean_std(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) standard deviation as (C, 1, 1, 1) tensors."""
    flat = image.view(image.shape[0], -1)
    return flat.mean(1).view(-1, 1, 1, 1), channel_view(flat.numpy().std(1))  # numpy's std is faster than torch's


def add_gaussian_noise(image: torch.Tensor, rng: np.random.Generator, max_std: float) -> None:
    """Add N(0, std²) noise to every voxel, one std from U(0, max_std) for all channels."""
    std = float(rng.uniform(0, max_std))
    generator = torch.Generator().manual_seed(int(rng.integers(MAX_SEED)))
    image.add_(torch.randn(image.shape, generator=generator), alpha=std)


def blur_channels(image: torch.Tensor, rng: np.random.Generator, sigma_range, channel_prob: float) -> None:
    """Gaussian blur of each channel with probability ``channel_prob``, its own isotropic sigma."""
    for channel in image.numpy():
        if rng.random() < channel_prob:
            ndimage.gaussian_filter(channel, float(rng.uniform(*sigma_range)), output=channel)


def scale_brightness(image: torch.Tensor, rng: np.random.Generator, factor_range) -> None:
    """Multiply each channel by its own factor from U(*factor_range)."""
    image.mul_(channel_view(rng.uniform(*factor_range, size=image.shape[0])))


def adjust_contrast(image: torch.Tensor, rng: np.random.Generator, factor_range) -> None:
    """Scale each channel about its own mean by its own factor, then clip it to its own original range."""
    factors = channel_view([uniform_about_one(rng, factor_range) for _ in range(image.shape[0])])
    mean = image.view(image.shape[0], -1).mean(1).view(-1, 1, 1, 1)
    low, high = channel_range(image)
    image.sub_(mean).mul_(factors).add_(mean).clamp_(low, high)


def simulate_low_resolution(image: torch.Tensor, rng: np.random.Generator, zoom_range, channel_prob: float) -> None:
    """Each channel with probability ``channel_prob``: nearest-neighbour down by its own zoom, trilinear back up."""
    shape = image.shape[1:]
    for channel in range(image.shape[0]):
        if rng.random() < channel_prob:
            zoom = rng.uniform(*zoom_range)
            small = [max(1, int(round(n * zoom))) for n in shape]
            low = F.interpolate(image[channel][None, None], size=small, mode="nearest-exact")
            image[channel] = F.interpolate(low, size=tuple(shape), mode="trilinear", align_corners=False)[0, 0]


def adjust_gamma(image: torch.Tensor, rng: np.random.Generator, gamma_range, invert: bool) -> None:
    """batchgenerators' gamma per channel: ((x - min) / range) ** gamma * range + min with the channel's own
    gamma and range, then its own mean and standard deviation restored; ``invert`` negates before and after."""
    if invert:
        image.neg_()
    mean, std = channel_mean_std(image)
    gammas = channel_view([uniform_about_one(rng, gamma_range) for _ in range(image.shape[0])])
    low, high = channel_range(image)
    extent = high - low + 1e-7
    image.sub_(low).div_(extent).pow_(gammas).mul_(extent).add_(low)
    new_mean, new_std = channel_mean_std(image)
    image.sub_(new_mean).div_(new_std + 1e-8).mul_(std).add_(mean)
    if invert:
        image.neg_()


def augment_intensities(image: torch.Tensor, rng: np.random.Generator, config: AugmentationConfig) -> None:
    """Noise, blur, brightness, contrast, low resolution, inverted gamma and gamma, each with its probability, in
    place on a (C, X, Y, Z) float32 patch."""
    if rng.random() < config.noise_prob:
        add_gaussian_noise(image, rng, config.noise_variance)
    if rng.random() < config.blur_prob:
        blur_channels(image, rng, config.blur_sigma, config.blur_channel_prob)
    if rng.random() < config.brightness_prob:
        scale_brightness(image, rng, config.brightness_range)
    if rng.random() < config.contrast_prob:
        adjust_contrast(image, rng, config.contrast_range)
    if rng.random() < config.lowres_prob:
        simulate_low_resolution(image, rng, config.lowres_zoom, config.lowres_channel_prob)
    if rng.random() < config.gamma_inverted_prob:
        adjust_gamma(image, rng, config.gamma_range, invert=True)
    if rng.random() < config.gamma_prob:
        adjust_gamma(image, rng, config.gamma_range, invert=False)
