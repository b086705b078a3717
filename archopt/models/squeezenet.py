"""SqueezeNet adapted to 32x32 CIFAR images; techniques replace whole fire modules.

Adaptations (the dissertation's, for 32x32 inputs): 3x3 stride-1 stem, 2x2 max-pools, BatchNorm after every fire
conv, no dropout; classifier = 1x1 conv to the classes + BN, then global average pool.
The exact widths and bias/BN flags are the ones that reproduce the dissertation's
totals (``resources/paper/param_counts.md``): fire2 squeezes to 32, every fire conv
keeps ``bias=True``, the stem has a bias and no BN.
"""

from __future__ import annotations

from torch import Tensor, nn

from archopt.models.layers.fire import fire_module
from archopt.techniques import BASE, FAMILY_HOOKS, get_technique, technique_names

# (in, squeeze, expand1x1, expand3x3) for fire2..fire9; a 2x2 max-pool follows fire4 and fire8.
FIRES = (
    (96, 32, 64, 64),
    (128, 16, 64, 64),
    (128, 32, 128, 128),
    (256, 32, 128, 128),
    (256, 48, 192, 192),
    (384, 48, 192, 192),
    (384, 64, 256, 256),
    (512, 64, 256, 256),
)
POOL_AFTER = {2, 6}  # indices into FIRES: after fire4 and fire8


def make_fire(variant: str, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int) -> nn.Module:
    """The base fire module, or the technique ``variant``'s."""
    if variant == BASE:
        conv3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        return fire_module(in_planes, squeeze, expand1x1, expand3x3, conv3x3)
    return get_technique(variant).fire(in_planes, squeeze, expand1x1, expand3x3)


def check_variant(variant: str) -> None:
    known = [BASE, *technique_names("squeezenet")]
    if variant not in known:
        raise ValueError(
            f"SqueezeNet variant {variant!r} is not one of {known} "
            f"(a technique applies to SqueezeNet by defining {FAMILY_HOOKS['squeezenet']})"
        )


class CifarSqueezeNet(nn.Module):
    """Images of at least 8x8 pixels (three 2x2 max-pools; ``archopt.models.shapes``)."""

    def __init__(self, variant: str = "base", num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        check_variant(variant)
        self.variant = variant
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 96, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        for index, (in_planes, squeeze, e1, e3) in enumerate(FIRES):
            layers.append(make_fire(variant, in_planes, squeeze, e1, e3))
            if index in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Conv2d(512, num_classes, 1), nn.BatchNorm2d(num_classes))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.classifier(self.features(x))).flatten(1)
