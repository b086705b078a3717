"""Building blocks shared by every network family and technique."""

from archopt.models.layers.dsc import DepthwiseSeparableConv
from archopt.models.layers.grouped import GroupedPointwiseConv
from archopt.models.layers.norm import PatchSafeBatchNorm2d
from archopt.models.layers.shift import (
    SHIFT_IMPLEMENTATIONS,
    ChannelShift,
    set_shift_impl,
    shift_directions,
    uses_shift,
)
from archopt.models.layers.shuffle import ChannelShuffle, channel_shuffle

__all__ = [
    "SHIFT_IMPLEMENTATIONS",
    "ChannelShift",
    "ChannelShuffle",
    "DepthwiseSeparableConv",
    "GroupedPointwiseConv",
    "PatchSafeBatchNorm2d",
    "channel_shuffle",
    "set_shift_impl",
    "shift_directions",
    "uses_shift",
]
