"""Pix2Pix: the UNet-256 generator with encoder variants and the 70x70 PatchGAN.

Follows the official junyanz/pytorch-CycleGAN-and-pix2pix defaults (ngf=ndf=64,
BatchNorm, so convs have no bias except the outermost ConvTranspose2d and the
discriminator's first and last convs; dropout 0.5 in the three innermost-but-one decoder
blocks). Only the 8 encoder down-convolutions (4x4, stride 2) are replaced, by a
technique's ``encoder_conv`` hook; decoder, norms and activations are unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archopt.models.layers.conv import plain_encoder_conv
from archopt.techniques import BASE, FAMILY_HOOKS, get_technique, technique_names


def encoder_conv(variant: str, in_channels: int, out_channels: int, outermost: bool) -> nn.Module:
    """A down-convolution, or its replacement by the technique ``variant``."""
    if variant == BASE:
        return plain_encoder_conv(in_channels, out_channels)
    return get_technique(variant).encoder_conv(in_channels, out_channels, outermost)


def check_variant(variant: str) -> None:
    known = [BASE, *technique_names("pix2pix")]
    if variant not in known:
        raise ValueError(
            f"Pix2Pix variant {variant!r} is not one of {known} "
            f"(a technique applies to Pix2Pix by defining {FAMILY_HOOKS['pix2pix']})"
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
        check_variant(variant)
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
