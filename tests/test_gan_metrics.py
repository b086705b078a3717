"""GAN metrics: palette pixel accuracy, bootstrap CI, L1, PSNR, SSIM on known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from archopt.gan.metrics import (
    bootstrap_ci,
    fit_palette,
    mean_l1,
    pixel_accuracy,
    psnr,
    quantize,
    ssim,
)

COLOURS = torch.tensor([[230, 230, 230], [170, 210, 255], [255, 240, 160], [200, 230, 190]])


def flat_map(classes: torch.Tensor, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """A synthetic 'map': each pixel is its class colour plus optional JPEG-like noise."""
    image = COLOURS[classes].permute(0, 3, 1, 2).float()
    if noise:
        image += torch.randn(image.shape, generator=torch.Generator().manual_seed(seed)) * noise
    return image.clamp(0, 255).round().to(torch.uint8)


def random_classes(n=3, size=32, seed=0):
    return torch.randint(0, 4, (n, size, size), generator=torch.Generator().manual_seed(seed))


def test_palette_recovers_the_map_colours_and_is_deterministic():
    maps = flat_map(random_classes(), noise=4)
    palette = fit_palette(maps, k=4, seed=1)
    again = fit_palette(maps, k=4, seed=1)
    assert torch.equal(palette, again)
    for colour in COLOURS.float():
        assert torch.cdist(colour[None], palette).min() < 3


def test_identical_maps_score_100_percent():
    maps = flat_map(random_classes(), noise=4)
    palette = fit_palette(maps, k=4)
    assert np.all(pixel_accuracy(maps, maps.clone(), palette) == 1.0)


def test_constructed_case_gives_the_known_share():
    classes = random_classes(n=2, size=20)
    fake_classes = classes.clone()
    fake_classes[0, :5] = (fake_classes[0, :5] + 1) % 4  # a quarter of image 0 is wrong
    real, fake = flat_map(classes, noise=3, seed=1), flat_map(fake_classes, noise=3, seed=2)
    palette = fit_palette(real, k=4)
    assert torch.equal(quantize(real, palette).unique().sort().values, torch.arange(4))
    np.testing.assert_allclose(pixel_accuracy(real, fake, palette), [0.75, 1.0])


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.6, 0.1, 20), rng.normal(0.6, 0.1, 2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)


def test_l1_and_psnr_known_values():
    a = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    b = torch.full((1, 3, 8, 8), 151, dtype=torch.uint8)  # differs by 51/255 = 0.2
    assert mean_l1(a, b)[0] == pytest.approx(0.2)
    assert psnr(a, b)[0] == pytest.approx(10 * math.log10(1 / 0.04))
    assert math.isinf(psnr(a, a)[0])


def test_ssim_known_values():
    x = torch.randint(0, 256, (2, 3, 32, 32), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    assert ssim(x, x) == pytest.approx([1.0, 1.0])
    # Two flat images a, b: sigma terms vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 0.2, 0.6
    fa = torch.full((1, 1, 16, 16), round(a * 255), dtype=torch.uint8)
    fb = torch.full((1, 1, 16, 16), round(b * 255), dtype=torch.uint8)
    a, b = round(a * 255) / 255, round(b * 255) / 255
    assert ssim(fa, fb)[0] == pytest.approx((2 * a * b + 1e-4) / (a * a + b * b + 1e-4))
    noisy = (x.float() + torch.randn(x.shape) * 40).clamp(0, 255).to(torch.uint8)
    assert ssim(x, noisy).max() < 0.9
