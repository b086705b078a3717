"""Resume across devices: only the run's own GPU's RNG is saved; states from another
device kind, or an old state with several GPUs' RNGs, are refused by name (constructed on
the CPU: the check runs before any CUDA call)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from archopt.train.checkpoint import CheckpointError, save_torch_atomic
from archopt.train.resume import own_cuda_rng, restore, state_of

ADVICE = "delete it to start afresh"


@dataclass
class Spec:
    seed: int = 0


class TinyRun:
    """The smallest run the engine accepts: one weight, one epoch counter."""

    def __init__(self, device: str = "cpu") -> None:
        self.spec = Spec()
        self.device = device
        self.generator = torch.Generator().manual_seed(0)
        self.weight = torch.zeros(3)
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def finished(self) -> bool:
        return self._epoch >= 2

    def payload(self) -> dict[str, Any]:
        return {"weight": self.weight, "epoch": self._epoch}

    def load_payload(self, state: dict[str, Any]) -> None:
        self.weight, self._epoch = state["weight"], state["epoch"]


def saved_state(tmp_path: Path, cuda: Any) -> Path:
    run = TinyRun()
    run.weight, run._epoch = torch.ones(3), 1
    state = state_of(run)
    state["rng"]["cuda"] = cuda
    path = tmp_path / "state.pt"
    save_torch_atomic(path, state)
    return path


def test_a_cpu_state_resumes_on_the_cpu_with_every_rng(tmp_path):
    path = saved_state(tmp_path, None)
    expected = torch.Generator().manual_seed(0).get_state()
    run = TinyRun()
    run.generator.manual_seed(123)
    restore(run, path, "resume state", ADVICE)
    assert run.epoch == 1 and torch.equal(run.weight, torch.ones(3))
    assert torch.equal(run.generator.get_state(), expected)


def test_an_old_state_with_several_gpus_rngs_is_refused_by_name(tmp_path):
    # What capture_rng saved before: torch.cuda.get_rng_state_all() of 2 visible GPUs.
    two_gpus = [torch.zeros(16, dtype=torch.uint8), torch.ones(16, dtype=torch.uint8)]
    path = saved_state(tmp_path, two_gpus)
    for device in ("cuda:0", "cuda:1"):
        with pytest.raises(CheckpointError, match=rf"{path}.*RNG states of 2 GPUs.*{ADVICE}"):
            own_cuda_rng(torch.load(path, weights_only=True)["rng"], device, path,
                         "resume state", ADVICE)
    run = TinyRun()
    with pytest.raises(CheckpointError, match=rf"resume state {path} holds the RNG states"):
        restore(run, path, "resume state", ADVICE)
    assert run.epoch == 0  # nothing was loaded


def test_a_state_of_the_other_device_kind_is_refused_by_name(tmp_path):
    gpu_state = saved_state(tmp_path, torch.zeros(16, dtype=torch.uint8))
    with pytest.raises(CheckpointError, match=rf"{gpu_state} was saved by a run on a GPU.*CPU"):
        restore(TinyRun(), gpu_state, "resume state", ADVICE)
    cpu_rng = torch.load(saved_state(tmp_path, None), weights_only=True)["rng"]
    with pytest.raises(CheckpointError, match=r"saved by a run on the CPU.*runs on cuda:0"):
        own_cuda_rng(cpu_rng, "cuda:0", gpu_state, "resume state", ADVICE)
    # One GPU's state (an old single-GPU list, or the new single tensor) is the run's own.
    one = torch.arange(16, dtype=torch.uint8)
    assert torch.equal(own_cuda_rng({"cuda": [one]}, "cuda:0", gpu_state, "r", ADVICE), one)
    assert torch.equal(own_cuda_rng({"cuda": one}, "cuda:3", gpu_state, "r", ADVICE), one)
