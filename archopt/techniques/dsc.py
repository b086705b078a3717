"""DSC: depthwise separable convolutions (MobileNet) in place of full convolutions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archopt.models import layers
from archopt.techniques import Technique, register_technique

if TYPE_CHECKING:
    from torch import nn


@register_technique
class DepthwiseSeparable(Technique):
    name = "dsc"
    label = "DSC"
    color = "#1f77b4"
    paper_tables = (7, 8)

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        """Both 3x3 convs of the basic block become depthwise 3x3 + pointwise 1x1."""
        from torch import nn

        dsc, conv_bn = layers.DepthwiseSeparableConv, layers.conv_bn
        return nn.Sequential(
            *conv_bn(dsc(in_planes, out_planes, 3, stride), out_planes),
            nn.ReLU(inplace=True),
            *conv_bn(dsc(out_planes, out_planes, 3, 1), out_planes),
        )

    def fire(self, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int) -> nn.Module:
        """The 3x3 expand conv becomes depthwise 3x3 + pointwise 1x1."""
        conv3x3 = layers.DepthwiseSeparableConv(squeeze, expand3x3, 3)
        return layers.fire_module(in_planes, squeeze, expand1x1, expand3x3, conv3x3)

    def encoder_conv(self, in_channels: int, out_channels: int, outermost: bool) -> nn.Module:
        """Depthwise 4x4 stride 2 + pointwise 1x1."""
        return layers.DepthwiseSeparableConv(in_channels, out_channels, 4, 2, padding=1)
