"""Train one Pix2Pix variant, one epoch at a time, resumable after a kill.

After every epoch the full state (G, D, both optimizers, RNG states, loss history) is
written atomically to a resume file outside Snakemake's declared outputs by the engine
the classifiers use too (``archopt.train.resume``): a rerun with ``--rerun-incomplete``
continues from the last finished epoch.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from archopt.data.maps import MapsPairs, draw_crop, load_pair, transform_pair
from archopt.gan.pix2pix import Pix2Pix, StepLosses, lr_factor
from archopt.progress import LogStream, format_duration
from archopt.train.precision import apply_precision
from archopt.train.resume import run_to_end

PROGRESS_INTERVAL_S = 30.0


class PlannedPairs(Dataset):
    """One epoch's training pairs in their training order, each with the crop and flip
    drawn for it beforehand: what is left (JPEG decoding, resizing, cropping) needs no
    random numbers, so DataLoader workers can do it and the epoch stays exactly the same."""

    def __init__(self, pairs: MapsPairs, order: list[int], crops: list[tuple[int, int, bool]]):
        self.pairs = pairs
        self.order = order
        self.crops = crops

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        satellite, map_image = load_pair(self.pairs.paths[self.order[position]])
        return transform_pair(
            satellite, map_image, train=True, crop=self.crops[position],
            load_size=self.pairs.load_size, crop_size=self.pairs.crop_size,
        )


def epoch_pairs(
    pairs: MapsPairs, generator: torch.Generator, workers: int, pin_memory: bool = False
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The epoch's ``(satellite, map)`` training pairs: the order, then each pair's crop and
    flip, drawn from ``generator`` as ``MapsPairs`` draws them one pair at a time; decoded
    in ``workers`` processes (0: in this one), delivered in order."""
    order = torch.randperm(len(pairs), generator=generator).tolist()
    crops = [draw_crop(generator, pairs.load_size, pairs.crop_size) for _ in order]
    return DataLoader(
        PlannedPairs(pairs, order, crops), batch_size=None, shuffle=False,
        num_workers=workers, pin_memory=pin_memory,
    )


def mean_losses(steps: list[StepLosses]) -> dict[str, float]:
    """Each loss's mean over the epoch's steps, read from the device once. Summed as numpy
    sums the per-step Python floats (float64, pairwise), so the CPU result is unchanged."""
    names = [field.name for field in fields(StepLosses)]
    table = torch.stack([torch.stack([getattr(step, name) for name in names]) for step in steps])
    columns = table.double().cpu().numpy().T
    return {name: float(np.mean(np.ascontiguousarray(column))) for name, column in zip(names, columns)}


@dataclass(frozen=True)
class GanSpec:
    """What determines a GAN run; a resume state must match it."""

    model: str
    epochs: int
    epochs_decay: int
    seed: int
    train_pairs: int
    load_size: int
    crop_size: int

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.epochs_decay < 0 or self.total_epochs < 1:
            raise ValueError(
                f"config keys 'gan.epochs' ({self.epochs}) and 'gan.epochs_decay' "
                f"({self.epochs_decay}) must be >= 0 with at least one epoch in total"
            )

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay


class GanRun:
    def __init__(self, spec: GanSpec, pairs: MapsPairs, device: str, workers: int = 0) -> None:
        apply_precision("fp32", device)  # the paper's float32: no TF32 on CUDA
        self.spec = spec
        self.device = device
        torch.manual_seed(spec.seed)  # initialization and dropout
        self.pix2pix = Pix2Pix(spec.model, device)
        self.generator = torch.Generator().manual_seed(spec.seed)  # order, crops, flips
        self.pairs = pairs
        self.workers = workers  # JPEG-decoding DataLoader workers
        self.history: list[dict[str, Any]] = []

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.spec.total_epochs

    def payload(self) -> dict[str, Any]:
        """The run's own state; the engine (``archopt.train.resume``) adds spec and RNGs."""
        return {"pix2pix": self.pix2pix.state(), "history": self.history}

    def load_payload(self, state: dict[str, Any]) -> None:
        self.pix2pix.load_state(state["pix2pix"])
        self.history = list(state["history"])

    def train_epoch(self, stream: LogStream) -> dict[str, float]:
        factor = lr_factor(self.epoch, self.spec.epochs, self.spec.epochs_decay)
        self.pix2pix.set_lr_factor(factor)
        self.pix2pix.train()
        on_cuda = torch.device(self.device).type == "cuda"
        loader = epoch_pairs(self.pairs, self.generator, self.workers, pin_memory=on_cuda)
        steps = []
        for source, target in tqdm(
            loader, desc=f"epoch {self.epoch + 1}", unit="pair", file=stream,
            mininterval=PROGRESS_INTERVAL_S, ascii=True, total=len(self.pairs),
        ):
            steps.append(self.pix2pix.train_step(
                source[None].to(self.device, non_blocking=True),
                target[None].to(self.device, non_blocking=True),
            ))
        return {"epoch": self.epoch + 1, "lr": 2e-4 * factor, **mean_losses(steps)}


GAN_ADVICE = "delete it (or set gan.restart: true) to start this run afresh"


def train_gan(
    spec: GanSpec,
    pairs: MapsPairs,
    state_path: str | os.PathLike,
    device: str,
    logger: logging.Logger,
    restart: bool = False,
    workers: int = 0,
) -> GanRun:
    """Train (or resume) ``spec`` for ``epochs + epochs_decay`` epochs, pairs decoded in
    ``workers`` DataLoader processes."""
    run = GanRun(spec, pairs, device, workers)
    stream = LogStream(logger)

    def one_epoch() -> None:
        start = time.perf_counter()
        record = run.train_epoch(stream)
        record["seconds"] = time.perf_counter() - start
        run.history.append(record)

    def epoch_line() -> str:
        record = run.history[-1]
        mean = sum(h["seconds"] for h in run.history) / run.epoch
        return (
            f"epoch {run.epoch}/{spec.total_epochs}: G gan {record['g_gan']:.3f} "
            f"l1 {record['g_l1']:.3f} | D real {record['d_real']:.3f} "
            f"fake {record['d_fake']:.3f} | lr {record['lr']:.2e} | {record['seconds']:.1f} s | "
            f"ETA {format_duration(mean * (spec.total_epochs - run.epoch))}"
        )

    run_to_end(run, state_path, one_epoch, epoch_line, logger, "GAN resume state",
               GAN_ADVICE, restart)
    return run
