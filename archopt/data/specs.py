"""The layouts of the shipped readers' files, as a dataset file declares them.

A dataset's file (``archopt/datasets/<name>.py``) owns everything about it: its name,
folder, source, reader, structure check and, for a reader shared by several datasets
(CIFAR's pickles), the layout that reader needs (:class:`CifarLayout`). This module holds
only those layout types and the views the readers take of a registered dataset.
Torch-free: the dataset files import it while the workflow is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from archopt.datasets import Dataset, get_dataset


@dataclass(frozen=True)
class CifarLayout:
    """The files and keys of one CIFAR archive in the official python (pickle) format."""

    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    class_names_key: str
    coarse_label_key: str | None = None
    coarse_names_key: str | None = None


@dataclass(frozen=True)
class CifarSpec:
    """What the CIFAR reader needs: a registered dataset's facts and its :class:`CifarLayout`."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    class_names_key: str
    num_classes: int
    # Per-channel statistics of the training set, used by ``normalize``.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    coarse_label_key: str | None = None
    coarse_names_key: str | None = None


def cifar_spec(dataset: str) -> CifarSpec:
    """The CIFAR reader's view of ``dataset``; a ValueError when its file declares no
    :class:`CifarLayout`."""
    registered = get_dataset(dataset)
    layout = registered.layout
    if not isinstance(layout, CifarLayout):
        raise ValueError(f"dataset {dataset!r} is not in the CIFAR format: its file declares "
                         f"no CifarLayout (layout={layout!r})")
    return CifarSpec(
        name=registered.name, title=registered.title, folder=registered.folder,
        train_files=layout.train_files, test_files=layout.test_files,
        meta_file=layout.meta_file, label_key=layout.label_key,
        class_names_key=layout.class_names_key, num_classes=registered.num_classes,
        mean=registered.mean, std=registered.std, coarse_label_key=layout.coarse_label_key,
        coarse_names_key=layout.coarse_names_key,
    )


def maps_spec(dataset: str = "maps") -> Dataset:
    """The pix2pix maps reader's view: the registry entry (``folder/{split}/<n>.jpg``)."""
    return get_dataset(dataset)


def check_dataset_name(dataset: str) -> str:
    """``dataset`` when it is registered (``archopt.datasets``); else a ValueError naming it."""
    return get_dataset(dataset).name
