"""pix2pix maps pairs: ``resources/maps/maps/{train,val}/<n>.jpg``, satellite | map side by side.

The direction studied is satellite -> map: the left half is the generator's input, the
right half its target. Training applies the official pix2pix preprocessing jointly to
both halves (resize to ``load_size``, one random ``crop_size`` crop and one random flip
for the pair); evaluation resizes straight to ``crop_size``. Outputs are in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from archopt.data.specs import maps_spec

LOAD_SIZE = 286
CROP_SIZE = 256


def maps_folder(root: str | Path = "resources") -> Path:
    spec = maps_spec()
    return Path(root) / spec.name / spec.folder


def read_maps(dataset: str, root: str | Path = "resources") -> Path:
    """The dataset registry's reader: the folder of the split folders (pairs are read by
    :class:`MapsPairs`, one at a time)."""
    return Path(root) / dataset / maps_spec(dataset).folder


def _pair_number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise ValueError(f"{path}: expected a numbered pair file like 1.jpg") from None


def list_pairs(
    root: str | Path = "resources", split: str = "train", subset: int | None = None
) -> list[Path]:
    """Pair files of ``split`` sorted by their number (1.jpg, 2.jpg, ..., 10.jpg); the first
    ``subset`` of them when given."""
    splits = maps_spec().splits
    if split not in splits:
        raise ValueError(f"maps split {split!r} is not one of {list(splits)}")
    folder = maps_folder(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} not found: the maps dataset is not downloaded under {root}; "
            "run `snakemake --cores 1 download_maps`"
        )
    pairs = sorted(folder.glob("*.jpg"), key=_pair_number)
    if subset is not None:
        if subset < 1:
            raise ValueError(f"maps subset must be >= 1, got {subset}")
        pairs = pairs[:subset]
    return pairs


def load_pair(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(satellite, map)`` as uint8 ``(3, H, W/2)`` tensors: the left and right halves."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None
    height, width = pixels.shape[:2]
    if width != 2 * height:
        raise ValueError(
            f"{path}: {width}x{height} is not a side-by-side pair (width must be 2 x height)"
        )
    image = torch.from_numpy(pixels).permute(2, 0, 1)
    return image[:, :, :height], image[:, :, height:]


def _resize(pair: torch.Tensor, size: int) -> torch.Tensor:
    # Antialiased bicubic, rounded to 8 bits: what pix2pix's PIL resize of the JPEG gives.
    resized = F.interpolate(
        pair.float(), size=(size, size), mode="bicubic", align_corners=False, antialias=True
    )
    return resized.clamp_(0, 255).round_()


def _to_unit_range(images: torch.Tensor) -> torch.Tensor:
    return images.div(127.5).sub_(1.0)


def _check_sizes(load_size: int, crop_size: int) -> None:
    if crop_size > load_size:
        raise ValueError(f"crop_size={crop_size} must not exceed load_size={load_size}")


def draw_crop(
    generator: torch.Generator | None, load_size: int = LOAD_SIZE, crop_size: int = CROP_SIZE
) -> tuple[int, int, bool]:
    """The random part of the training transform, ``(top, left, flip)``, drawn in this order:
    drawn ahead for a whole epoch, it lets DataLoader workers do the rest."""
    _check_sizes(load_size, crop_size)
    top, left = torch.randint(0, load_size - crop_size + 1, (2,), generator=generator).tolist()
    return top, left, bool(torch.rand((), generator=generator) < 0.5)


def transform_pair(
    satellite: torch.Tensor,
    map_image: torch.Tensor,
    *,
    train: bool,
    generator: torch.Generator | None = None,
    load_size: int = LOAD_SIZE,
    crop_size: int = CROP_SIZE,
    crop: tuple[int, int, bool] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same resize, crop and flip for both halves; float32 ``(3, crop, crop)`` in [-1, 1].
    ``crop``: the :func:`draw_crop` result to apply (default: drawn here from ``generator``)."""
    _check_sizes(load_size, crop_size)
    pair = torch.stack([satellite, map_image])
    size = load_size if train else crop_size
    pair = _resize(pair, size)
    if train:
        top, left, flip = crop if crop is not None else draw_crop(generator, load_size, crop_size)
        pair = pair[:, :, top : top + crop_size, left : left + crop_size]
        if flip:
            pair = pair.flip(-1)
    pair = _to_unit_range(pair)
    return pair[0], pair[1]


class MapsPairs(Dataset):
    """``(satellite, map)`` float pairs of one split, decoded from disk on each access.

    ``train=True`` applies the random joint crop and flip (drawn from ``generator`` when
    given, else from torch's global RNG); ``train=False`` is deterministic.
    """

    def __init__(
        self,
        root: str | Path = "resources",
        split: str = "train",
        *,
        train: bool,
        subset: int | None = None,
        load_size: int = LOAD_SIZE,
        crop_size: int = CROP_SIZE,
        generator: torch.Generator | None = None,
    ) -> None:
        self.paths = list_pairs(root, split, subset)
        self.train = train
        self.load_size = load_size
        self.crop_size = crop_size
        self.generator = generator

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        satellite, map_image = load_pair(self.paths[index])
        return transform_pair(
            satellite,
            map_image,
            train=self.train,
            generator=self.generator,
            load_size=self.load_size,
            crop_size=self.crop_size,
        )


def first_val_satellites(
    dataset: str, root: str | Path, limit: int | None
) -> tuple[np.ndarray, None]:
    """The generators' benchmark inputs: the first ``limit`` validation satellites (all
    when None) at ``CROP_SIZE`` in [-1, 1]; no labels (``Dataset.test_inputs``)."""
    pairs = MapsPairs(root, "val", train=False, subset=limit)
    satellites = torch.stack([pairs[i][0] for i in range(len(pairs))]).numpy()
    return np.ascontiguousarray(satellites), None
