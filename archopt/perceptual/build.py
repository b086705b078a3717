"""Build the study bundle: generate each variant's maps and pick the real ones.

Real and generated maps come from *different* validation pairs, as in the pix2pix paper's
maps study, so a volunteer never sees a real map and a generated version of the same
place. Every variant is judged on the same inputs and against the same real maps (a fair
comparison between networks). The pairs are drawn with a seed from the whole validation
split, independent of ``gan.val_subset``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.utils.data import Subset

from archopt.data.maps import MapsPairs
from archopt.gan.evaluate import generate, save_png, to_uint8
from archopt.io import atomic_dir, write_json_atomic
from archopt.paths import GAN_DATASET
from archopt.perceptual.bundle import FORMAT, MANIFEST
from archopt.perceptual.protocol import TRAINING_PER_CLASS
from archopt.train.checkpoint import load_weights

GENERATION_MODE = ("pix2pix test mode, as archopt.gan.evaluate: dropout on and BatchNorm on "
                   "each image's own statistics, under the bundle's seed")

Images = Sequence[tuple[str, torch.Tensor]]  # (validation pair file name, uint8 (3, H, W))


def images_per_class(pairs: int, requested: int) -> tuple[int, str | None]:
    """How many maps per class a split of ``pairs`` validation pairs allows, and a warning
    when that is fewer than ``requested`` (real and generated need distinct pairs)."""
    available = pairs // 2
    if available < 1:
        raise ValueError(f"the maps validation split has {pairs} pair(s); the study bundle needs "
                         "at least 2 (one real and one generated map from different inputs)")
    if available >= requested:
        return requested, None
    return available, (
        f"smaller bundle: the validation split has {pairs} pairs, fewer than the "
        f"{2 * requested} needed for {requested} real and {requested} generated maps from "
        f"distinct inputs (config study.images_per_class); using {available} per class, so a "
        f"test has {2 * available} trials instead of {2 * requested}"
    )


def select_pairs(pairs: int, per_class: int, seed: int) -> tuple[list[int], list[int]]:
    """Seeded, disjoint choices of validation pairs: (inputs to generate from, real maps)."""
    if 2 * per_class > pairs:
        raise ValueError(f"cannot draw 2 x {per_class} distinct pairs from {pairs}")
    order = torch.randperm(pairs, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[:per_class]), sorted(order[per_class : 2 * per_class])


def _entries(folder: str, images: Images, prefix: str) -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}/{Path(pair).stem}", "file": f"{folder}/{Path(pair).stem}.png",
         "pair": pair}
        for pair, _ in images
    ]


def write_bundle(
    out_dir: str | Path,
    reals: Images,
    fakes: Mapping[str, Images],
    info: Mapping[str, object],
) -> Path:
    """Write the PNGs and ``manifest.json``; the folder appears complete or not at all."""
    if any(len(images) != len(reals) for images in fakes.values()):
        raise ValueError(f"every network needs as many generated maps as there are real maps, "
                         f"got {len(reals)} real and {[len(v) for v in fakes.values()]} generated")
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
        "images_per_class": len(reals),
        "training_per_class": TRAINING_PER_CLASS,
        "real": _entries("real", reals, "real"),
        "networks": [
            {"model": model, "fake": _entries(f"fake/{model}", images, f"fake/{model}")}
            for model, images in fakes.items()
        ],
    }
    with atomic_dir(out_dir) as tmp:
        _write_pngs(tmp / "real", reals)
        for model, images in fakes.items():
            _write_pngs(tmp / "fake" / model, images)
        write_json_atomic(tmp / MANIFEST, manifest)
    return Path(out_dir)


def _write_pngs(folder: Path, images: Images) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for pair, image in images:
        save_png(image, folder / f"{Path(pair).stem}.png")


def build_bundle(
    root: str | Path,
    out_dir: str | Path,
    checkpoints: Mapping[str, str | Path],
    requested_per_class: int,
    seed: int,
    crop_size: int,
    logger: logging.Logger,
) -> Path:
    """Generate each variant's maps from the seeded validation inputs and write the bundle."""
    pairs = MapsPairs(root, "val", train=False, subset=None, crop_size=crop_size)
    per_class, warning = images_per_class(len(pairs), requested_per_class)
    if warning:
        logger.warning(warning)
    fake_idx, real_idx = select_pairs(len(pairs), per_class, seed)
    names = [path.name for path in pairs.paths]
    reals = [(names[i], to_uint8(pairs[i][1])) for i in real_idx]
    fakes: dict[str, Images] = {}
    start = time.perf_counter()
    for done, (model, checkpoint) in enumerate(checkpoints.items(), start=1):
        generator = load_weights(checkpoint, model, GAN_DATASET)
        _, _, generated = generate(generator, Subset(pairs, fake_idx), seed)
        fakes[model] = [(names[i], image) for i, image in zip(fake_idx, generated)]
        elapsed = time.perf_counter() - start
        logger.info("%s: %d maps generated (%d/%d networks, %.0f s, ETA %.0f s)", model,
                    per_class, done, len(checkpoints), elapsed,
                    elapsed / done * (len(checkpoints) - done))
    info = {
        "source": {"dataset": GAN_DATASET, "split": "val", "pairs": len(pairs),
                   "direction": "satellite -> map"},
        "seed": seed,
        "size": crop_size,
        "requested_images_per_class": requested_per_class,
        "warning": warning,
        "generation": GENERATION_MODE,
        "checkpoints": {model: str(path) for model, path in checkpoints.items()},
    }
    write_bundle(out_dir, reals, fakes, info)
    logger.info("bundle of %d networks x %d + %d real maps in %s", len(fakes), per_class,
                per_class, out_dir)
    return Path(out_dir)
