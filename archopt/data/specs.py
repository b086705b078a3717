"""What each dataset looks like on disk: folders, files, classes, normalization statistics."""

from __future__ import annotations

from dataclasses import dataclass

from archopt.datasets import get_dataset
from archopt.datasets.cifar10 import CIFAR10
from archopt.datasets.cifar100 import CIFAR100


@dataclass(frozen=True)
class CifarSpec:
    """Layout of one CIFAR archive in the official python (pickle) format."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    class_names_key: str
    num_classes: int
    # Per-channel statistics of the training set, used by ``normalize`` (from the registry).
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    coarse_label_key: str | None = None
    coarse_names_key: str | None = None


@dataclass(frozen=True)
class MapsSpec:
    """Layout of the pix2pix maps archive: ``maps/{train,val}/<n>.jpg`` side-by-side pairs."""

    name: str
    title: str
    folder: str
    splits: tuple[str, ...]


CIFAR_SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec(
        name="cifar10",
        title="CIFAR-10",
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        class_names_key="label_names",
        num_classes=CIFAR10.num_classes,
        mean=CIFAR10.mean,
        std=CIFAR10.std,
    ),
    "cifar100": CifarSpec(
        name="cifar100",
        title="CIFAR-100",
        folder="cifar-100-python",
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        class_names_key="fine_label_names",
        num_classes=CIFAR100.num_classes,
        mean=CIFAR100.mean,
        std=CIFAR100.std,
        coarse_label_key="coarse_labels",
        coarse_names_key="coarse_label_names",
    ),
}

MAPS_SPEC = MapsSpec(name="maps", title="pix2pix maps", folder="maps", splits=("train", "val"))



def cifar_spec(dataset: str) -> CifarSpec:
    try:
        return CIFAR_SPECS[dataset]
    except KeyError:
        raise ValueError(
            f"dataset {dataset!r} is not a CIFAR dataset; expected one of {sorted(CIFAR_SPECS)}"
        ) from None


def check_dataset_name(dataset: str) -> str:
    """``dataset`` when it is registered (``archopt.datasets``); else a ValueError naming it."""
    return get_dataset(dataset).name
