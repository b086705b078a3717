"""Image-translation metrics for the generated maps.

Pixel accuracy is not defined by the dissertation. archopt defines it as the share of
pixels whose *map class* agrees between the real and the generated map, where both maps
are quantized to a palette of ``k`` colours fitted by k-means (RGB) on training maps.
Google-style maps use a handful of flat colours (roads, water, parks, buildings,
background), which the palette recovers; JPEG noise and antialiasing are absorbed by
the nearest-colour assignment. The CI is a percentile bootstrap over images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_PALETTE_SIZE = 8


def _pixels(images: Tensor) -> Tensor:
    """(N, C, H, W) uint8 or float in [0, 255] -> (N*H*W, C) float32 (C: 3 for RGB maps)."""
    return images.permute(0, 2, 3, 1).reshape(-1, images.shape[1]).float()


def fit_palette(
    maps: Tensor, k: int = DEFAULT_PALETTE_SIZE, seed: int = 0, sample: int = 200_000, iters: int = 30
) -> Tensor:
    """k-means centres (k, C) in [0, 255] of the pixels of ``maps`` (N, C, H, W), RGB for
    the maps (C = 3).

    Deterministic for a given seed: a seeded pixel sample, k-means++ seeding from the same
    generator, then Lloyd iterations.
    """
    if k < 1:
        raise ValueError(f"palette size k must be >= 1, got {k}")
    generator = torch.Generator().manual_seed(seed)
    pixels = _pixels(maps)
    if pixels.shape[0] > sample:
        pixels = pixels[torch.randperm(pixels.shape[0], generator=generator)[:sample]]
    centres = _kmeans_plus_plus(pixels, k, generator)
    for _ in range(iters):
        labels = torch.cdist(pixels, centres).argmin(1)
        updated = centres.clone()
        for j in range(k):
            members = pixels[labels == j]
            if len(members):
                updated[j] = members.mean(0)
        if torch.allclose(updated, centres):
            break
        centres = updated
    return centres


def _kmeans_plus_plus(pixels: Tensor, k: int, generator: torch.Generator) -> Tensor:
    first = torch.randint(pixels.shape[0], (1,), generator=generator)
    centres = pixels[first]
    for _ in range(1, k):
        distance = torch.cdist(pixels, centres).min(1).values.square()
        if distance.sum() == 0:  # fewer distinct colours than k
            index = torch.randint(pixels.shape[0], (1,), generator=generator)
        else:
            index = torch.multinomial(distance / distance.sum(), 1, generator=generator)
        centres = torch.cat([centres, pixels[index]])
    return centres


def quantize(images: Tensor, palette: Tensor) -> Tensor:
    """Nearest palette index per pixel: (N, C, H, W) -> (N, H, W) int64."""
    n, _, h, w = images.shape
    return torch.cdist(_pixels(images), palette.float()).argmin(1).reshape(n, h, w)


def pixel_accuracy(real: Tensor, fake: Tensor, palette: Tensor) -> np.ndarray:
    """Per-image share of pixels whose palette class agrees (values in [0, 1])."""
    agree = quantize(real, palette) == quantize(fake, palette)
    return agree.flatten(1).float().mean(1).numpy()


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling the items)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_ci: no values")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def to_unit(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [0, 1]."""
    return images.float() / 255.0


def mean_l1(real: Tensor, fake: Tensor) -> np.ndarray:
    """Per-image mean absolute error on [0, 1] intensities."""
    return (to_unit(real) - to_unit(fake)).abs().flatten(1).mean(1).numpy()


def psnr(real: Tensor, fake: Tensor) -> np.ndarray:
    """Per-image PSNR in dB on [0, 1] intensities (inf for identical images)."""
    mse = (to_unit(real) - to_unit(fake)).square().flatten(1).mean(1)
    with np.errstate(divide="ignore"):
        return (10 * np.log10(1.0 / mse.numpy().astype(np.float64)))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(real: Tensor, fake: Tensor, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004): 11x11 Gaussian window (sigma 1.5), K1=0.01,
    K2=0.03, data range 1, computed per channel on valid windows and averaged."""
    x, y = to_unit(real).double(), to_unit(fake).double()
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma).expand(channels, 1, window, window).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    score = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return score.flatten(1).mean(1).numpy()


def summarize(values: np.ndarray, seed: int = 0) -> dict:
    """Mean and bootstrap 95% CI of per-image values (finite values only)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"mean": math.inf, "ci95": [math.inf, math.inf], "n": int(np.size(values))}
    low, high = bootstrap_ci(finite, seed=seed)
    return {"mean": float(finite.mean()), "ci95": [low, high], "n": int(np.size(values))}
