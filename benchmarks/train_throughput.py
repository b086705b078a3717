"""Training images/s of archopt's loop vs a textbook torchvision loop, measured in one run.

archopt: uint8 images held in memory, augmentation vectorized over the batch
(``archopt.data.batches``), the model and batches in channels-last layout, the real
``TrainingRun.train_epoch``. Reference: ``torchvision.datasets.CIFAR10``'s per-image
pipeline (PIL image + RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
Normalize) in a ``DataLoader(num_workers=2, persistent_workers=True)``, contiguous
layout. Both
train the same network (ResNet20) on the same images with the same batch, optimizer and
torch threads. Each loop trains ``--rounds`` epochs, alternating; the best epoch of each
is compared (other processes only slow a loop down).

    python benchmarks/train_throughput.py --root resources   # needs resources/cifar10

Any CIFAR-10 slice in the official format works (the 5,000-image demo slice too): the
images are read once by archopt and handed to both loops, since torchvision's reader
insists on the official checksums and Python-2 pickles.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision import transforms

from archopt.data import ImageSet, load_cifar
from archopt.data.specs import cifar_spec
from archopt.models import get_model
from archopt.train.jobs import training_batches
from archopt.train.loop import LogStream, RunSpec, TrainingRun

MODEL = "resnet20"


class InMemoryCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 (``__getitem__``: PIL image, then the transforms) over given images."""

    def __init__(self, images: ImageSet, transform: Callable) -> None:
        torchvision.datasets.VisionDataset.__init__(self, transform=transform)
        self.data = images.images.permute(
            0, 2, 3, 1
        ).numpy()  # (N, H, W, C), as torchvision keeps it
        self.targets = images.labels.tolist()


def archopt_epoch(images: ImageSet, batch_size: int) -> Callable[[], None]:
    spec = RunSpec(MODEL, "cifar10", 0.1, batch_size, 0, 1, 0.9, 5e-4, len(images), 0)
    run = TrainingRun(spec, torch.device("cpu"))
    source = training_batches(images, batch_size, "cifar10")
    stream = LogStream(logging.getLogger("benchmark"))  # progress bars go nowhere
    steps = -(-len(images) // batch_size)
    return lambda: run.train_epoch(source, steps, stream)


def reference_epoch(images: ImageSet, batch_size: int) -> Callable[[], None]:
    spec = cifar_spec("cifar10")
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    dataset = InMemoryCIFAR10(images, transform)
    # Persistent workers: their start-up is not charged to every (short) benchmark epoch.
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=2, persistent_workers=True
    )
    torch.manual_seed(0)
    model = get_model(MODEL, "cifar10")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def epoch() -> None:
        model.train()
        for batch, labels in loader:
            loss = F.cross_entropy(model(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return epoch


def seconds(epoch: Callable[[], None]) -> float:
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("resources"), help="resources root")
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = load_cifar("cifar10", args.root).train.select(slice(0, args.images))
    loops = {
        "archopt": archopt_epoch(images, args.batch_size),
        "reference": reference_epoch(images, args.batch_size),
    }
    best = {name: float("inf") for name in loops}
    for round_ in range(args.rounds + 1):  # round 0 warms up (allocator, oneDNN, workers)
        for name, epoch in loops.items():
            elapsed = seconds(epoch)
            print(f"round {round_} {name:9s} {args.images / elapsed:7.1f} img/s", flush=True)
            if round_:
                best[name] = min(best[name], elapsed)
    ours, theirs = (args.images / best[name] for name in ("archopt", "reference"))
    print(
        f"{MODEL}, batch {args.batch_size}, {args.threads} threads, {args.images} images/epoch, "
        f"best of {args.rounds}: archopt {ours:.1f} img/s, reference {theirs:.1f} img/s, "
        f"ratio {ours / theirs:.2f}x"
    )


if __name__ == "__main__":
    main()
