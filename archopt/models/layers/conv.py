"""Convolutions with their norm: the plain building blocks families and techniques share."""

from __future__ import annotations

from torch import nn


def conv_bn(conv: nn.Module, channels: int) -> list[nn.Module]:
    """``conv`` followed by BatchNorm over its ``channels`` outputs (as a list, so that a
    caller can splice it into an ``nn.Sequential`` with what comes next)."""
    return [conv, nn.BatchNorm2d(channels)]


def conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(*conv_bn(conv, channels), nn.ReLU(inplace=True))


def plain_encoder_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """The base Pix2Pix generator's 4x4 stride-2 down-convolution."""
    return nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False)
