"""SqueezeNet adapted to 32x32 CIFAR images, with fire-module variants.

Adaptations (STUDY.md): 3x3 stride-1 stem, 2x2 max-pools, BatchNorm after every fire
conv, no dropout; classifier = 1x1 conv to the classes + BN, then global average pool.
The exact widths and bias/BN flags are the ones that reproduce the dissertation's
totals (``resources/paper/param_counts.md``): fire2 squeezes to 32, every fire conv
keeps ``bias=True``, the stem has a bias and no BN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archopt.models.layers import (
    ChannelShift,
    ChannelShuffle,
    DepthwiseSeparableConv,
    GroupedPointwiseConv,
)

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
SHUFFLE_GROUPS = 2
FIRE_VARIANTS = ("base", "dsc", "shift", "shuffle")


def conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def expand3x3_branch(variant: str, squeeze: int, out: int) -> nn.Sequential:
    if variant == "base":
        return conv_bn_relu(nn.Conv2d(squeeze, out, 3, padding=1), out)
    if variant == "dsc":
        return conv_bn_relu(DepthwiseSeparableConv(squeeze, out, 3), out)
    if variant == "shift":
        return conv_bn_relu(nn.Sequential(ChannelShift(squeeze), nn.Conv2d(squeeze, out, 1)), out)
    # shuffle: channel shuffle, then a 3x3 conv with one group per squeezed channel.
    return conv_bn_relu(
        nn.Sequential(
            ChannelShuffle(SHUFFLE_GROUPS),
            nn.Conv2d(squeeze, out, 3, padding=1, groups=squeeze),
        ),
        out,
    )


class Fire(nn.Module):
    def __init__(self, in_planes: int, squeeze: int, e1: int, e3: int, variant: str) -> None:
        super().__init__()
        # Same idiom as the ResNet unit: the first fire (96 inputs) stays ungrouped.
        groups = SHUFFLE_GROUPS if variant == "shuffle" and in_planes != 96 else 1
        self.squeeze = conv_bn_relu(
            GroupedPointwiseConv(in_planes, squeeze, groups, bias=True), squeeze
        )
        self.expand1x1 = conv_bn_relu(GroupedPointwiseConv(squeeze, e1, groups, bias=True), e1)
        self.expand3x3 = expand3x3_branch(variant, squeeze, e3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], dim=1)


class CifarSqueezeNet(nn.Module):
    def __init__(self, variant: str = "base", num_classes: int = 10) -> None:
        super().__init__()
        if variant not in FIRE_VARIANTS:
            raise ValueError(f"SqueezeNet variant {variant!r} is not one of {FIRE_VARIANTS}")
        self.variant = variant
        layers: list[nn.Module] = [
            nn.Conv2d(3, 96, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        for index, (in_planes, squeeze, e1, e3) in enumerate(FIRES):
            layers.append(Fire(in_planes, squeeze, e1, e3, variant))
            if index in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Conv2d(512, num_classes, 1), nn.BatchNorm2d(num_classes))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.classifier(self.features(x))).flatten(1)
