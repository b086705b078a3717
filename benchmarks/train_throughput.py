"""Training images/s of archopt's loop vs a textbook torchvision loop, measured in one run.

archopt: uint8 images held in memory, augmentation vectorized over the batch
(``archopt.data.batches``), the model and batches in the CPU training layout (contiguous), the real
``TrainingRun.train_epoch``. Reference: ``torchvision.datasets.CIFAR10``'s per-image
pipeline (PIL image + RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
Normalize) in a ``DataLoader(num_workers=2, persistent_workers=True)``, contiguous
layout. Both
train the same network (ResNet20) on the same images with the same batch, optimizer and
torch threads. Each loop trains ``--rounds`` epochs, alternating; the best epoch of each
is compared (other processes only slow a loop down).

    python benchmarks/train_throughput.py --root resources   # needs resources/cifar10

``--layouts`` instead compares archopt's loop in the two memory formats (channels-last,
archopt's CPU layout until it crashed oneDNN on AVX2 CPUs, vs the contiguous layout it
uses on the CPU now; ``archopt.train.layout``) for ResNet20 and the channel-reduced
ResNet20-2.67, so the cost of the rule is measured in one run. Run it with
``DNNL_MAX_CPU_ISA=AVX2`` only on a CPU where channels-last does not crash.

``--device cuda`` instead compares, on the GPU, archopt's loop with the training images
held on the GPU (batches cropped, flipped and normalized there: what training jobs do)
against the same loop fed batches made on the host and copied per batch.

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
CPU = torch.device("cpu")
LAYOUT_MODELS = ("resnet20", "resnet20-2.67")
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


class InMemoryCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 (``__getitem__``: PIL image, then the transforms) over given images."""

    def __init__(self, images: ImageSet, transform: Callable) -> None:
        torchvision.datasets.VisionDataset.__init__(self, transform=transform)
        self.data = images.images.permute(
            0, 2, 3, 1
        ).numpy()  # (N, H, W, C), as torchvision keeps it
        self.targets = images.labels.tolist()


def archopt_epoch(
    images: ImageSet,
    batch_size: int,
    model: str = MODEL,
    memory_format: torch.memory_format | None = None,
    device: torch.device = CPU,
) -> Callable[[], None]:
    """One epoch of ``TrainingRun.train_epoch`` on ``device``, batches made where
    ``images`` are (``ImageSet.to``), timed to the end of the device's work."""
    spec = RunSpec(model, "cifar10", 0.1, batch_size, 0, 1, 0.9, 5e-4, len(images), 0)
    run = TrainingRun(spec, device, memory_format)
    source = training_batches(images, batch_size, "cifar10")
    stream = LogStream(logging.getLogger("benchmark"))  # progress bars go nowhere
    steps = -(-len(images) // batch_size)

    def epoch() -> None:
        run.train_epoch(source, steps, stream)  # its tallies read the device back at the end

    return epoch


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


def best_images_per_second(
    loops: dict[str, Callable[[], None]], images: int, rounds: int
) -> dict[str, float]:
    """Alternate the loops ``rounds`` times after one warm-up round; best epoch of each."""
    best = {name: float("inf") for name in loops}
    for round_ in range(rounds + 1):  # round 0 warms up (allocator, oneDNN, workers)
        for name, epoch in loops.items():
            elapsed = seconds(epoch)
            print(f"round {round_} {name:28s} {images / elapsed:7.1f} img/s", flush=True)
            if round_:
                best[name] = min(best[name], elapsed)
    return {name: images / elapsed for name, elapsed in best.items()}


def compare_layouts(images: ImageSet, args: argparse.Namespace) -> None:
    loops = {
        f"{model} {layout}": archopt_epoch(images, args.batch_size, model, memory_format)
        for model in args.models
        for layout, memory_format in LAYOUTS.items()
    }
    rates = best_images_per_second(loops, args.images, args.rounds)
    for model in args.models:
        last, plain = rates[f"{model} channels_last"], rates[f"{model} contiguous"]
        print(
            f"{model}, batch {args.batch_size}, {args.threads} threads, best of {args.rounds}: "
            f"channels_last {last:.1f} img/s, contiguous {plain:.1f} img/s, "
            f"contiguous/channels_last {plain / last:.2f}x"
        )


def compare_data_placement(images: ImageSet, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    loops = {
        "data on the device": archopt_epoch(images.to(device), args.batch_size, device=device),
        "batches from the host": archopt_epoch(images, args.batch_size, device=device),
    }
    rates = best_images_per_second(loops, args.images, args.rounds)
    resident, host = rates["data on the device"], rates["batches from the host"]
    print(
        f"{MODEL} on {device}, batch {args.batch_size}, best of {args.rounds}: data on the "
        f"device {resident:.1f} img/s, batches from the host {host:.1f} img/s, "
        f"ratio {resident / host:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("resources"), help="resources root")
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layouts", action="store_true", help="compare memory formats")
    parser.add_argument("--models", nargs="+", default=LAYOUT_MODELS, help="with --layouts")
    parser.add_argument("--device", default="cpu", help="cuda: compare where batches are made")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = load_cifar("cifar10", args.root).train.select(slice(0, args.images))
    if args.layouts:
        compare_layouts(images, args)
        return
    if args.device != "cpu":
        compare_data_placement(images, args)
        return
    loops = {
        "archopt": archopt_epoch(images, args.batch_size),
        "reference": reference_epoch(images, args.batch_size),
    }
    rates = best_images_per_second(loops, args.images, args.rounds)
    ours, theirs = rates["archopt"], rates["reference"]
    print(
        f"{MODEL}, batch {args.batch_size}, {args.threads} threads, {args.images} images/epoch, "
        f"best of {args.rounds}: archopt {ours:.1f} img/s, reference {theirs:.1f} img/s, "
        f"ratio {ours / theirs:.2f}x"
    )


if __name__ == "__main__":
    main()
