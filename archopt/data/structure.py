"""Checks that an extracted dataset has the expected folders, files, counts and image sizes.

The download job runs them on the temporary extraction before renaming it into place
(for the maps archive, which has no published MD5, they are the only acceptance test);
``archopt datasets`` runs them on what is in place.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import Any

from PIL import Image, UnidentifiedImageError

from archopt.data.cifar import CifarFileError, read_cifar_folder
from archopt.data.specs import cifar_spec, maps_spec
from archopt.datasets import get_dataset


class StructureError(ValueError):
    """An extracted dataset does not look like the official one; the message names the path.

    ``source`` (e.g. ``"archive <url>"``) makes ``path`` a member of that archive: the
    download reports members, not the temporary folder it checked them in.
    """

    def __init__(self, path: PurePath, problem: str, source: str | None = None) -> None:
        where = f"{source}: member {path.as_posix()}" if source else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.problem = problem


_NUMBERED_JPG = re.compile(r"^\d+\.jpg$")


def check_cifar(container: Path, dataset: str) -> dict[str, Any]:
    """Image counts of a CIFAR folder under ``container``, reading every batch file."""
    spec = cifar_spec(dataset)
    folder = container / spec.folder
    if not folder.is_dir():
        raise StructureError(folder, "folder missing")
    # Checked one by one first so that a missing file is named as such, not as an OSError.
    for name in (*spec.train_files, *spec.test_files, spec.meta_file):
        if not (folder / name).is_file():
            raise StructureError(folder / name, "file missing")
    try:
        data = read_cifar_folder(folder, dataset)
    except CifarFileError as error:
        raise StructureError(error.path, error.problem) from None
    except OSError as error:  # e.g. a file without read permission
        raise StructureError(Path(error.filename or folder), error.strerror or str(error)) from None
    if len(data.train) == 0 or len(data.test) == 0:
        raise StructureError(folder, f"no images ({len(data.train)} train, {len(data.test)} test)")
    return {"counts": {"train": len(data.train), "test": len(data.test)}}


def _maps_image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:  # reads the header only
            return image.size
    except (OSError, UnidentifiedImageError) as error:
        # Pillow's message repeats the full path, which may be a temporary folder.
        detail = str(error).replace(str(path), path.name)
        raise StructureError(path, f"not a readable image ({detail})") from None
    except Image.DecompressionBombError as error:  # a header claiming billions of pixels
        raise StructureError(path, f"refused: {error}") from None


def check_maps(container: Path, dataset: str = "maps") -> dict[str, Any]:
    """Pair counts per split and the image size; every file must be ``<n>.jpg`` with
    width == 2 x height (satellite | map side by side; 1200x600 in the official archive)."""
    spec = maps_spec(dataset)
    counts: dict[str, int] = {}
    sizes: set[tuple[int, int]] = set()
    for split in spec.splits:
        folder = container / spec.folder / split
        if not folder.is_dir():
            raise StructureError(folder, "folder missing")
        files = [p for p in folder.iterdir() if p.suffix.lower() == ".jpg"]
        if not files:
            raise StructureError(folder, "no .jpg files")
        for path in files:
            if not _NUMBERED_JPG.match(path.name):
                raise StructureError(path, "expected a numbered name like 1.jpg")
            width, height = _maps_image_size(path)
            if width != 2 * height:
                raise StructureError(
                    path, f"{width}x{height} is not a side-by-side pair (width must be 2 x height)"
                )
            sizes.add((width, height))
        counts[split] = len(files)
    if len(sizes) != 1:
        raise StructureError(container / spec.folder, f"mixed image sizes {sorted(sizes)}")
    width, height = sizes.pop()
    return {"counts": counts, "image_size": [width, height]}


def check_structure(dataset: str, container: Path) -> dict[str, Any]:
    """``{"counts": {...}, ...}`` for the dataset extracted under ``container``, by the
    check its registry entry names."""
    return get_dataset(dataset).check_structure(container)
