"""A dataset plugin as a researcher would write it (not shipped with archopt): "glyphs",
28x28 greyscale images of four hand-drawn-like marks (a bar, a column, a cross, a box) at
random places, stored as ``glyphs/{train,test}.npz`` (uint8 ``images`` of shape
(N, 28, 28), int ``labels``) inside a ``.tar.gz`` on a web server. Everything about the
dataset is in this file: no ``datasets:`` entry in the config is needed."""

from pathlib import Path

from archopt.datasets import CLASSIFICATION, Dataset, register_dataset

FOLDER = "glyphs"
SPLITS = ("train", "test")
CLASSES = ("bar", "column", "cross", "box")


def read(name, root):
    """The registry's reader: what the training and benchmark jobs load."""
    import numpy as np
    import torch

    from archopt.data.cifar import CifarData, ImageSet

    split = {}
    for part in SPLITS:
        with np.load(Path(root) / name / FOLDER / f"{part}.npz") as arrays:
            images = torch.from_numpy(arrays["images"]).unsqueeze(1)  # (N, 1, 28, 28)
            split[part] = ImageSet(images, torch.from_numpy(arrays["labels"]).long())
    return CifarData(name, split["train"], split["test"], list(CLASSES))


def check(container, name):
    """The registry's structure check, run on the extracted archive before it is installed."""
    import numpy as np

    from archopt.data.structure import StructureError

    counts = {}
    for part in SPLITS:
        path = Path(container) / FOLDER / f"{part}.npz"
        if not path.is_file():
            raise StructureError(path, "file missing")
        with np.load(path) as arrays:
            if arrays["images"].shape[1:] != (28, 28):
                raise StructureError(path, f"images of shape {arrays['images'].shape[1:]}, "
                                           "expected 28x28")
            counts[part] = len(arrays["labels"])
    return {"counts": counts}


register_dataset(Dataset(
    name="glyphs",
    title="Glyphs",
    kind=CLASSIFICATION,
    image_shape=(1, 28, 28),
    primary_metric="top1",
    train_images=160,
    test_images=40,
    url="http://127.0.0.1:8000/glyphs.tar.gz",
    md5="00000000000000000000000000000000",
    folder=FOLDER,
    reader=f"{__name__}:read",
    structure=f"{__name__}:check",
    num_classes=len(CLASSES),
    mean=(0.2,),
    std=(0.4,),
))
