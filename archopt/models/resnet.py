"""CIFAR ResNet 20/56/110 with the dissertation's block variants.

Macro structure (He et al. 2016, CIFAR version): 3x3 stem, three stages of ``n`` blocks
at widths (w1, w2, w3) = (16, 32, 64) scaled by a rate, stride 2 at the first block of
stages 2 and 3, global average pool, ``Linear(w3, classes)``. Every block computes
``relu(body(x) + shortcut(x))``; the first block of *every* stage (stage 1 included)
has a 1x1 conv + BN projection shortcut, which is what the paper's totals require.
Only the body differs between techniques: a technique's ``resnet_body`` hook builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor, nn

from archopt.models.layers.conv import conv_bn
from archopt.models.profile import built_params
from archopt.names import BLOCKS_PER_STAGE
from archopt.techniques import BASE, FAMILY_HOOKS, get_technique, technique_names

BASE_WIDTHS = (16, 32, 64)
FAMILY_BODIES = ("basic", "bottleneck")  # the family's own; techniques bring the others


def scaled_widths(rate: float, technique: str) -> tuple[int, int, int]:
    """Stage widths for a width rate: ``int(c / rate)``, rounded down to a multiple of the
    technique's ``width_multiple`` (Shuffle: 2, so its groups divide every width)."""
    multiple = 1 if technique == BASE else get_technique(technique).width_multiple
    return tuple(int(c / rate // multiple * multiple) for c in BASE_WIDTHS)


def bottleneck_width(out_planes: int, rate: float) -> int:
    """Intermediate width of a ``_block`` bottleneck: ``int(out / rate)``."""
    return int(out_planes / rate)


def basic_body(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        *conv_bn(nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False), out_planes),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False), out_planes),
    )


def bottleneck_body(in_planes: int, out_planes: int, stride: int, mid: int) -> nn.Sequential:
    return nn.Sequential(
        *conv_bn(nn.Conv2d(in_planes, mid, 1, bias=False), mid),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(mid, mid, 3, stride, 1, bias=False), mid),
        nn.ReLU(inplace=True),
        *conv_bn(nn.Conv2d(mid, out_planes, 1, bias=False), out_planes),
    )


def stem(width: int, in_channels: int = 3) -> nn.Sequential:
    """3x3 conv from the dataset's image channels to the first stage's width."""
    conv = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
    return nn.Sequential(*conv_bn(conv, width), nn.ReLU(inplace=True))


def projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """The 1x1 conv + BN shortcut of a stage's first block."""
    return nn.Sequential(*conv_bn(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), out_planes))


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
    """``body``: ``basic``, ``bottleneck`` or a technique with a ``resnet_body`` hook."""

    depth: int
    body: str = "basic"
    widths: tuple[int, int, int] = BASE_WIDTHS
    mid_rate: float = 1.0

    def __post_init__(self) -> None:
        if self.depth not in BLOCKS_PER_STAGE:
            raise ValueError(
                f"ResNet depth {self.depth} is not one of {sorted(BLOCKS_PER_STAGE)}"
            )
        known = (*FAMILY_BODIES, *technique_names("resnet"))
        if self.body not in known:
            raise ValueError(
                f"ResNet body {self.body!r} is not one of {known} (a technique applies to "
                f"ResNets by defining {FAMILY_HOOKS['resnet']})"
            )
        if min(self.widths) < 1:
            raise ValueError(f"ResNet widths {self.widths} must all be >= 1")


class BlockPlan(NamedTuple):
    """One residual block: its channels, stride, and whether it has a projection shortcut."""

    in_planes: int
    out_planes: int
    stride: int
    projection: bool


def block_plans(spec: ResNetSpec) -> Iterator[tuple[BlockPlan, int]]:
    """The blocks of ``spec`` in order, each with how often it repeats in a row: per
    stage the first block (projection; stride 2 in stages 2 and 3), then the others."""
    in_planes = spec.widths[0]
    repeats = BLOCKS_PER_STAGE[spec.depth] - 1
    for stage, out_planes in enumerate(spec.widths):
        yield BlockPlan(in_planes, out_planes, 2 if stage > 0 else 1, projection=True), 1
        yield BlockPlan(out_planes, out_planes, 1, projection=False), repeats
        in_planes = out_planes


def body_call(spec: ResNetSpec, plan: BlockPlan) -> tuple[Callable[..., nn.Module], tuple]:
    """The factory and arguments that build the body of one block."""
    args = (plan.in_planes, plan.out_planes, plan.stride)
    if spec.body == "basic":
        return basic_body, args
    if spec.body == "bottleneck":
        return bottleneck_body, (*args, bottleneck_width(plan.out_planes, spec.mid_rate))
    return get_technique(spec.body).resnet_body, args


class CifarResNet(nn.Module):
    """Any image size: the stride-2 stages need no minimum, and the pool is global."""

    def __init__(self, spec: ResNetSpec, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.spec = spec
        self.stem = stem(spec.widths[0], in_channels)
        blocks = [self.block(spec, plan) for plan, repeats in block_plans(spec) for _ in range(repeats)]
        per_stage = BLOCKS_PER_STAGE[spec.depth]
        self.stages = nn.Sequential(
            *(nn.Sequential(*blocks[i : i + per_stage]) for i in range(0, len(blocks), per_stage))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(spec.widths[-1], num_classes)

    @staticmethod
    def block(spec: ResNetSpec, plan: BlockPlan) -> ResidualBlock:
        factory, args = body_call(spec, plan)
        shortcut = projection(plan.in_planes, plan.out_planes, plan.stride) if plan.projection else None
        return ResidualBlock(factory(*args), shortcut)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(self.pool(x).flatten(1))


def param_parts(spec: ResNetSpec, num_classes: int, in_channels: int = 3) -> Iterator[int]:
    """Parameter counts of the parts of ``CifarResNet(spec, num_classes, in_channels)``; they sum to its
    total. Widest stage first and lazy, so a caller can stop once a bound is passed.

    Each distinct part (a body of given channels and stride, a shortcut, the stem, the
    classifier) is built once on the meta device and counted, then memoized: a search
    over thousands of candidate widths stays fast and no formula can drift from the layers.
    """
    for plan, repeats in reversed(list(block_plans(spec))):
        factory, args = body_call(spec, plan)
        yield repeats * built_params(factory, *args)
        if plan.projection:
            yield built_params(projection, plan.in_planes, plan.out_planes, plan.stride)
    yield built_params(stem, spec.widths[0], in_channels)
    yield built_params(nn.Linear, spec.widths[-1], num_classes)


def spec_params(spec: ResNetSpec, num_classes: int, in_channels: int = 3) -> int:
    """Parameters of ``CifarResNet(spec, num_classes, in_channels)`` without building it whole."""
    return sum(param_parts(spec, num_classes, in_channels))
