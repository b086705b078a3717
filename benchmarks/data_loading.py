"""Images/s of one augmented CIFAR-10 training epoch: archopt's in-memory loader vs
torchvision's ``CIFAR10`` + ``DataLoader(num_workers=2)`` on the same data, same run.

    python benchmarks/data_loading.py --archive /path/to/cifar-10-python.tar.gz

Both pipelines do a 4-px zero-padded random 32 crop, a random horizontal flip and
normalization, batch 128, shuffled. The archive is extracted into a temporary folder;
torchvision's reader gets a copy whose pickles have ``str`` keys, since it cannot read
the ``bytes`` keys that Python 3 writes (as in the 5,000-image slice used for the note).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from archopt.data import batches, load_cifar
from archopt.data.archive import safe_extract
from archopt.data.cifar import read_pickle
from archopt.data.specs import cifar_spec

BATCH_SIZE = 128


class UncheckedCIFAR10(datasets.CIFAR10):
    """torchvision's reader without its hard-coded MD5 check (it rejects sliced or mirrored
    archives); the check is not part of what is timed anyway."""

    def _check_integrity(self) -> bool:
        return True

    def _load_meta(self) -> None:  # the same, minus the MD5 check of batches.meta
        meta = read_pickle(Path(self.root) / self.base_folder / self.meta["filename"])
        self.classes = meta[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def images_per_second(epoch: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]) -> float:
    start = time.perf_counter()
    count = sum(len(labels) for _, labels in epoch())
    return count / (time.perf_counter() - start)


def torchvision_copy(folder: Path, dest: Path) -> Path:
    """The extracted batches rewritten with ``str`` keys, the form torchvision reads."""
    shutil.copytree(folder, dest)
    for path in dest.iterdir():
        with open(path, "wb") as handle:
            pickle.dump(read_pickle(folder / path.name), handle, protocol=2)
    return dest


def torchvision_epoch(root: Path, workers: int) -> Callable[[], DataLoader]:
    spec = cifar_spec("cifar10")
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    dataset = UncheckedCIFAR10(str(root), train=True, transform=transform, download=False)
    return lambda: DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=workers)


def archopt_epoch(root: Path) -> Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    train = load_cifar("cifar10", root=root).train
    generator = torch.Generator().manual_seed(0)
    return lambda: batches(
        train, BATCH_SIZE, "cifar10", shuffle=True, augment=True, generator=generator
    )


def interleaved_rates(
    loaders: dict[str, Callable[[], Iterable]], repeats: int
) -> dict[str, list[float]]:
    """Images/s of ``repeats`` epochs per loader, alternating loaders so that both see the
    same background load on a shared machine."""
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(repeats):
        for name, epoch in loaders.items():
            rates[name].append(images_per_second(epoch))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, required=True, help="cifar-10-python.tar.gz")
    parser.add_argument("--repeats", type=int, default=5, help="epochs per loader")
    parser.add_argument("--workers", type=int, default=2, help="torchvision DataLoader workers")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cifar10").mkdir()
        safe_extract(args.archive, root / "cifar10")
        start = time.perf_counter()
        archopt = archopt_epoch(root)
        load_s = time.perf_counter() - start
        spec = cifar_spec("cifar10")
        torchvision_root = root / "torchvision"
        torchvision_copy(root / "cifar10" / spec.folder, torchvision_root / spec.folder)
        torchvision = torchvision_epoch(torchvision_root, args.workers)
        rates = interleaved_rates({"archopt": archopt, "torchvision": torchvision}, args.repeats)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH_SIZE}, "
        f"{args.repeats} epochs each, 1-min load average {load_before:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"archopt: loading into memory once took {load_s:.2f} s")
    print(f"{'images/s':32} {'median':>10} {'best':>10}")
    for name, label in (("archopt", "archopt loader"), ("torchvision", "torchvision + DataLoader")):
        median, best = statistics.median(rates[name]), max(rates[name])
        print(f"{label:32} {median:10,.0f} {best:10,.0f}")
    median_ratio = statistics.median(rates["archopt"]) / statistics.median(rates["torchvision"])
    best_ratio = max(rates["archopt"]) / max(rates["torchvision"])
    print(f"ratio archopt / torchvision: {median_ratio:.1f}x (medians), {best_ratio:.1f}x (bests)")


if __name__ == "__main__":
    main()
