"""Shift: a zero-parameter channel shift between 1x1 convolutions (ShiftNet's CSC)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archopt.models import layers
from archopt.techniques import Technique, register_technique

if TYPE_CHECKING:
    from torch import nn


@register_technique
class Shift(Technique):
    name = "shift"
    label = "Shift"
    color = "#ff7f0e"
    paper_tables = (9, 10)

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        """1x1 + BN + ReLU, shift, strided 1x1 + BN."""
        from torch import nn

        conv_bn = layers.conv_bn
        # Stride on the second 1x1 so the shift mixes space before downsampling (ShiftNet CSC).
        return nn.Sequential(
            *conv_bn(nn.Conv2d(in_planes, out_planes, 1, bias=False), out_planes),
            nn.ReLU(inplace=True),
            layers.ChannelShift(out_planes),
            *conv_bn(nn.Conv2d(out_planes, out_planes, 1, stride, bias=False), out_planes),
        )

    def fire(self, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int) -> nn.Module:
        """The 3x3 expand conv becomes a shift followed by a 1x1 conv."""
        from torch import nn

        conv3x3 = nn.Sequential(layers.ChannelShift(squeeze), nn.Conv2d(squeeze, expand3x3, 1))
        return layers.fire_module(in_planes, squeeze, expand1x1, expand3x3, conv3x3)

    def encoder_conv(self, in_channels: int, out_channels: int, outermost: bool) -> nn.Module:
        """1x1 to half the input width + BN + ReLU, shift, strided 1x1."""
        from torch import nn

        mid = max(1, in_channels // 2)  # the 3-channel input layer still gets one channel
        return nn.Sequential(
            nn.Conv2d(in_channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            layers.ChannelShift(mid),
            nn.Conv2d(mid, out_channels, 1, 2, bias=False),
        )

    def implementations(self) -> tuple[str, ...]:
        default = layers.DEFAULT_SHIFT_IMPL
        return (default, *(impl for impl in layers.SHIFT_IMPLEMENTATIONS if impl != default))

    def implementation_of(self, model: nn.Module) -> str | None:
        return layers.shift_impl_of(model)

    def set_implementation(self, model: nn.Module, impl: str) -> nn.Module:
        return layers.set_shift_impl(model, impl)
