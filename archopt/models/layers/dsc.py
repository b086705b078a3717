"""Depthwise separable convolution (MobileNet): depthwise KxK followed by pointwise 1x1."""

from __future__ import annotations

from torch import Tensor, nn


class DepthwiseSeparableConv(nn.Module):
    """Depthwise ``kernel x kernel`` conv (one filter per input channel) + pointwise 1x1.

    Nothing sits between the two convolutions: the parameter totals printed in the
    dissertation are only reproduced without a norm or bias there (see
    ``resources/paper/param_counts.md``). Callers add the norm after the pointwise conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))
