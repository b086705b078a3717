"""Grouped pointwise (1x1) convolution, the cheap channel mixer of ShuffleNet units."""

from __future__ import annotations

from torch import nn


class GroupedPointwiseConv(nn.Conv2d):
    """A 1x1 convolution split into ``groups`` independent channel groups."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 1,
        stride: int = 1,
        bias: bool = False,
    ) -> None:
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"grouped 1x1 conv: in_channels={in_channels} and out_channels={out_channels} "
                f"must both be divisible by groups={groups}"
            )
        super().__init__(in_channels, out_channels, 1, stride=stride, groups=groups, bias=bias)
