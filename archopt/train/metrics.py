"""Accuracy counting, the Wilson score interval, and evaluation over a batch stream."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from archopt.train.layout import training_memory_format

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def topk_correct(
    logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)
) -> list[int]:
    """Number of samples whose label is among the ``k`` highest logits, for each ``k``.

    ``k`` larger than the number of classes counts every sample as correct.
    """
    widest = min(max(ks), logits.shape[1])
    ranked = logits.topk(widest, dim=1).indices
    hits = ranked == labels.unsqueeze(1)
    return [int(hits[:, : min(k, widest)].any(dim=1).sum()) for k in ks]


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
    """Running sums over batches: loss, top-1 and top-5 hits, sample count."""

    n: int = 0
    loss_sum: float = 0.0
    top1_hits: int = 0
    top5_hits: int = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        """``loss`` is the batch mean, as ``F.cross_entropy`` returns it."""
        top1, top5 = topk_correct(logits.detach(), labels)
        self.n += labels.numel()
        self.loss_sum += float(loss.detach()) * labels.numel()
        self.top1_hits += top1
        self.top5_hits += top5

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


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    memory_format: torch.memory_format | None = None,
) -> Tally:
    """Loss and top-1/top-5 hits of ``model`` in eval mode over ``batches``, which are
    laid out in ``memory_format`` (default: ``model``'s training layout on ``device``)."""
    memory_format = memory_format or training_memory_format(model, device)
    was_training = model.training
    model.eval()
    tally = Tally()
    try:
        for images, labels in batches:
            images, labels = to_device(images, labels, device, memory_format)
            logits = model(images)
            tally.add(logits, labels, F.cross_entropy(logits, labels))
    finally:
        model.train(was_training)
    if tally.n == 0:
        raise ValueError("evaluation got no images")
    return tally


def to_device(
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    memory_format: torch.memory_format,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a batch; images take the layout the model is in."""
    images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
    return images, labels.to(device, non_blocking=True)
