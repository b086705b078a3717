"""Batched augmentation and normalization on uint8 tensors, with no per-image Python loop.

One call draws every image's crop offset and flip at once and gathers all pixels with a
single indexing op: on a 2-core CPU that is what keeps the model, not the loader, busy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from archopt.data.cifar import ImageSet
from archopt.datasets import get_dataset

CROP_PADDING = 4


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            f"expected uint8 images of shape (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
        )


def normalize(images: torch.Tensor, dataset: str) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> float32 ``(x / 255 - mean) / std``, the dataset's statistics."""
    _check_images(images)
    registered = get_dataset(dataset)
    std = torch.tensor(registered.std).view(1, -1, 1, 1)
    mean = torch.tensor(registered.mean).view(1, -1, 1, 1)
    # One multiply and one subtract over the batch: x * (1 / (255 std)) - mean / std.
    return images.float().mul_(1.0 / (255.0 * std)).sub_(mean / std)


def augment(
    images: torch.Tensor, generator: torch.Generator | None = None, padding: int = CROP_PADDING
) -> torch.Tensor:
    """Random crop of each image from its ``padding``-px zero-padded copy, then a random
    horizontal flip with probability 1/2; offsets and flips are independent per image."""
    _check_images(images)
    n, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    padded_width = width + 2 * padding
    top = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    columns = torch.arange(width).expand(n, width)
    columns = torch.where(flip, columns.flip(1), columns) + left
    rows = torch.arange(height) + top
    # Flat pixel index into each padded image plane, shared by its three channels.
    index = (rows[:, :, None] * padded_width + columns[:, None, :]).view(n, 1, height * width)
    flat = padded.view(n, channels, -1)
    return flat.gather(2, index.expand(n, channels, height * width)).view(
        n, channels, height, width
    )


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the enclosed tensor ops on one thread, then restore the thread count.

    A batch is too small for intra-op parallelism to pay, and when the CPU is
    oversubscribed (other jobs on the node) every parallel op waits for a descheduled
    worker: measured on a loaded 2-core box, one batch took ~90 ms on 2 threads and
    under 1 ms on one. Switching costs microseconds, and the training step that
    consumes the batch runs with the caller's thread count again.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ``batches`` takes a keyword named ``augment`` (the interface other modules use), which
# shadows the function inside it.
_augment = augment


def batches(
    data: ImageSet,
    batch_size: int,
    dataset: str,
    *,
    shuffle: bool,
    augment: bool,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized float32 image batches and int64 labels over ``data`` for one epoch.

    The same seeded ``generator`` gives the same order and augmentations; ``None`` uses
    torch's global RNG. The last, partial batch is kept.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    get_dataset(dataset)  # an unknown dataset fails here, not at the first batch
    count = len(data)
    order = torch.randperm(count, generator=generator) if shuffle else None
    for start in range(0, count, batch_size):
        index = (
            slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        )
        with _one_thread():
            images = data.images[index]
            if augment:
                images = _augment(images, generator)
            batch = normalize(images, dataset), data.labels[index]
        yield batch
