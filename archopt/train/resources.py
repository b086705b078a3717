"""Conservative memory and wall-time requests for a training job, from the network's size.

Cluster executors turn ``resources: mem_mb, runtime`` into the job's limits, and widened
networks need far more than base ones (ResNet110-Shuffle-0.25 at batch 256 peaks at
~16 GB, ResNet20 at ~1.5 GB), so one constant would be either wasteful or fatal. Both
estimates were calibrated on a 2-core CPU (README "Training protocol") and err high; a
job killed at its time limit resumes from its last epoch anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from archopt.models import count_macs, get_model, input_shape

CIFAR_TRAIN_IMAGES = 50_000
BASE_MEM_MB = 1000  # interpreter, torch, the dataset in memory
# Per image and thread on CPU: a fixed cost plus a cost per million MACs (forward + backward).
CPU_MS_PER_IMAGE = 2.0
CPU_MS_PER_MMAC = 0.08
# On a GPU: assumed, not measured here (no GPU was available); the same form, ~20x faster.
GPU_MS_PER_IMAGE = 0.05
GPU_MS_PER_MMAC = 0.002
SAFETY = 1.5
STARTUP_MINUTES = 5


def activation_floats(model: str, dataset: str) -> int:
    """Floats produced by every leaf module in one forward pass of one image.

    Training keeps roughly these for the backward pass; counted on the meta device.
    """
    with torch.device("meta"):
        network = get_model(model, dataset)
    total = 0

    def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel()

    leaves = [m for m in network.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        network(torch.empty(1, *input_shape(dataset), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total


def train_mem_mb(model: str, dataset: str, batch_size: int) -> int:
    return BASE_MEM_MB + math.ceil(activation_floats(model, dataset) * batch_size * 4 / 2**20)


def train_runtime_minutes(
    model: str, dataset: str, images: int, epochs: int, threads: int, cuda: bool
) -> int:
    """Upper-bound wall time of ``epochs`` epochs over ``images`` images (+ validation)."""
    mmacs = count_macs(lambda: get_model(model, dataset), input_shape(dataset)) / 1e6
    if cuda:
        ms_per_image = GPU_MS_PER_IMAGE + GPU_MS_PER_MMAC * mmacs
    else:
        ms_per_image = (CPU_MS_PER_IMAGE + CPU_MS_PER_MMAC * mmacs) / threads
    seconds = epochs * images * ms_per_image / 1000
    return STARTUP_MINUTES + math.ceil(SAFETY * seconds / 60)


def job_runtime_minutes(
    train_config: Mapping[str, Any], model: str, dataset: str, threads: int, cuda: bool
) -> int:
    """``runtime`` of one ``train`` job under the ``train:`` part of the config."""
    val_size, subset = train_config["val_size"], train_config["train_subset"]
    images = (subset if subset is not None else CIFAR_TRAIN_IMAGES - val_size) + val_size
    return train_runtime_minutes(model, dataset, images, train_config["max_epochs"], threads, cuda)
