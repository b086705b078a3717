"""CIFAR ResNet 20/56/110 with the dissertation's block variants.

Macro structure (He et al. 2016, CIFAR version): 3x3 stem, three stages of ``n`` blocks
at widths (w1, w2, w3) = (16, 32, 64) scaled by a rate, stride 2 at the first block of
stages 2 and 3, global average pool, ``Linear(w3, classes)``. Every block computes
``relu(body(x) + shortcut(x))``; the first block of *every* stage (stage 1 included)
has a 1x1 conv + BN projection shortcut, which is what the paper's totals require.
Only the body differs between techniques; the bodies reuse the shared layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from archopt.models.layers import (
    ChannelShift,
    ChannelShuffle,
    DepthwiseSeparableConv,
    GroupedPointwiseConv,
)

BASE_WIDTHS = (16, 32, 64)
BLOCKS_PER_STAGE = {20: 3, 56: 9, 110: 18}
SHUFFLE_GROUPS = 2
BODIES = ("basic", "dsc", "shift", "shuffle", "bottleneck")


def scaled_widths(rate: float, technique: str) -> tuple[int, int, int]:
    """Stage widths for a width rate: ``int(c / rate)`` (Shuffle: down to a multiple of g)."""
    if technique == "shuffle":
        return tuple(int(c / rate // SHUFFLE_GROUPS * SHUFFLE_GROUPS) for c in BASE_WIDTHS)
    return tuple(int(c / rate) for c in BASE_WIDTHS)


def bottleneck_width(out_planes: int, rate: float) -> int:
    """Intermediate width of a ``_block`` bottleneck: ``int(out / rate)``."""
    return int(out_planes / rate)


def conv_bn(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels)]


def basic_body(in_planes: int, out_planes: int, stride: int, **_: object) -> nn.Sequential:
    return nn.Sequential(
        *conv_bn(nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False), out_planes),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False), out_planes),
    )


def dsc_body(in_planes: int, out_planes: int, stride: int, **_: object) -> nn.Sequential:
    return nn.Sequential(
        *conv_bn(DepthwiseSeparableConv(in_planes, out_planes, 3, stride), out_planes),
        nn.ReLU(inplace=True),
        *conv_bn(DepthwiseSeparableConv(out_planes, out_planes, 3, 1), out_planes),
    )


def shift_body(in_planes: int, out_planes: int, stride: int, **_: object) -> nn.Sequential:
    # Stride on the second 1x1 so the shift mixes space before downsampling (ShiftNet CSC).
    return nn.Sequential(
        *conv_bn(nn.Conv2d(in_planes, out_planes, 1, bias=False), out_planes),
        nn.ReLU(inplace=True),
        ChannelShift(out_planes),
        *conv_bn(nn.Conv2d(out_planes, out_planes, 1, stride, bias=False), out_planes),
    )


def shuffle_body(in_planes: int, out_planes: int, stride: int, **_: object) -> nn.Sequential:
    # The literal 16 reproduces the paper's counts: its first 1x1 is ungrouped whenever the
    # block input has 16 channels (kuangliu's ``g = 1 if in_planes == 24`` idiom).
    first_groups = 1 if in_planes == 16 else SHUFFLE_GROUPS
    return nn.Sequential(
        *conv_bn(GroupedPointwiseConv(in_planes, out_planes, first_groups), out_planes),
        nn.ReLU(inplace=True),
        ChannelShuffle(first_groups),
        *conv_bn(
            nn.Conv2d(out_planes, out_planes, 3, stride, 1, groups=out_planes, bias=False),
            out_planes,
        ),
        *conv_bn(GroupedPointwiseConv(out_planes, out_planes, SHUFFLE_GROUPS), out_planes),
    )


def bottleneck_body(
    in_planes: int, out_planes: int, stride: int, mid_rate: float = 1.0, **_: object
) -> nn.Sequential:
    mid = bottleneck_width(out_planes, mid_rate)
    return nn.Sequential(
        *conv_bn(nn.Conv2d(in_planes, mid, 1, bias=False), mid),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(mid, mid, 3, stride, 1, bias=False), mid),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(mid, out_planes, 1, bias=False), out_planes),
    )


BODY_FACTORIES = {
    "basic": basic_body,
    "dsc": dsc_body,
    "shift": shift_body,
    "shuffle": shuffle_body,
    "bottleneck": bottleneck_body,
}


class ResidualBlock(nn.Module):
    """``relu(body(x) + shortcut(x))`` with an optional 1x1 projection shortcut."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


@dataclass(frozen=True)
class ResNetSpec:
    depth: int
    body: str = "basic"
    widths: tuple[int, int, int] = BASE_WIDTHS
    mid_rate: float = 1.0

    def __post_init__(self) -> None:
        if self.depth not in BLOCKS_PER_STAGE:
            raise ValueError(
                f"ResNet depth {self.depth} is not one of {sorted(BLOCKS_PER_STAGE)}"
            )
        if self.body not in BODY_FACTORIES:
            raise ValueError(f"ResNet body {self.body!r} is not one of {BODIES}")
        if min(self.widths) < 1:
            raise ValueError(f"ResNet widths {self.widths} must all be >= 1")


class CifarResNet(nn.Module):
    def __init__(self, spec: ResNetSpec, num_classes: int = 10) -> None:
        super().__init__()
        self.spec = spec
        w1 = spec.widths[0]
        self.stem = nn.Sequential(
            *conv_bn(nn.Conv2d(3, w1, 3, 1, 1, bias=False), w1), nn.ReLU(inplace=True)
        )
        make_body = BODY_FACTORIES[spec.body]
        stages = []
        in_planes = w1
        for stage, out_planes in enumerate(spec.widths):
            blocks = []
            for index in range(BLOCKS_PER_STAGE[spec.depth]):
                stride = 2 if stage > 0 and index == 0 else 1
                shortcut = None
                if index == 0:
                    shortcut = nn.Sequential(
                        *conv_bn(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), out_planes)
                    )
                body = make_body(in_planes, out_planes, stride, mid_rate=spec.mid_rate)
                blocks.append(ResidualBlock(body, shortcut))
                in_planes = out_planes
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(self.pool(x).flatten(1))
