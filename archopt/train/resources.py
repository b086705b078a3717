"""Conservative memory and wall-time requests for a training job, from the network's size.

Cluster executors turn ``resources: mem_mb, runtime`` into the job's limits, and widened
networks need far more than base ones (ResNet110-Shuffle-0.25 at batch 256 peaks at
~16 GB, ResNet20 at ~1.5 GB), so one constant would be either wasteful or fatal. Both
estimates were calibrated on a 2-core CPU (docs/training.md, "Resources") and err high; a
job killed at its time limit resumes from its last epoch anyway.

Host memory (``mem_mb``) covers either device, because a job's device is only known
where it runs (a login node without GPUs parses the workflow for GPU nodes): the host
activations of a CPU run, or the CUDA runtime's own host memory of a GPU run, whichever
is larger. GPU memory is :func:`gpu_mem_mb`, the GPU rules' ``gpu_mem_mb`` resource
(SLURM ignores it unless a profile maps it, e.g. to a ``constraint``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from archopt.datasets import get_dataset
from archopt.models.costs import network_costs

BASE_MEM_MB = 1000  # interpreter, torch, the dataset in memory
# Host memory a process using CUDA holds beyond a CPU one: the driver, the CUDA runtime and
# the cuBLAS/cuDNN libraries torch loads (cu13 wheels: ~2-3 GB resident after the first
# convolution), and pinned staging buffers. Stated, not measured here (no GPU).
CUDA_RUNTIME_HOST_MB = 3000
# GPU memory of one training process beyond its tensors: the CUDA context and the
# libraries' kernels and handles (~0.5-1 GB on recent GPUs).
CUDA_CONTEXT_GPU_MB = 1000
# Bytes per activation value kept for the backward pass: fp32/tf32 store 4; under bf16
# autocast convolutions store 2 and batch norms 4, so 3 on average (a bound, not a fit).
ACTIVATION_BYTES = {"fp32": 4, "tf32": 4, "bf16": 3}
# Weights, gradients, SGD momentum and the best epoch's copy: four fp32 values per parameter.
FLOATS_PER_PARAM = 4
# The caching allocator's fragmentation and cuDNN's workspaces on top of the tensors.
GPU_ALLOCATOR_SLACK = 1.15
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


def activation_mb(model: str, dataset: str, batch_size: int, bytes_per_value: int = 4) -> int:
    """Memory of the activations one training step keeps for its backward pass."""
    floats = network_costs(model, dataset).activation_floats
    return math.ceil(floats * batch_size * bytes_per_value / 2**20)


def train_mem_mb(model: str, dataset: str, batch_size: int) -> int:
    """Host memory (``mem_mb``) of a training job on either device (module docstring)."""
    return BASE_MEM_MB + max(activation_mb(model, dataset, batch_size), CUDA_RUNTIME_HOST_MB)


def gpu_mem_mb(model: str, dataset: str, batch_size: int, precision: str = "fp32") -> int:
    """GPU memory one training run of ``model`` at ``batch_size`` needs, in MB (MiB).

    The activations kept for the backward pass dominate (widened ResNet110 variants at
    batch 256: ~21 GB in fp32), plus weights, gradients, momentum and the best copy, the
    allocator's slack and the CUDA context. With ``train.runs_per_gpu`` k, a GPU must hold
    k such runs: compare k x this with the GPU's memory. ``precision`` is
    ``train.precision`` (fp32, tf32, bf16).
    """
    if precision not in ACTIVATION_BYTES:
        raise ValueError(f"precision must be one of {sorted(ACTIVATION_BYTES)}, got {precision!r}")
    costs = network_costs(model, dataset)
    tensors = activation_mb(model, dataset, batch_size, ACTIVATION_BYTES[precision])
    tensors += math.ceil(costs.params * FLOATS_PER_PARAM * 4 / 2**20)
    return CUDA_CONTEXT_GPU_MB + math.ceil(GPU_ALLOCATOR_SLACK * tensors)


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


def epoch_images(train_config: Mapping[str, Any], dataset: str) -> int:
    """Images one epoch of a training job on ``dataset`` goes through under the ``train:``
    part of the config: training (its subset, or the official split less the validation
    images) plus validation."""
    val_size, subset = train_config["val_size"], train_config["train_subset"]
    train_images = get_dataset(dataset).train_images - val_size if subset is None else subset
    return train_images + val_size


def job_runtime_minutes(
    train_config: Mapping[str, Any], model: str, dataset: str, threads: int, cuda: bool
) -> int:
    """``runtime`` of one ``train`` job under the ``train:`` part of the config."""
    images = epoch_images(train_config, dataset)
    return train_runtime_minutes(model, dataset, images, train_config["max_epochs"], threads, cuda)


def gan_runtime_minutes(gan_config: Mapping[str, Any], threads: int, cuda: bool) -> int:
    """Upper-bound wall time of one ``train_gan`` job under the ``gan:`` part of the config."""
    pairs = gan_config["train_subset"] or MAPS_TRAIN_PAIRS
    epochs = gan_config["epochs"] + gan_config["epochs_decay"]
    ms_per_pair = GAN_GPU_MS_PER_PAIR if cuda else GAN_CPU_MS_PER_PAIR / threads
    return STARTUP_MINUTES + math.ceil(SAFETY * epochs * pairs * ms_per_pair / 60_000)
