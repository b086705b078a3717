"""A dataset plugin as a researcher would write it (not shipped with archopt): "stripes",
32x32 colour images of horizontal or vertical stripes in four colours, stored as one
``stripes/data.npz`` (uint8 ``train_x``/``test_x`` of shape (N, 3, 32, 32), int
``train_y``/``test_y``) inside a ``.tar.gz``."""

from pathlib import Path

from archopt.datasets import CLASSIFICATION, Dataset, register_dataset

FOLDER = "stripes"


def read(name, root):
    """The registry's reader: what the training and benchmark jobs load."""
    import numpy as np
    import torch

    from archopt.data.cifar import CifarData, ImageSet

    with np.load(Path(root) / name / FOLDER / "data.npz") as arrays:
        split = {
            part: ImageSet(torch.from_numpy(arrays[f"{part}_x"]),
                           torch.from_numpy(arrays[f"{part}_y"]).long())
            for part in ("train", "test")
        }
    return CifarData(name, split["train"], split["test"], [f"class_{i}" for i in range(8)])


def check(container, name):
    """The registry's structure check, run on the extracted archive before it is installed."""
    import numpy as np

    from archopt.data.structure import StructureError

    path = Path(container) / FOLDER / "data.npz"
    if not path.is_file():
        raise StructureError(path, "file missing")
    with np.load(path) as arrays:
        return {"counts": {part: len(arrays[f"{part}_y"]) for part in ("train", "test")}}


register_dataset(Dataset(
    name="stripes",
    title="Stripes",
    kind=CLASSIFICATION,
    image_shape=(3, 32, 32),
    primary_metric="top1",
    train_images=400,
    test_images=80,
    url="https://example.org/stripes.tar.gz",  # the tests serve their own copy
    md5=None,
    folder=FOLDER,
    reader=f"{__name__}:read",
    structure=f"{__name__}:check",
    num_classes=8,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
))
