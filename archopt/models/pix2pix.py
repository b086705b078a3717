"""Pix2Pix: the UNet-256 generator with encoder variants and the 70x70 PatchGAN.

Follows the official junyanz/pytorch-CycleGAN-and-pix2pix defaults (ngf=ndf=64,
BatchNorm, so convs have no bias except the outermost ConvTranspose2d and the
discriminator's first and last convs; dropout 0.5 in the three innermost-but-one decoder
blocks). Only the 8 encoder down-convolutions (4x4, stride 2) are replaced by a
technique; decoder, norms and activations are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archopt.models.layers import (
    ChannelShift,
    ChannelShuffle,
    DepthwiseSeparableConv,
    GroupedPointwiseConv,
)

ENCODER_VARIANTS = ("base", "dsc", "shift", "shuffle")
SHUFFLE_GROUPS = 8


class PatchSafeBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that falls back to its running statistics when a training batch holds a
    single value per channel (batch 1 at the UNet's 1x1 bottleneck), where batch
    statistics are undefined and ``nn.BatchNorm2d`` raises."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


def encoder_conv(variant: str, in_ch: int, out_ch: int, outermost: bool) -> nn.Module:
    """A 4x4 stride-2 down-convolution, or its replacement by a technique."""
    if variant == "base" or (variant == "shuffle" and outermost):
        # Shuffle keeps the 3-channel input layer: 3 channels cannot be split into 8 groups.
        return nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False)
    if variant == "dsc":
        return DepthwiseSeparableConv(in_ch, out_ch, 4, 2, padding=1)
    if variant == "shift":
        mid = max(1, in_ch // 2)
        return nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            ChannelShift(mid),
            nn.Conv2d(mid, out_ch, 1, 2, bias=False),
        )
    # Shuffle (g=8), "candidate A" of param_counts.md: the only regular unit found that
    # gives the paper's 35.60 M; its last 1x1 is ungrouped.
    mid = in_ch // 2
    return nn.Sequential(
        GroupedPointwiseConv(in_ch, mid, SHUFFLE_GROUPS),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        ChannelShuffle(SHUFFLE_GROUPS),
        nn.Conv2d(mid, mid, 4, 2, 1, groups=mid, bias=False),
        PatchSafeBatchNorm2d(mid),
        nn.Conv2d(mid, out_ch, 1, bias=False),
        PatchSafeBatchNorm2d(out_ch),
    )


class UnetSkipBlock(nn.Module):
    """One UNet level: down, inner levels, up; concatenates its input except outermost."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
        variant: str = "base",
    ) -> None:
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        down = encoder_conv(variant, input_nc, inner_nc, outermost)
        if outermost:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, nn.BatchNorm2d(outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=False)
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                nn.BatchNorm2d(inner_nc),
                submodule,
                nn.ReLU(True),
                up,
                nn.BatchNorm2d(outer_nc),
            ]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """UNet with ``num_downs`` levels (8 for 256x256 images)."""

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        variant: str = "base",
        use_dropout: bool = True,
    ) -> None:
        super().__init__()
        if variant not in ENCODER_VARIANTS:
            raise ValueError(f"Pix2Pix variant {variant!r} is not one of {ENCODER_VARIANTS}")
        self.variant = variant
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, variant=variant)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(
                ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, variant=variant
            )
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, variant=variant)
        self.model = UnetSkipBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, variant=variant
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN (3 strided layers, BatchNorm), conditioned on the input image."""

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
