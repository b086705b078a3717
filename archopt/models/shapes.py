"""Which input images each network family can take: every family builds its stem for the
dataset's channels, and these are the sizes its downsampling allows.

Torch-free: the workflow refuses a study whose dataset a family cannot take while it is
parsed, naming the dataset, its image shape and the family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.datasets import get_dataset
from archopt.names import parse_name
from archopt.study import study_networks


@dataclass(frozen=True)
class InputSizes:
    """Image heights and widths a family takes: at least ``minimum``, a multiple of
    ``multiple``; ``reason`` says why, for the refusal."""

    minimum: int
    multiple: int
    reason: str

    def allows(self, size: int) -> bool:
        return size >= self.minimum and size % self.multiple == 0


FAMILY_INPUTS = {
    # Stride-2 3x3 convs and a global average pool: any size.
    "resnet": InputSizes(1, 1, "any size"),
    "squeezenet": InputSizes(8, 1, "at least 8x8: three 2x2 max-pools"),
    "pix2pix": InputSizes(
        256, 256, "a multiple of 256: the UNet halves the image 8 times and joins each level"),
}


def check_input_shape(family: str, dataset: str) -> None:
    """Raise ValueError naming ``dataset``, its image shape and ``family`` when the family
    cannot take the dataset's images."""
    channels, height, width = shape = get_dataset(dataset).image_shape
    sizes = FAMILY_INPUTS[family]
    if channels < 1 or not (sizes.allows(height) and sizes.allows(width)):
        raise ValueError(
            f"dataset {dataset!r} has images of shape {shape} (C, H, W), which network "
            f"family {family!r} cannot take: its image sides must be {sizes.reason}")


def check_study_inputs(config: Mapping[str, Any]) -> None:
    """Refuse (ValueError) a study training a family on images it cannot take, before any
    network is built for the plan's cost estimates."""
    for dataset in config["studies"]:
        for family in dict.fromkeys(parse_name(n).family for n in study_networks(config, dataset)):
            check_input_shape(family, dataset)
