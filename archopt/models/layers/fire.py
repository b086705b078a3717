"""The SqueezeNet fire module, whose 3x3 expand branch techniques replace."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archopt.models.layers.conv import conv_bn_relu
from archopt.models.layers.grouped import GroupedPointwiseConv


class Fire(nn.Module):
    """Squeeze, then the two expand branches concatenated along the channels."""

    def __init__(self, squeeze: nn.Module, expand1x1: nn.Module, expand3x3: nn.Module) -> None:
        super().__init__()
        self.squeeze = squeeze
        self.expand1x1 = expand1x1
        self.expand3x3 = expand3x3

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], dim=1)


def fire_module(
    in_planes: int, squeeze: int, expand1x1: int, expand3x3: int, conv3x3: nn.Module,
    groups: int = 1,
) -> Fire:
    """A fire module whose 3x3 expand conv is ``conv3x3`` (squeeze -> expand3x3 channels).

    Squeeze and expand1x1 are 1x1 convs with ``groups`` groups; every conv keeps its bias
    and is followed by BN + ReLU. Techniques build their fire hooks from this.
    """
    return Fire(
        conv_bn_relu(GroupedPointwiseConv(in_planes, squeeze, groups, bias=True), squeeze),
        conv_bn_relu(GroupedPointwiseConv(squeeze, expand1x1, groups, bias=True), expand1x1),
        conv_bn_relu(conv3x3, expand3x3),
    )
