"""Checks that an extracted dataset has the expected folders, files, counts and image sizes.

The download job runs them on the temporary extraction before renaming it into place
(for the maps archive, which has no published MD5, they are the only acceptance test);
``archopt datasets`` runs them on what is in place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from archopt.data.cifar import read_cifar_folder
from archopt.data.specs import CIFAR_SPECS, MAPS_SPEC, check_dataset_name


class StructureError(ValueError):
    """An extracted dataset does not look like the official one; the message names the path."""


_NUMBERED_JPG = re.compile(r"^\d+\.jpg$")


def check_cifar(container: Path, dataset: str) -> dict[str, Any]:
    """Image counts of a CIFAR folder under ``container``, reading every batch file."""
    folder = container / CIFAR_SPECS[dataset].folder
    if not folder.is_dir():
        raise StructureError(f"{folder}: folder missing")
    try:
        data = read_cifar_folder(folder, dataset)
    except (OSError, ValueError) as error:
        raise StructureError(str(error)) from None
    if len(data.train) == 0 or len(data.test) == 0:
        raise StructureError(
            f"{folder}: no images ({len(data.train)} train, {len(data.test)} test)"
        )
    return {"counts": {"train": len(data.train), "test": len(data.test)}}


def _maps_image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:  # reads the header only
            return image.size
    except (OSError, UnidentifiedImageError) as error:
        raise StructureError(f"{path}: not a readable image ({error})") from None


def check_maps(container: Path) -> dict[str, Any]:
    """Pair counts per split and the image size; every file must be ``<n>.jpg`` with
    width == 2 x height (satellite | map side by side; 1200x600 in the official archive)."""
    counts: dict[str, int] = {}
    sizes: set[tuple[int, int]] = set()
    for split in MAPS_SPEC.splits:
        folder = container / MAPS_SPEC.folder / split
        if not folder.is_dir():
            raise StructureError(f"{folder}: folder missing")
        files = [p for p in folder.iterdir() if p.suffix.lower() == ".jpg"]
        if not files:
            raise StructureError(f"{folder}: no .jpg files")
        for path in files:
            if not _NUMBERED_JPG.match(path.name):
                raise StructureError(f"{path}: expected a numbered name like 1.jpg")
            width, height = _maps_image_size(path)
            if width != 2 * height:
                raise StructureError(
                    f"{path}: {width}x{height} is not a side-by-side pair "
                    "(width must be 2 x height)"
                )
            sizes.add((width, height))
        counts[split] = len(files)
    if len(sizes) != 1:
        raise StructureError(f"{container / MAPS_SPEC.folder}: mixed image sizes {sorted(sizes)}")
    width, height = sizes.pop()
    return {"counts": counts, "image_size": [width, height]}


def check_structure(dataset: str, container: Path) -> dict[str, Any]:
    """``{"counts": {...}, ...}`` for the dataset extracted under ``container``."""
    check_dataset_name(dataset)
    if dataset == MAPS_SPEC.name:
        return check_maps(container)
    return check_cifar(container, dataset)
