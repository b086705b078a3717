"""The resumable-run engine every training loop uses (classifiers, Pix2Pix generators).

A run is trained one epoch at a time; after every epoch its whole state (the run's own
payload: weights, optimizers, schedule, history; plus every RNG: torch's CPU generator,
the run's own GPU's, and the data generator that drives shuffling and augmentation) is
written atomically to a versioned resume file. A job killed at any moment continues from
its last finished epoch, and on the CPU with the same seed ends with exactly the result
an uninterrupted run would have. A state of another run, another format version, or
with weights that do not fit is refused naming the file and how to start afresh.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, Protocol

import torch

from archopt.train.checkpoint import (
    CheckpointError,
    apply_state,
    read_torch_dict,
    save_torch_atomic,
)

STATE_VERSION = 2  # 1: classifier states before the engine; GAN states had none
ENGINE_KEYS = ("version", "spec", "rng")


class Resumable(Protocol):
    """What the engine needs of a run."""

    spec: Any  # a dataclass: everything that determines the result
    device: Any  # torch.device or a device string
    generator: torch.Generator  # the data generator (order, crops, flips)

    @property
    def epoch(self) -> int: ...

    @property
    def finished(self) -> bool: ...

    def payload(self) -> dict[str, Any]:
        """The run's own state (weights, optimizers, history, ...)."""

    def load_payload(self, state: dict[str, Any]) -> None: ...


def on_cuda(device: Any) -> bool:
    return torch.device(device).type == "cuda"


def capture_rng(generator: torch.Generator, device: Any) -> dict[str, Any]:
    """Every RNG a run draws from. Of the GPUs only the run's own device: the others are
    not the run's, and a resume may see another number of them (another allocation)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(torch.device(device)) if on_cuda(device) else None,
        "data": generator.get_state(),
    }


def own_cuda_rng(
    rng: dict[str, Any], device: Any, path: Path, what: str, advice: str
) -> torch.Tensor | None:
    """The saved CUDA RNG state for a run resuming on ``device``, or None on the CPU; a
    state from the other kind of device, or an old state holding several GPUs' RNGs
    (which of them was the run's is unknown), is a CheckpointError naming the file."""
    saved = rng.get("cuda")
    if isinstance(saved, (list, tuple)):  # older archopt saved every visible GPU's
        if len(saved) > 1:
            raise CheckpointError(
                f"{what} {path} holds the RNG states of {len(saved)} GPUs (saved by an "
                "older archopt, which kept every visible GPU's), so the run's own cannot be "
                f"told apart; {advice}"
            )
        saved = saved[0] if saved else None
    if on_cuda(device) and saved is None:
        raise CheckpointError(
            f"{what} {path} was saved by a run on the CPU and this job runs on "
            f"{device}: the run would not continue as it started; resume it where it started "
            f"(a job with no GPU), or {advice}"
        )
    if not on_cuda(device) and saved is not None:
        raise CheckpointError(
            f"{what} {path} was saved by a run on a GPU and this job runs on the CPU: "
            f"the run would not continue as it started; resume it on a GPU, or {advice}"
        )
    return saved


def restore_rng(
    rng: dict[str, Any], generator: torch.Generator, device: Any, path: Path, what: str,
    advice: str,
) -> None:
    cuda = own_cuda_rng(rng, device, path, what, advice)
    torch.set_rng_state(rng["torch"])
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, torch.device(device))
    generator.set_state(rng["data"])


def state_of(run: Resumable) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "spec": asdict(run.spec),
        "rng": capture_rng(run.generator, run.device),
        **run.payload(),
    }


def saved_spec(saved: dict[str, Any], spec: Any) -> dict[str, Any]:
    """``saved`` with the defaults of spec fields added after it was written: a state from
    before a setting existed (e.g. ``precision``) was made with that setting's default."""
    defaults = {f.name: f.default for f in fields(spec) if f.default is not MISSING}
    return defaults | saved


def read_state(path: Path, run: Resumable, what: str, advice: str) -> dict[str, Any]:
    """A resume state checked against ``run``'s spec and the engine's version."""
    try:
        state = read_torch_dict(path, what, ENGINE_KEYS)
    except CheckpointError as error:
        raise CheckpointError(f"{error}; {advice}") from None
    if state["version"] != STATE_VERSION:
        raise CheckpointError(
            f"{what} {path} has version {state['version']}, this archopt writes "
            f"{STATE_VERSION}; {advice}"
        )
    saved = saved_spec(state["spec"], run.spec)
    differences = [
        f"{key}: saved {saved.get(key)!r}, now {value!r}"
        for key, value in asdict(run.spec).items()
        if saved.get(key) != value
    ]
    if differences:
        raise CheckpointError(
            f"{what} {path} belongs to another run ({', '.join(differences)}); {advice}"
        )
    return state


def restore(run: Resumable, path: Path, what: str, advice: str) -> None:
    state = read_state(path, run, what, advice)
    own_cuda_rng(state["rng"], run.device, path, what, advice)  # before any weights are loaded

    def load(checked: dict[str, Any]) -> None:
        run.load_payload(checked)
        restore_rng(checked["rng"], run.generator, run.device, path, what, advice)

    apply_state(load, state, path, what, advice)


def run_to_end(
    run: Resumable,
    state_path: str | os.PathLike,
    one_epoch: Callable[[], None],
    epoch_line: Callable[[], str],
    logger: logging.Logger,
    what: str,
    advice: str,
    restart: bool = False,
) -> None:
    """Resume ``run`` from ``state_path`` (unless ``restart``), then call ``one_epoch``
    until the run is finished, saving the state and logging ``epoch_line()`` after each."""
    state_path = Path(state_path)
    if state_path.exists() and not restart:
        restore(run, state_path, what, advice)
        logger.info("resuming from %s after epoch %d", state_path, run.epoch)
    elif state_path.exists():
        logger.info("restart is set: ignoring %s, starting from epoch 1", state_path)
    while not run.finished:
        one_epoch()
        save_torch_atomic(state_path, state_of(run))
        logger.info("%s", epoch_line())
