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


def test_an_epoch_goes_through_the_datasets_own_training_split():
    """The runtime estimate counts the dataset's images (was: CIFAR's 50,000 whatever the
    dataset, so a plugin dataset of 160 images asked for hours)."""
    from archopt.datasets import CLASSIFICATION, DATASETS, Dataset, register_dataset
    from archopt.train.resources import epoch_images, job_runtime_minutes, train_runtime_minutes

    register_dataset(Dataset(
        name="tiny160", title="Tiny", kind=CLASSIFICATION, image_shape=(1, 28, 28),
        primary_metric="top1", train_images=160, test_images=40, url="http://127.0.0.1/x",
        md5=None, folder="tiny160", reader="x:y", structure="x:y", num_classes=4,
        mean=(0.5,), std=(0.25,)))
    try:
        train = {"val_size": 40, "train_subset": None, "max_epochs": 10}
        assert epoch_images(train, "tiny160") == 160
        assert epoch_images(train | {"train_subset": 60}, "tiny160") == 100
        assert epoch_images({"val_size": 5000, "train_subset": None}, "cifar10") == 50_000
        assert job_runtime_minutes(train, "resnet20", "tiny160", 1, cuda=False) == (
            train_runtime_minutes("resnet20", "tiny160", 160, 10, 1, cuda=False))
    finally:
        DATASETS.remove("tiny160")
