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

from archopt.models.costs import network_costs

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
# Pix2Pix (256x256, batch 1, G + D step): ~2 s per pair on one CPU thread (quick study on
# a 2-core Xeon: 4 pairs in 6-9 s); a GPU assumed ~20x faster, as above.
MAPS_TRAIN_PAIRS = 1096  # the official maps training split
GAN_CPU_MS_PER_PAIR = 2000.0
GAN_GPU_MS_PER_PAIR = 100.0


def train_mem_mb(model: str, dataset: str, batch_size: int) -> int:
    floats = network_costs(model, dataset).activation_floats
    return BASE_MEM_MB + math.ceil(floats * batch_size * 4 / 2**20)


def train_runtime_minutes(
    model: str, dataset: str, images: int, epochs: int, threads: int, cuda: bool
) -> int:
    """Upper-bound wall time of ``epochs`` epochs over ``images`` images (+ validation)."""
    mmacs = network_costs(model, dataset).macs / 1e6
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


def gan_runtime_minutes(gan_config: Mapping[str, Any], threads: int, cuda: bool) -> int:
    """Upper-bound wall time of one ``train_gan`` job under the ``gan:`` part of the config."""
    pairs = gan_config["train_subset"] or MAPS_TRAIN_PAIRS
    epochs = gan_config["epochs"] + gan_config["epochs_decay"]
    ms_per_pair = GAN_GPU_MS_PER_PAIR if cuda else GAN_CPU_MS_PER_PAIR / threads
    return STARTUP_MINUTES + math.ceil(SAFETY * epochs * pairs * ms_per_pair / 60_000)
