"""A CIFAR reader of archopt's own, into uint8 tensors held in memory.

torchvision's ``CIFAR10``/``CIFAR100`` classes hard-code the official MD5s and refuse a
mirror whose archive was verified against another checksum; this reader only needs the
official python (pickle) layout. The pickles are read with an unpickler that accepts
numpy arrays and nothing else, because a mirror's archive is not trusted code.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archopt.data.specs import CifarSpec, cifar_spec

IMAGE_SHAPE = (3, 32, 32)
PIXELS_PER_IMAGE = 3 * 32 * 32

# The array-rebuilding function of the installed numpy, whatever module it lives in
# (``numpy.core`` before 2.0, ``numpy._core`` after): pickles name either.
_RECONSTRUCT = np.array(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class CifarFileError(ValueError):
    """A CIFAR file is unreadable or malformed. ``path`` and ``problem`` are kept apart so that
    a caller checking a temporary extraction can name the archive member instead."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(str, "latin1").
            return super().find_class(module, name)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{module}.{name} is not allowed in a CIFAR file (only numpy arrays are)"
            ) from None


def _text_keys(record: dict) -> dict[str, Any]:
    # Official files are Python 2 pickles whose keys come back as bytes.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in record.items()}


def read_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with ``str`` keys; errors name the file."""
    with open(path, "rb") as handle:
        try:
            record = _ArrayOnlyUnpickler(handle, encoding="bytes").load()
        except Exception as error:  # whatever the decoder trips on, the file is corrupt
            raise CifarFileError(path, f"not a readable CIFAR pickle ({error})") from None
    if not isinstance(record, dict):
        raise CifarFileError(path, f"expected a dict, found {type(record).__name__}")
    return _text_keys(record)


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 ``(N, 3, 32, 32)`` and int64 labels ``(N,)``, in memory.

    ``coarse_labels`` holds CIFAR-100's 20 superclass labels (``None`` for CIFAR-10).
    """

    images: torch.Tensor
    labels: torch.Tensor
    coarse_labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, index: slice | torch.Tensor) -> ImageSet:
        """The images at ``index`` (a slice or an index tensor), labels kept aligned."""
        coarse = None if self.coarse_labels is None else self.coarse_labels[index]
        return ImageSet(self.images[index], self.labels[index], coarse)

    def to(self, device: torch.device | str) -> ImageSet:
        """The same images on ``device`` (itself where they are there already): batches
        are then made on that device (``archopt.data.batches``)."""
        coarse = None if self.coarse_labels is None else self.coarse_labels.to(device)
        return ImageSet(self.images.to(device), self.labels.to(device), coarse)


@dataclass(frozen=True)
class CifarData:
    dataset: str
    train: ImageSet
    test: ImageSet
    classes: list[str]
    coarse_classes: list[str] | None = None


def _decode_names(names: list) -> list[str]:
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def _required(record: dict[str, Any], key: str, path: Path) -> Any:
    if key not in record:
        raise CifarFileError(path, f"key {key!r} missing (found {sorted(record)})")
    return record[key]


def _labels(record: dict[str, Any], key: str, path: Path, count: int, classes: int) -> np.ndarray:
    labels = np.asarray(_required(record, key, path), dtype=np.int64)
    if labels.shape != (count,):
        raise CifarFileError(path, f"{key!r} has shape {labels.shape}, expected ({count},)")
    if count and (labels.min() < 0 or labels.max() >= classes):
        raise CifarFileError(
            path, f"{key!r} values span [{labels.min()}, {labels.max()}], expected [0, {classes})"
        )
    return labels


def read_batch(path: Path, spec: CifarSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pixels ``(N, 3072)`` uint8, labels and (CIFAR-100) coarse labels of one batch file."""
    record = read_pickle(path)
    data = np.asarray(_required(record, "data", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS_PER_IMAGE:
        raise CifarFileError(
            path, f"'data' is {data.dtype} {data.shape}, expected uint8 (N, {PIXELS_PER_IMAGE})"
        )
    labels = _labels(record, spec.label_key, path, len(data), spec.num_classes)
    coarse = None
    if spec.coarse_label_key is not None:
        coarse = _labels(record, spec.coarse_label_key, path, len(data), 20)
    return data, labels, coarse


def read_split(folder: Path, files: tuple[str, ...], spec: CifarSpec) -> ImageSet:
    parts = [read_batch(folder / name, spec) for name in files]
    data = np.concatenate([p[0] for p in parts])
    images = torch.from_numpy(data).reshape(-1, *IMAGE_SHAPE)
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    coarse = None
    if spec.coarse_label_key is not None:
        coarse = torch.from_numpy(np.concatenate([p[2] for p in parts]))
    return ImageSet(images, labels, coarse)


def dataset_folder(dataset: str, root: str | Path = "resources") -> Path:
    """Where the extracted archive of ``dataset`` lives under the ``resources`` root."""
    return Path(root) / dataset / cifar_spec(dataset).folder


def read_cifar_folder(folder: Path, dataset: str) -> CifarData:
    """Read an extracted archive folder (``cifar-10-batches-py`` / ``cifar-100-python``)."""
    spec = cifar_spec(dataset)
    meta_path = folder / spec.meta_file
    meta = read_pickle(meta_path)
    coarse_classes = None
    if spec.coarse_names_key is not None:
        coarse_classes = _decode_names(_required(meta, spec.coarse_names_key, meta_path))
    return CifarData(
        dataset=dataset,
        train=read_split(folder, spec.train_files, spec),
        test=read_split(folder, spec.test_files, spec),
        classes=_decode_names(_required(meta, spec.class_names_key, meta_path)),
        coarse_classes=coarse_classes,
    )


def load_cifar(dataset: str, root: str | Path = "resources") -> CifarData:
    """Read CIFAR-10 or CIFAR-100 (fine labels; coarse kept as metadata) into memory."""
    folder = dataset_folder(dataset, root)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} not found: {cifar_spec(dataset).title} is not downloaded under {root}; "
            f"run `snakemake --cores 1 download_{dataset}`"
        )
    return read_cifar_folder(folder, dataset)


def split_train_val(
    train: ImageSet, val_size: int, train_subset: int | None = None
) -> tuple[ImageSet, ImageSet]:
    """Hold out the LAST ``val_size`` training images; train on the first ``train_subset``
    of the rest (all of it when ``None``).

    Deterministic (no shuffling), so every run and every engineer sees the same split.
    """
    if not 0 < val_size < len(train):
        raise ValueError(
            f"train.val_size={val_size} must be between 1 and {len(train) - 1} "
            f"(the training set has {len(train)} images)"
        )
    rest = len(train) - val_size
    if train_subset is not None and not 0 < train_subset <= rest:
        raise ValueError(
            f"train.train_subset={train_subset} must be between 1 and {rest} "
            f"({len(train)} training images minus val_size={val_size})"
        )
    end = rest if train_subset is None else train_subset
    return train.select(slice(0, end)), train.select(slice(rest, len(train)))
