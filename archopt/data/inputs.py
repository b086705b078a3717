"""The inputs every benchmark of a classification dataset times: its first test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from archopt.data.augment import normalize
from archopt.datasets import get_dataset


def first_test_images(
    dataset: str, root: str | Path, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` test images (all when None) under ``root``, normalized as the
    networks were trained, with their labels (the default ``Dataset.test_inputs``)."""
    test = get_dataset(dataset).read(root).test
    count = len(test) if limit is None else min(limit, len(test))
    images = normalize(test.images[:count], dataset).numpy()
    return np.ascontiguousarray(images), test.labels[:count].numpy()
