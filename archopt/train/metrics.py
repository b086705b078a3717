"""Accuracy counting, the Wilson score interval, and evaluation over a batch stream."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from archopt.train.layout import training_memory_format
from archopt.train.precision import autocast

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def topk_hits(
    logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)
) -> torch.Tensor:
    """Number of samples whose label is among the ``k`` highest logits, for each ``k``,
    as an int64 tensor on the logits' device (reading it is left to the caller: on a GPU
    every read waits for the device).

    ``k`` larger than the number of classes counts every sample as correct.
    """
    widest = min(max(ks), logits.shape[1])
    ranked = logits.topk(widest, dim=1).indices
    hits = ranked == labels.unsqueeze(1)
    return torch.stack([hits[:, : min(k, widest)].any(dim=1).sum() for k in ks])


def topk_correct(
    logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)
) -> list[int]:
    """:func:`topk_hits` as Python ints."""
    return topk_hits(logits, labels, ks).tolist()


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, as fractions in [0, 1]."""
    if trials <= 0:
        raise ValueError(f"Wilson interval needs at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"Wilson interval: {successes} successes out of {trials} trials")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Tally:
    """Sums over an epoch's batches: loss, top-1 and top-5 hits, sample count."""

    n: int = 0
    loss_sum: float = 0.0
    top1_hits: int = 0
    top5_hits: int = 0

    @property
    def loss(self) -> float:
        return self.loss_sum / self.n

    @property
    def top1(self) -> float:
        """Percent."""
        return 100.0 * self.top1_hits / self.n

    @property
    def top5(self) -> float:
        """Percent."""
        return 100.0 * self.top5_hits / self.n


class RunningTally:
    """A :class:`Tally` accumulated batch by batch on the device the logits are on.

    Adding a batch reads nothing back, so a GPU never waits for the host; :meth:`result`
    reads the sums once. The loss is summed in float64 exactly as Python floats would be
    (the float32 batch mean widened, times the batch size, added in order), so on the CPU
    the result is bit-identical to summing ``float(loss) * n`` on the host.
    """

    def __init__(self) -> None:
        self.n = 0
        self._loss_sum: torch.Tensor | None = None
        self._hits: torch.Tensor | None = None

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        """``loss`` is the batch mean, as ``F.cross_entropy`` returns it."""
        hits = topk_hits(logits.detach(), labels)
        loss_sum = loss.detach().double() * labels.numel()
        if self._loss_sum is None or self._hits is None:
            self._loss_sum, self._hits = loss_sum, hits
        else:
            self._loss_sum, self._hits = self._loss_sum + loss_sum, self._hits + hits
        self.n += labels.numel()

    def result(self) -> Tally:
        if self._loss_sum is None or self._hits is None:
            return Tally()
        top1, top5 = self._hits.tolist()
        return Tally(self.n, self._loss_sum.item(), top1, top5)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    memory_format: torch.memory_format | None = None,
    precision: str = "fp32",
) -> Tally:
    """Loss and top-1/top-5 hits of ``model`` in eval mode over ``batches``, which are
    laid out in ``memory_format`` (default: ``model``'s training layout on ``device``),
    computed in ``precision`` (``archopt.train.precision``)."""
    memory_format = memory_format or training_memory_format(model, device)
    was_training = model.training
    model.eval()
    tally = RunningTally()
    try:
        with autocast(precision, device):
            for images, labels in batches:
                images, labels = to_device(images, labels, device, memory_format)
                logits = model(images)
                tally.add(logits, labels, F.cross_entropy(logits, labels))
    finally:
        model.train(was_training)
    if tally.n == 0:
        raise ValueError("evaluation got no images")
    return tally.result()


def to_device(
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    memory_format: torch.memory_format,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a batch; images take the layout the model is in."""
    images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
    return images, labels.to(device, non_blocking=True)
