"""Host and GPU memory requests of a training job (archopt.train.resources)."""

from __future__ import annotations

import pytest

from archopt.train.resources import (
    BASE_MEM_MB,
    CUDA_RUNTIME_HOST_MB,
    activation_mb,
    gpu_mem_mb,
    train_mem_mb,
)


def test_host_memory_covers_the_cuda_runtime_of_a_gpu_run():
    # ResNet20's host activations (~0.7 GB at batch 256) are less than what the CUDA
    # runtime alone holds on the host: a GPU job sized from them would be killed.
    assert activation_mb("resnet20", "cifar10", 256) < CUDA_RUNTIME_HOST_MB
    assert train_mem_mb("resnet20", "cifar10", 256) >= BASE_MEM_MB + CUDA_RUNTIME_HOST_MB
    # A CPU run of a widened network still gets its activations.
    wide = activation_mb("resnet110-shuffle-0.25", "cifar10", 256)
    assert train_mem_mb("resnet110-shuffle-0.25", "cifar10", 256) == BASE_MEM_MB + wide


def test_gpu_memory_of_a_run_follows_its_activations_and_precision():
    widened = gpu_mem_mb("resnet110-shuffle-0.25", "cifar10", 256)
    assert 21_000 < widened < 30_000  # ~21 GB of fp32 activations, plus the rest
    assert gpu_mem_mb("resnet110-shuffle-0.25", "cifar10", 256, "bf16") < widened
    assert gpu_mem_mb("resnet110-shuffle-0.25", "cifar10", 256, "tf32") == widened
    assert gpu_mem_mb("resnet20", "cifar10", 128) < gpu_mem_mb("resnet20", "cifar10", 256) < 3000
    with pytest.raises(ValueError, match="precision must be one of"):
        gpu_mem_mb("resnet20", "cifar10", 128, "fp16")
