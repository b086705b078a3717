"""One training run: SGD with the plateau schedule, best-on-validation weights, resume.

After every epoch the whole run (weights, optimizer, schedule, RNG states, history, best
weights so far) is saved atomically to a resume file by the engine all training loops
share (``archopt.train.resume``), so a run killed at any moment continues from its last
finished epoch and, on CPU with the same seed, ends with exactly the metrics an
uninterrupted run would have.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from archopt.data import ImageSet, batches
from archopt.datasets import get_dataset
from archopt.models import get_model
from archopt.progress import LogStream, format_duration
from archopt.train.layout import native_context, training_memory_format
from archopt.train.metrics import RunningTally, Tally, evaluate, to_device
from archopt.train.precision import (
    apply_precision,
    autocast,
    check_settings,
    compiled,
    precision_in_effect,
)
from archopt.train.resume import run_to_end
from archopt.train.schedule import PlateauSchedule, Step

EVAL_BATCH_SIZE = 500
PROGRESS_INTERVAL_S = 30.0

# (images, labels) batches for one epoch; the generator drives shuffling and augmentation.
BatchSource = Callable[[torch.Generator | None], Iterator[tuple[torch.Tensor, torch.Tensor]]]


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result; a resume state must match it exactly."""

    model: str
    dataset: str
    lr: float
    batch_size: int
    seed: int
    max_epochs: int
    momentum: float
    weight_decay: float
    train_images: int
    val_images: int
    precision: str = "fp32"  # archopt.train.precision
    compile: bool = False  # torch.compile the network (CUDA graphs)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timing); nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Best:
    epoch: int = 0
    val_top1: float = -1.0
    val_top5: float = -1.0
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)


class TrainingRun:
    """The mutable state of one run, and one epoch of training on it."""

    def __init__(
        self,
        spec: RunSpec,
        device: torch.device,
        memory_format: torch.memory_format | None = None,
        build: Callable[[], nn.Module] | None = None,
    ) -> None:
        check_settings(spec.precision, spec.compile, device)
        apply_precision(spec.precision, device)
        self.spec = spec
        self.device = device
        torch.manual_seed(spec.seed)  # weight initialization
        # ``build``: a network that is not built by name (a pruned one, to fine-tune).
        model = build() if build is not None else get_model(spec.model, spec.dataset)
        # None: archopt's rule (archopt.train.layout); benchmarks pass one to compare.
        self.memory_format = memory_format or training_memory_format(model, device)
        self.model: nn.Module = model.to(device, memory_format=self.memory_format)
        # What training calls: the model or its compiled form, sharing the same weights.
        self.step_model = compiled(self.model, spec.compile)
        self.first_step_seconds: float | None = None  # includes compilation when compiled
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=spec.lr,
            momentum=spec.momentum,
            weight_decay=spec.weight_decay,
        )
        self.schedule = PlateauSchedule(spec.lr)
        self.generator = torch.Generator().manual_seed(spec.seed)  # shuffling + augmentation
        self.history: list[dict[str, Any]] = []
        self.best = Best()
        self.stop_reason: str | None = None

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    def payload(self) -> dict[str, Any]:
        """The run's own state; the engine (``archopt.train.resume``) adds spec and RNGs."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "history": self.history,
            "best": asdict(self.best),
            "stop_reason": self.stop_reason,
        }

    def load_payload(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule = PlateauSchedule.from_state_dict(state["schedule"])
        self.history = list(state["history"])
        self.best = Best(**state["best"])
        self.stop_reason = state["stop_reason"]

    def train_epoch(self, train_batches: BatchSource, steps: int, stream: LogStream) -> Tally:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.lr
        tally = RunningTally()
        progress = tqdm(
            train_batches(self.generator),
            total=steps,
            desc=f"epoch {self.epoch + 1}",
            unit="batch",
            file=stream,
            mininterval=PROGRESS_INTERVAL_S,
            ascii=True,
        )
        for images, labels in progress:
            images, labels = to_device(images, labels, self.device, self.memory_format)
            if self.first_step_seconds is None:
                logits, loss = self._timed_first_step(images, labels)
            else:
                logits, loss = self.train_step(images, labels)
            tally.add(logits, labels, loss)
        return tally.result()

    def train_step(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on a batch already on the device; the logits and the mean loss,
        left on the device (nothing here waits for it)."""
        with autocast(self.spec.precision, self.device):
            logits = self.step_model(images)
            loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return logits, loss

    def _timed_first_step(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The process's first step, timed to the end on the device: with ``compile`` it
        is where torch.compile compiles (and CUDA graphs are captured on later steps)."""
        start = time.perf_counter()
        result = self.train_step(images, labels)
        synchronize(self.device)
        self.first_step_seconds = time.perf_counter() - start
        return result

    def record_epoch(self, train: Tally, val: Tally, seconds: float) -> None:
        """Append the epoch to the history, keep the best weights, apply the schedule."""
        self.history.append(
            {
                "epoch": self.epoch + 1,
                "lr": self.schedule.lr,
                "train_loss": train.loss,
                "train_top1": train.top1,
                "val_loss": val.loss,
                "val_top1": val.top1,
                "val_top5": val.top5,
                "seconds": seconds,
            }
        )
        if val.top1 > self.best.val_top1:  # strict: the earliest of equal epochs wins
            weights = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
            self.best = Best(self.epoch, val.top1, val.top5, weights)
        self.stop_reason = self._stop_reason(train.loss)

    def _stop_reason(self, train_loss: float) -> str | None:
        if not math.isfinite(train_loss):
            return "diverged"  # NaN weights never recover; the grid's other runs are the fallback
        if self.schedule.step(train_loss) is Step.STOP:
            return "plateau"
        if self.epoch >= self.spec.max_epochs:
            return "max_epochs"
        return None


def restart_advice(path: Path) -> str:
    return f"delete {path}, or set train.restart: true in a --configfile, to start this run afresh"


def epoch_line(run: TrainingRun) -> str:
    """The one-line summary logged after each epoch, with an ETA to ``max_epochs``."""
    last = run.history[-1]
    mean_seconds = sum(h["seconds"] for h in run.history) / run.epoch
    remaining = 0 if run.finished else run.spec.max_epochs - run.epoch
    schedule = run.schedule
    return (
        f"epoch {run.epoch}/{run.spec.max_epochs}: train loss {last['train_loss']:.4f} "
        f"top-1 {last['train_top1']:.2f}% | val top-1 {last['val_top1']:.2f}% "
        f"top-5 {last['val_top5']:.2f}% | lr {last['lr']:g} | {last['seconds']:.1f} s | "
        f"stale {schedule.stale_epochs}/{schedule.patience}, "
        f"plateaus {schedule.plateaus}/{schedule.max_plateaus} | "
        f"ETA <= {format_duration(mean_seconds * remaining)}"
        + (f" | stopped: {run.stop_reason}" if run.finished else "")
    )


def train_run(
    spec: RunSpec,
    train_batches: BatchSource,
    val_batches: BatchSource,
    state_path: str | os.PathLike,
    device: torch.device,
    logger: logging.Logger,
    restart: bool = False,
    build: Callable[[], nn.Module] | None = None,
) -> TrainingRun:
    """Train (or resume) the run ``spec`` until the schedule or ``max_epochs`` stops it.

    ``train_batches(generator)`` yields one epoch of augmented, shuffled batches;
    ``val_batches(None)`` the validation set. The state at ``state_path`` is resumed
    unless ``restart`` is true; it is rewritten after every epoch. ``build`` makes the
    initial network where it is not ``get_model(spec.model)`` (see :class:`TrainingRun`).
    """
    state_path = Path(state_path)
    run = TrainingRun(spec, device, build=build)
    logger.info("%s", native_context(spec.model, device, run.memory_format))
    steps = math.ceil(spec.train_images / spec.batch_size)
    stream = LogStream(logger)

    def one_epoch() -> None:
        first_in_process = run.first_step_seconds is None
        start = time.perf_counter()
        train = run.train_epoch(train_batches, steps, stream)
        val = evaluate(
            run.model, val_batches(None), device, run.memory_format, spec.precision
        )
        run.record_epoch(train, val, time.perf_counter() - start)
        if spec.compile and first_in_process:
            logger.info(
                "compiled training step: the first step took %.1f s (compilation included)",
                run.first_step_seconds,
            )

    run_to_end(
        run, state_path, one_epoch, lambda: epoch_line(run), logger, "resume state",
        restart_advice(state_path), restart,
    )
    return run


def run_metrics(run: TrainingRun) -> dict[str, Any]:
    """The content of ``metrics.json``: the run's settings, its best epoch and its history."""
    return {
        **asdict(run.spec),
        "device": str(run.device),
        "gpu_name": torch.cuda.get_device_name(run.device) if run.device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        **precision_in_effect(run.device),
        # The first step of the process that finished the run, compilation included.
        "compile_seconds": run.first_step_seconds if run.spec.compile else None,
        "epochs": run.epoch,
        "stop_reason": run.stop_reason,
        "best_epoch": run.best.epoch,
        "val_top1": run.best.val_top1,
        "val_top5": run.best.val_top5,
        "train_seconds": sum(h["seconds"] for h in run.history),
        "history": run.history,
    }


@dataclass(frozen=True)
class StepTiming:
    """What :func:`time_training_steps` measured."""

    model: str
    dataset: str
    batch_size: int
    device: str
    precision: str
    compile: bool
    steps: int
    ms_per_step: float  # mean over the timed steps, batch making included
    images_per_second: float
    first_step_seconds: float  # compilation included when ``compile``
    peak_gpu_memory_bytes: int | None  # torch's allocator peak during the timing; CUDA only
    peak_host_rss_bytes: int  # this process's peak resident memory so far

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_training_steps(
    model: str,
    batch_size: int,
    steps: int,
    device: torch.device | str,
    precision: str = "fp32",
    compile: bool = False,
    dataset: str = "cifar10",
    warmup: int = 5,
) -> StepTiming:
    """Time ``steps`` training steps of ``model`` at ``batch_size`` with the settings of
    ``train.precision`` and ``train.compile``, on random images of ``dataset``'s shape.
    Entry point of ``benchmarks/gpu_acceptance.sh``-style measurements::

        time_training_steps("resnet110", 256, steps=50, device="cuda", precision="bf16",
                            compile=True).ms_per_step

    The real training path: :meth:`TrainingRun.train_step` on batches cropped, flipped
    and normalized on ``device`` from a uint8 set held there, the tallies kept on the
    device. The first step (compilation, cuDNN's autotuning) and ``warmup`` more are not
    timed. For GPU acceptance runs and throughput benchmarks; changes no global state
    beyond what a training job sets (threads aside, which are the caller's).
    """
    device = torch.device(device)
    if steps < 1 or warmup < 0:
        raise ValueError(f"time_training_steps: need steps >= 1 and warmup >= 0, got {steps}, {warmup}")
    registered = get_dataset(dataset)
    random = torch.Generator().manual_seed(0)
    count = batch_size * 4  # full batches only: the last one must not change the shape
    images = ImageSet(
        torch.randint(0, 256, (count, *registered.image_shape), generator=random,
                      dtype=torch.uint8),
        torch.randint(0, registered.num_classes or 1, (count,), generator=random),
    ).to(device)
    spec = RunSpec(
        model, dataset, 0.01, batch_size, 0, 1, 0.9, 5e-4, count, 0, precision, compile
    )
    run = TrainingRun(spec, device)
    run.model.train()

    def endless() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from batches(images, batch_size, dataset, shuffle=True, augment=True,
                               generator=run.generator)

    source = endless()
    tally = RunningTally()

    def step() -> None:  # as TrainingRun.train_epoch does it
        images, labels = to_device(*next(source), device, run.memory_format)
        logits, loss = run.train_step(images, labels)
        tally.add(logits, labels, loss)

    run._timed_first_step(*to_device(*next(source), device, run.memory_format))
    for _ in range(warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - start
    return StepTiming(
        model=model, dataset=dataset, batch_size=batch_size, device=str(device),
        precision=precision, compile=compile, steps=steps,
        ms_per_step=1000 * seconds / steps,
        images_per_second=steps * batch_size / seconds,
        first_step_seconds=run.first_step_seconds or 0.0,
        peak_gpu_memory_bytes=(
            torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        ),
        peak_host_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
