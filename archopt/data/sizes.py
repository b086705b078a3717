"""Plan-time checks of the training-set sizes the config asks for.

``train.val_size`` and ``train.train_subset`` are checked against the downloaded data
when its manifest is there (a mirror may serve a slice) and against the official size
otherwise. The train rule's input function calls the check, so an impossible split stops
the dry run when training jobs are planned, and never a run that trains nothing
(downloads or benchmarks only).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archopt.config import ConfigError
from archopt.data.manifest import read_manifest
from archopt.datasets import get_dataset


def training_images(dataset: str, resources: Path) -> tuple[int, str]:
    """Images in the training split and where that number comes from."""
    try:
        manifest = read_manifest(resources / dataset)
    except ValueError:
        manifest = None  # `archopt datasets` reports it; the download job replaces it
    count = (manifest or {}).get("counts", {}).get("train")
    if isinstance(count, int):
        return count, f"{resources / dataset / 'manifest.json'}"
    official = get_dataset(dataset)
    return official.train_images, f"the official {official.title}"


def check_training_split(
    train: Mapping[str, Any], dataset: str, resources: str | Path = "resources"
) -> None:
    """Raise :class:`ConfigError` naming the key when ``train`` cannot split ``dataset``."""
    val_size, subset = train["val_size"], train["train_subset"]
    images, source = training_images(dataset, Path(resources))
    if val_size >= images:
        raise ConfigError(
            f"config key 'train.val_size': {val_size} leaves no training image of "
            f"{dataset} ({images} training images in {source})"
        )
    if subset is not None and subset > images - val_size:
        raise ConfigError(
            f"config key 'train.train_subset': {subset} is more than the "
            f"{images - val_size} training images {dataset} has after the validation "
            f"split of {val_size} ({images} in {source})"
        )
