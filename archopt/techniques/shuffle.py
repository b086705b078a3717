"""Shuffle: ShuffleNet units (grouped 1x1 convolutions, channel shuffle, depthwise conv).

One unit serves ResNet and Pix2Pix: grouped 1x1 (in -> mid) + BN + ReLU, channel
shuffle, depthwise KxK (stride) + BN, grouped 1x1 (mid -> out) + BN. The SqueezeNet fire
groups its squeeze and expand1x1 convs instead. One rule decides where the first grouped
layer stays ungrouped: where its input has exactly ``ungrouped_input`` channels, the
width the family's stem gives the base network. That is ShuffleNet's idiom (kuangliu's
``g = 1 if in_planes == 24``), and keyed on the channel count, not the position, as the
dissertation's totals require: widened ResNets (stage-1 width 58, ...) are grouped
everywhere, while ResNet20-Shuffle's 16-channel inputs are not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archopt.models import layers
from archopt.techniques import Technique, register_technique

if TYPE_CHECKING:
    from torch import nn

RESNET_GROUPS = 2
RESNET_UNGROUPED_INPUT = 16  # the base ResNet's stem width
SQUEEZENET_GROUPS = 2
SQUEEZENET_UNGROUPED_INPUT = 96  # the stem width: fire2 stays ungrouped
PIX2PIX_GROUPS = 8


def first_groups(in_channels: int, groups: int, ungrouped_input: int | None) -> int:
    """Groups of the first grouped 1x1 of a unit fed ``in_channels`` channels."""
    return 1 if in_channels == ungrouped_input else groups


def shuffle_unit(
    in_channels: int,
    mid_channels: int,
    out_channels: int,
    *,
    kernel_size: int,
    stride: int,
    padding: int,
    groups: int,
    last_groups: int,
    ungrouped_input: int | None = None,
    norm: type[nn.BatchNorm2d] | None = None,
) -> nn.Sequential:
    """The ShuffleNet unit; ``norm`` defaults to ``nn.BatchNorm2d``."""
    from torch import nn

    norm = norm or nn.BatchNorm2d
    first = first_groups(in_channels, groups, ungrouped_input)
    return nn.Sequential(
        layers.GroupedPointwiseConv(in_channels, mid_channels, first),
        norm(mid_channels),
        nn.ReLU(inplace=True),
        # Shuffles with the groups of the preceding 1x1: the identity where it is ungrouped.
        layers.ChannelShuffle(first),
        nn.Conv2d(
            mid_channels, mid_channels, kernel_size, stride, padding,
            groups=mid_channels, bias=False,
        ),
        norm(mid_channels),
        layers.GroupedPointwiseConv(mid_channels, out_channels, last_groups),
        norm(out_channels),
    )


@register_technique
class Shuffle(Technique):
    name = "shuffle"
    label = "Shuffle"
    color = "#2ca02c"
    paper_tables = (11, 12)
    width_multiple = RESNET_GROUPS  # grouped convs need widths divisible by the groups

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        """The unit at the block's width (mid = out), depthwise 3x3, g = 2."""
        return shuffle_unit(
            in_planes, out_planes, out_planes, kernel_size=3, stride=stride, padding=1,
            groups=RESNET_GROUPS, last_groups=RESNET_GROUPS,
            ungrouped_input=RESNET_UNGROUPED_INPUT,
        )

    def fire(self, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int) -> nn.Module:
        """Grouped squeeze and expand1x1; shuffle, then a 3x3 with one group per squeezed channel."""
        from torch import nn

        groups = first_groups(in_planes, SQUEEZENET_GROUPS, SQUEEZENET_UNGROUPED_INPUT)
        conv3x3 = nn.Sequential(
            layers.ChannelShuffle(SQUEEZENET_GROUPS),
            nn.Conv2d(squeeze, expand3x3, 3, padding=1, groups=squeeze),
        )
        return layers.fire_module(in_planes, squeeze, expand1x1, expand3x3, conv3x3, groups=groups)

    def encoder_conv(self, in_channels: int, out_channels: int, outermost: bool) -> nn.Module:
        """g = 8, mid = in / 2, depthwise 4x4 stride 2, ungrouped last 1x1 ("candidate A")."""
        if outermost:
            # The image's input layer stays a plain conv: 3 channels cannot form 8 groups.
            return layers.plain_encoder_conv(in_channels, out_channels)
        # "Candidate A" of param_counts.md: the only regular unit found that gives the
        # paper's 35.60 M. Its norms see 1x1 maps in the innermost level (PatchSafe).
        return shuffle_unit(
            in_channels, in_channels // 2, out_channels, kernel_size=4, stride=2, padding=1,
            groups=PIX2PIX_GROUPS, last_groups=1, norm=layers.PatchSafeBatchNorm2d,
        )
