"""The dataset registry: every dataset the study can train or benchmark on, by name.

A dataset is a :class:`Dataset` registered with :func:`register_dataset`: one file per
dataset owns its name, folder, source (url, md5), reader, structure check and layout
(plugins add theirs the same way, see docs/extending.md; config ``datasets:`` only
overrides a source with a mirror). Wildcard constraints,
the config's dataset checks, training-set sizes, input shapes and the classifier-vs-
generator decisions of the workflow read this registry. Importing it imports no torch
(the workflow parses with it); a dataset's reader is named by module path and imported
only by the jobs that read images.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from archopt.registry import Registry

CLASSIFICATION = "classification"  # images -> one of num_classes labels (the classifiers)
PAIRED = "paired"  # image -> image pairs (the Pix2Pix generators)
KINDS = (CLASSIFICATION, PAIRED)
# The accuracies the study measures per kind (the report labels and compares these).
METRICS = {CLASSIFICATION: ("top1", "top5"), PAIRED: ("pixel_acc",)}


@dataclass(frozen=True)
class Dataset:
    """What the study needs to know about a dataset."""

    name: str  # lower-case; the {dataset} wildcard (config `datasets.<name>` may override the source)
    title: str
    kind: str  # CLASSIFICATION or PAIRED
    image_shape: tuple[int, int, int]  # (C, H, W) of one network input
    primary_metric: str  # the accuracy findings compare: top1 | top5 | pixel_acc
    train_images: int  # in the official training split (pairs for PAIRED)
    test_images: int
    url: str  # the official download (config `datasets.<name>.url` overrides it)
    md5: str | None
    folder: str  # the archive's top folder, extracted under resources/<name>/
    # "module:function"s, imported only by the jobs that use them:
    # reader(name, root) -> the data (CLASSIFICATION: archopt.data.CifarData-like, with
    # .train/.test ImageSets of uint8 (N, C, H, W) images and int labels);
    # structure(container, name) -> {"counts": {split: n, ...}, ...} of an extracted copy,
    # raising archopt.data.structure.StructureError naming what is wrong.
    reader: str
    structure: str
    # "module:function" (name, root, limit) -> (float32 (N, C, H, W) network inputs, int
    # labels or None): the first ``limit`` test inputs (all when None) as the bench times
    # them. None: the first images of the reader's ``.test``, normalized, with their labels.
    test_inputs: str | None = None
    splits: tuple[str, ...] = ("train", "test")
    num_classes: int | None = None  # CLASSIFICATION only
    mean: tuple[float, ...] = ()  # per-channel normalization (CLASSIFICATION)
    std: tuple[float, ...] = ()
    # What a reader shared by several datasets needs to know of this one's files (the
    # CIFAR reader: an archopt.data.specs.CifarLayout); None for a reader of its own.
    layout: Any = None
    # What its archive may hold, checked before extraction (an
    # archopt.data.archive.ArchiveLimits: member names, count, extracted bytes); None:
    # any safe member, within archopt.data.archive.DEFAULT_LIMITS.
    archive: Any = None

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION

    def read(self, root: Any) -> Any:
        """The extracted data under ``root`` (the ``resources`` folder), via the reader."""
        return _function(self.reader)(self.name, root)

    def read_test_inputs(self, root: Any, limit: int | None) -> tuple[Any, Any]:
        """The first ``limit`` test inputs under ``root`` and their labels (None for a
        generator's inputs), as every benchmark of the dataset times them."""
        return _function(self.test_inputs or DEFAULT_TEST_INPUTS)(self.name, root, limit)

    def check_structure(self, container: Any) -> dict[str, Any]:
        return _function(self.structure)(container, self.name)


DEFAULT_TEST_INPUTS = "archopt.data.inputs:first_test_images"


def _function(path: str) -> Callable[..., Any]:
    module, function = path.split(":")
    return getattr(importlib.import_module(module), function)


# Loaded on first use, through the plugin loader like a user's dataset.
DATASETS: Registry[Dataset] = Registry(
    "dataset", shipped=("archopt.datasets.cifar10", "archopt.datasets.cifar100",
                        "archopt.datasets.maps"))


def register_dataset(dataset: Dataset) -> Dataset:
    """Add ``dataset``; a name that is already registered is refused, naming both modules."""
    source = sys._getframe(1).f_globals.get("__name__", "?")  # the registering module
    DATASETS.check_name(dataset.name, f"from {source}")
    if dataset.kind not in KINDS:
        raise ValueError(f"dataset {dataset.name!r}: kind {dataset.kind!r} is not one of {KINDS}")
    if dataset.is_classification != (dataset.num_classes is not None):
        raise ValueError(f"dataset {dataset.name!r}: num_classes is set for classification only")
    if dataset.primary_metric not in METRICS[dataset.kind]:
        raise ValueError(f"dataset {dataset.name!r}: primary_metric {dataset.primary_metric!r} "
                         f"is not one of {METRICS[dataset.kind]} (what a {dataset.kind} "
                         "dataset is measured by)")
    return DATASETS.add(dataset.name, dataset, source)


_unregister_dataset = DATASETS.remove  # for tests: a dataset they register does not leak


get_dataset = DATASETS.get  # ValueError listing the registered ones for an unknown name


def dataset_names(kind: str | None = None) -> list[str]:
    """Registered names (of one kind), in registration order."""
    return [d.name for d in DATASETS.values() if kind is None or d.kind == kind]


def reported_datasets(present: Iterable[str]) -> list[str]:
    """The classification datasets among ``present`` (names with results), in
    registration order: the datasets the report gives tables, figures and answers."""
    found = set(present)
    return [name for name in dataset_names(CLASSIFICATION) if name in found]


def wildcard_pattern(kind: str | None = None) -> str:
    """A Snakemake wildcard constraint matching exactly the registered names."""
    return "|".join(dataset_names(kind))
