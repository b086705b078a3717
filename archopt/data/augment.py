"""Batched augmentation and normalization on uint8 tensors, with no per-image Python loop.

One call draws every image's crop offset and flip at once and gathers all pixels with a
single indexing op: on a 2-core CPU that is what keeps the model, not the loader, busy.

The images may live on any device (a GPU holds a whole CIFAR training set in 150 MB):
the pixels are then cropped, flipped and normalized where they are, while the random
numbers are still drawn from the run's CPU generator, the same draws in the same order
wherever the run trains, and copied over (a few hundred bytes a batch, never waited for).
On the CPU the result is exactly the CPU computation it always was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
import torch.nn.functional as F

from archopt.data.cifar import ImageSet
from archopt.datasets import get_dataset

CROP_PADDING = 4


def _check_images(images: torch.Tensor) -> None:
    # Any channel count: a dataset's image_shape decides it (greyscale datasets have 1).
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(
            f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
        )


def normalization(dataset: str, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` of shape ``(1, C, 1, 1)`` on ``device``: ``x * scale - shift`` is
    ``(x / 255 - mean) / std`` with the dataset's statistics, in one multiply and one subtract.
    Made once per epoch, not per batch: a tensor built on a GPU from Python numbers waits
    for the copy."""
    registered = get_dataset(dataset)
    std = torch.tensor(registered.std).view(1, -1, 1, 1)
    mean = torch.tensor(registered.mean).view(1, -1, 1, 1)
    return (1.0 / (255.0 * std)).to(device), (mean / std).to(device)


def normalize(
    images: torch.Tensor,
    dataset: str,
    constants: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> float32 ``(x / 255 - mean) / std``, the dataset's statistics
    (``constants``: :func:`normalization` of ``dataset`` on the images' device, made once)."""
    _check_images(images)
    scale, shift = constants or normalization(dataset, images.device)
    return images.float().mul_(scale).sub_(shift)


def augment(
    images: torch.Tensor, generator: torch.Generator | None = None, padding: int = CROP_PADDING
) -> torch.Tensor:
    """Random crop of each image from its ``padding``-px zero-padded copy, then a random
    horizontal flip with probability 1/2; offsets and flips are independent per image."""
    _check_images(images)
    n, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    padded_width = width + 2 * padding
    # Drawn on the CPU (``generator`` is a CPU generator), in this order, wherever the
    # images are; then one copy of all draws to their device.
    top = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    if device.type != "cpu":
        draws = torch.cat([top, left, flip.long()], 1).to(device, non_blocking=True)
        top, left, flip = draws[:, :1], draws[:, 1:2], draws[:, 2:].bool()
    columns = torch.arange(width, device=device).expand(n, width)
    columns = torch.where(flip, columns.flip(1), columns) + left
    rows = torch.arange(height, device=device) + top
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


def _batch_threads(device: torch.device) -> AbstractContextManager[None]:
    """:func:`_one_thread` for batches made on the CPU; a GPU's kernels use no CPU threads."""
    return _one_thread() if device.type == "cpu" else nullcontext()


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
    """Normalized float32 image batches and int64 labels over ``data`` for one epoch, on
    the device ``data`` is on (see :meth:`ImageSet.to`).

    The same seeded CPU ``generator`` gives the same order and augmentations on every
    device; ``None`` uses torch's global CPU RNG. The last, partial batch is kept.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = data.images.device
    constants = normalization(dataset, device)  # an unknown dataset fails here
    count = len(data)
    order = None
    if shuffle:
        order = torch.randperm(count, generator=generator).to(device, non_blocking=True)
    for start in range(0, count, batch_size):
        index = (
            slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        )
        with _batch_threads(device):
            images = data.images[index]
            if augment:
                images = _augment(images, generator)
            batch = normalize(images, dataset, constants), data.labels[index]
        yield batch
