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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from archopt.data.maps import MapsPairs
from archopt.gan.pix2pix import Pix2Pix, lr_factor
from archopt.progress import LogStream, format_duration
from archopt.train.resume import run_to_end

PROGRESS_INTERVAL_S = 30.0


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
    def __init__(self, spec: GanSpec, pairs: MapsPairs, device: str) -> None:
        self.spec = spec
        self.device = device
        torch.manual_seed(spec.seed)  # initialization and dropout
        self.pix2pix = Pix2Pix(spec.model, device)
        self.generator = torch.Generator().manual_seed(spec.seed)  # order, crops, flips
        pairs.generator = self.generator
        self.pairs = pairs
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
        order = torch.randperm(len(self.pairs), generator=self.generator).tolist()
        losses = []
        for index in tqdm(
            order, desc=f"epoch {self.epoch + 1}", unit="pair", file=stream,
            mininterval=PROGRESS_INTERVAL_S, ascii=True,
        ):
            source, target = self.pairs[index]
            step = self.pix2pix.train_step(
                source[None].to(self.device), target[None].to(self.device)
            )
            losses.append(asdict(step))
        means = {key: float(np.mean([loss[key] for loss in losses])) for key in losses[0]}
        return {"epoch": self.epoch + 1, "lr": 2e-4 * factor, **means}


GAN_ADVICE = "delete it (or set gan.restart: true) to start this run afresh"


def train_gan(
    spec: GanSpec,
    pairs: MapsPairs,
    state_path: str | os.PathLike,
    device: str,
    logger: logging.Logger,
    restart: bool = False,
) -> GanRun:
    """Train (or resume) ``spec`` for ``epochs + epochs_decay`` epochs."""
    run = GanRun(spec, pairs, device)
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
