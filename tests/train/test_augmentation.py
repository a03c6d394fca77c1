"""Augmentations as batchgenerators applies them in the published pipeline: per channel, published draws.

Each per-channel check recovers the factor of every channel from the output and verifies that the channel is
the published formula applied to that channel alone, with its own statistics (pooled statistics, as MONAI's
transforms use, fail these checks).
"""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from segmamba.train.augmentation import (
    AugmentationConfig,
    add_gaussian_noise,
    adjust_contrast,
    adjust_gamma,
    sample_spatial_matrix,
    scale_brightness,
    uniform_about_one,
)


def two_channels(seed: int = 0) -> torch.Tensor:
    """Channel 0 ~ N(0, 1); channel 1 ~ 200 + 30 * Exp(1): very different means, ranges and shapes."""
    rng = np.random.default_rng(seed)
    image = np.stack([rng.normal(size=(10, 11, 12)), 200 + 30 * rng.exponential(size=(10, 11, 12))])
    return torch.from_numpy(image.astype(np.float32))


def published_gamma(x: np.ndarray, gamma: float) -> np.ndarray:
    """batchgenerators' augment_gamma of one channel with retain_stats (float64)."""
    low, extent = x.min(), x.max() - x.min() + 1e-7
    y = ((x - low) / extent) ** gamma * extent + low
    return (y - y.mean()) / (y.std() + 1e-8) * x.std() + x.mean()


def test_brightness_multiplies_each_channel_by_its_own_factor():
    image = two_channels()
    out = image.clone()
    scale_brightness(out, np.random.default_rng(3), (0.75, 1.25))
    factors = [float((out[c] / image[c]).mean()) for c in range(2)]
    for c, factor in enumerate(factors):
        assert 0.75 <= factor <= 1.25
        torch.testing.assert_close(out[c], image[c] * factor)
    assert abs(factors[0] - factors[1]) > 1e-3


def test_contrast_scales_each_channel_about_its_own_mean_within_its_own_range():
    image = two_channels()
    out = image.clone()
    adjust_contrast(out, np.random.default_rng(5), (0.75, 1.25))
    factors = []
    for c in range(2):
        x, y = image[c].double().numpy(), out[c].double().numpy()
        assert y.min() >= x.min() - 1e-4 and y.max() <= x.max() + 1e-4  # clipped to the channel's own range
        inside = (y > x.min() + 1e-3) & (y < x.max() - 1e-3)
        factor = np.median((y[inside] - x.mean()) / (x[inside] - x.mean()))
        assert 0.75 <= factor <= 1.25
        expected = np.clip((x - x.mean()) * factor + x.mean(), x.min(), x.max())
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4 * x.std())
        factors.append(factor)
    assert abs(factors[0] - factors[1]) > 1e-3


@pytest.mark.parametrize("invert", [False, True])
def test_gamma_uses_each_channels_own_range_and_restores_its_own_mean_and_std(invert):
    image = two_channels()
    out = image.clone()
    adjust_gamma(out, np.random.default_rng(11), (0.7, 1.5), invert=invert)
    gammas = []
    for c in range(2):
        x, y = image[c].double().numpy(), out[c].double().numpy()
        sign = -1 if invert else 1
        fit = minimize_scalar(
            lambda g, x=x, y=y, s=sign: np.abs(s * published_gamma(s * x, g) - y).max(),
            bounds=(0.7, 1.5),
            method="bounded",
            options={"xatol": 1e-7},
        )
        assert fit.fun < 1e-4 * x.std(), (c, fit)
        assert y.mean() == pytest.approx(x.mean(), abs=1e-4 * x.std()) and y.std() == pytest.approx(x.std(), rel=1e-4)
        gammas.append(fit.x)
    assert abs(gammas[0] - gammas[1]) > 1e-3


def test_noise_standard_deviation_is_drawn_up_to_the_published_0_1():
    stds = []
    for seed in range(40):
        image = torch.zeros((2, 16, 16, 16))
        add_gaussian_noise(image, np.random.default_rng(seed), 0.1)
        stds.append(float(image.std()))
    assert max(stds) < 0.105 and max(stds) > 0.08  # batchgenerators: std (its "variance") from U(0, 0.1)


def test_factors_about_one_fall_below_one_half_of_the_time():
    rng = np.random.default_rng(0)
    draws = np.array([uniform_about_one(rng, (0.7, 1.4)) for _ in range(4000)])
    assert draws.min() >= 0.7 and draws.max() <= 1.4
    assert abs((draws < 1).mean() - 0.5) < 0.03  # U(0.7, 1.4) would give 0.43
    assert draws[draws < 1].mean() == pytest.approx(0.85, abs=0.01)


def rotation(axis: int, angle: float) -> np.ndarray:
    """batchgenerators' create_matrix_rotation_{x,y,z}_3d."""
    c, s = np.cos(angle), np.sin(angle)
    return {
        0: np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        1: np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        2: np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def test_rotation_and_scaling_compose_as_published_in_its_zyx_array_order():
    """batchgenerators maps offsets p of a (z, y, x) array to s * (Rx(a) Ry(b) Rz(c))^T p; our arrays are (x, y, z)."""
    rng = np.random.default_rng(2)
    config = AugmentationConfig(rotation_prob=1.0, scale_prob=1.0)
    reverse = np.eye(3)[::-1]
    for _ in range(20):
        published = reverse @ sample_spatial_matrix(rng, config) @ reverse  # the map in (z, y, x) axes
        factor = np.cbrt(np.linalg.det(published))
        assert 0.7 <= factor <= 1.4
        product = published.T / factor  # Rx(a) Ry(b) Rz(c)
        a, b = np.arctan2(-product[1, 2], product[2, 2]), np.arcsin(product[0, 2])
        c = np.arctan2(-product[0, 1], product[0, 0])
        assert max(abs(a), abs(b), abs(c)) <= np.radians(30) + 1e-9
        np.testing.assert_allclose(rotation(0, a) @ rotation(1, b) @ rotation(2, c), product, atol=1e-12)
