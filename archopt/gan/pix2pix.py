"""Pix2Pix training step with the official junyanz/pytorch-CycleGAN-and-pix2pix defaults.

Adam(lr 2e-4, betas (0.5, 0.999)) for G and D; vanilla GAN loss (BCE with logits) + 100 x
L1; the discriminator loss is halved; weights N(0, 0.02), BatchNorm weights N(1, 0.02),
biases 0; the LR is constant for ``epochs`` then decays linearly over ``epochs_decay``
with the official rule ``1 - max(0, e + 1 - epochs) / (epochs_decay + 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from archopt.datasets import get_dataset
from archopt.models import PatchDiscriminator, get_model
from archopt.paths import GAN_DATASET

LR = 2e-4
BETAS = (0.5, 0.999)
L1_WEIGHT = 100.0


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The official 'normal' init: conv/linear N(0, gain), BatchNorm N(1, gain), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def lr_factor(epoch: int, epochs: int, epochs_decay: int) -> float:
    """LR multiplier of 0-based ``epoch``: 1 for ``epochs`` epochs, then linear decay."""
    return 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1)


@dataclass
class StepLosses:
    """One step's losses as 0-d tensors on the training device: reading them waits for
    the device, so the loop sums them there and reads once an epoch."""

    d_real: Tensor
    d_fake: Tensor
    g_gan: Tensor
    g_l1: Tensor


class Pix2Pix(nn.Module):
    """Generator + conditional PatchGAN discriminator with their optimizers, for the image
    pairs of ``dataset`` (a paired dataset: its ``image_shape`` is one image of a pair)."""

    def __init__(self, variant: str, device: str = "cpu", dataset: str = GAN_DATASET) -> None:
        super().__init__()
        self.variant = variant
        self.generator = get_model(variant, dataset)  # the dataset's channels in and out
        # The discriminator sees a pair: the input image and a real or generated output.
        self.discriminator = PatchDiscriminator(input_nc=2 * get_dataset(dataset).image_shape[0])
        init_weights(self.generator)
        init_weights(self.discriminator)
        self.to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=LR, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=LR, betas=BETAS)
        self.gan_loss = nn.BCEWithLogitsLoss()
        self.l1_loss = nn.L1Loss()

    def set_lr_factor(self, factor: float) -> None:
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = LR * factor

    def _adversarial(self, prediction: Tensor, real: bool) -> Tensor:
        target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
        return self.gan_loss(prediction, target)

    def train_step(self, source: Tensor, target: Tensor) -> StepLosses:
        fake = self.generator(source)
        # Discriminator: real pairs -> 1, generated pairs -> 0, loss halved.
        self.discriminator.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        d_fake = self._adversarial(self.discriminator(torch.cat([source, fake.detach()], 1)), False)
        d_real = self._adversarial(self.discriminator(torch.cat([source, target], 1)), True)
        ((d_fake + d_real) * 0.5).backward()
        self.opt_d.step()
        # Generator: fool D + stay close to the target in L1.
        self.discriminator.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        g_gan = self._adversarial(self.discriminator(torch.cat([source, fake], 1)), True)
        g_l1 = self.l1_loss(fake, target) * L1_WEIGHT
        (g_gan + g_l1).backward()
        self.opt_g.step()
        return StepLosses(d_real.detach(), d_fake.detach(), g_gan.detach(), g_l1.detach())

    def state(self) -> dict:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
