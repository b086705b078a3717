"""Evaluate a trained generator on the validation split (the paper's test set).

Generation follows the official pix2pix test defaults: the generator stays in training
mode (dropout active, BatchNorm on the statistics of the single test image), as the
pix2pix paper prescribes, under a fixed seed so the result is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from archopt.data.maps import MapsPairs
from archopt.gan.metrics import fit_palette, mean_l1, pixel_accuracy, psnr, ssim, summarize


def save_png(image: torch.Tensor, path: str | Path) -> None:
    """Write a uint8 (C, H, W) tensor, RGB (C = 3) or greyscale (C = 1), as a PNG file."""
    pixels = image.permute(1, 2, 0).contiguous().numpy()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path, format="PNG")


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> [0, 255] uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def training_maps(pairs: MapsPairs) -> torch.Tensor:
    """The target maps of ``pairs`` (built with ``train=False``) as uint8 (N, C, H, W)."""
    return torch.stack([to_uint8(pairs[i][1]) for i in range(len(pairs))])


def palette_from_training_maps(pairs: MapsPairs, k: int, seed: int) -> torch.Tensor:
    return fit_palette(training_maps(pairs), k=k, seed=seed)


@torch.no_grad()
def generate(generator: nn.Module, pairs: MapsPairs, seed: int, device: str = "cpu"):
    """(inputs, reals, fakes) as uint8 tensors for every pair, in order."""
    torch.manual_seed(seed)  # seeds the CUDA generators too: dropout on a GPU
    generator.to(device).train()  # official test mode: dropout + per-image BN statistics
    inputs, reals, fakes = [], [], []
    for index in range(len(pairs)):
        source, target = pairs[index]
        # Kept on the device as uint8 until the end: nothing waits for the GPU per image.
        fakes.append(to_uint8(generator(source[None].to(device, non_blocking=True))[0]))
        inputs.append(to_uint8(source))
        reals.append(to_uint8(target))
    return torch.stack(inputs), torch.stack(reals), torch.stack(fakes).cpu()


def image_metrics(reals: torch.Tensor, fakes: torch.Tensor, palette: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image metrics: pixel accuracy (percent), L1 on [0, 1], PSNR (dB), SSIM."""
    return {
        "pixel_acc": pixel_accuracy(reals, fakes, palette) * 100,
        "l1": mean_l1(reals, fakes),
        "psnr": psnr(reals, fakes),
        "ssim": ssim(reals, fakes),
    }


def metric_summary(per_image: dict[str, np.ndarray], seed: int) -> dict:
    """``{name: mean, name_ci95: [low, high]}`` for every metric (bootstrap over images)."""
    summary: dict = {}
    for name, values in per_image.items():
        stats = summarize(values, seed=seed)
        summary[name] = stats["mean"]
        summary[f"{name}_ci95"] = stats["ci95"]
    summary["n_images"] = len(next(iter(per_image.values())))
    return summary


def sample_indices(count: int, samples: int, seed: int) -> list[int]:
    """The same seeded choice of validation pairs for every variant (aligned figures)."""
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(count, generator=generator)[: min(samples, count)].tolist())


def write_samples(
    folder: Path, paths: list[Path], inputs, reals, fakes, indices: list[int]
) -> list[str]:
    """``<pair>_input.png``, ``<pair>_real.png``, ``<pair>_fake.png`` per chosen pair."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in indices:
        stem = paths[index].stem
        for kind, images in (("input", inputs), ("real", reals), ("fake", fakes)):
            name = f"{stem}_{kind}.png"
            save_png(images[index], folder / name)
            written.append(name)
    return written
