"""Snakemake glue for the ``onnx_export`` and ``bench`` rules (scripts stay one line)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archopt.bench.benchmark import (
    DEVICES,
    BenchSettings,
    benchmark,
    configure_torch,
    deployable_onnx,
)
from archopt.bench.env import environment
from archopt.data import normalize
from archopt.data.maps import MapsPairs
from archopt.datasets import get_dataset
from archopt.gpu import claim_device, local_gpu_count
from archopt.io import atomic_path, write_json_atomic
from archopt.models import input_shape
from archopt.paths import is_paired
from archopt.train.checkpoint import load_weights
from archopt.workflow import job_logger

PROBE_SEED = 0


def benchmark_images(
    marker: str | os.PathLike, dataset: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``limit`` test images (all when None), normalized, with their labels.

    For maps: the first ``limit`` validation satellites at 256x256 in [-1, 1], no labels.
    ``marker`` is the dataset's download marker, ``resources/{dataset}/download.json``
    (``dataset_marker``); its grandparent is the ``resources`` root the data loader expects.
    """
    root = Path(marker).parent.parent
    if is_paired(dataset):
        pairs = MapsPairs(root, "val", train=False, subset=limit)
        return np.ascontiguousarray(torch.stack([pairs[i][0] for i in range(len(pairs))]).numpy()), None
    test = get_dataset(dataset).read(root).test
    count = len(test) if limit is None else min(limit, len(test))
    images = normalize(test.images[:count], dataset).numpy()
    return np.ascontiguousarray(images), test.labels[:count].numpy()


def export_job(snakemake: Any) -> None:
    """Write ``model.onnx`` with the shift implementation fastest in ONNX Runtime on CPU."""
    logger = job_logger(snakemake, "onnx_export")
    dataset, name = snakemake.wildcards.dataset, snakemake.wildcards.model
    torch.set_num_threads(snakemake.threads)
    model = load_weights(snakemake.input.checkpoint, name, dataset)
    # Latency does not depend on pixel values: random probes spare the job the dataset.
    generator = np.random.default_rng(PROBE_SEED)
    probes = generator.standard_normal((5, *input_shape(dataset)), dtype=np.float32)
    data = deployable_onnx(model, probes, snakemake.threads, snakemake.params.warmup)
    with atomic_path(snakemake.output.onnx) as tmp:
        tmp.write_bytes(data)
    logger.info("wrote %s (%d bytes)", snakemake.output.onnx, len(data))


def bench_job(snakemake: Any) -> None:
    """Benchmark one selected network on one device; write its JSON."""
    logger = job_logger(snakemake, "bench")
    dataset, name = snakemake.wildcards.dataset, snakemake.wildcards.model
    device = snakemake.wildcards.device
    if device not in DEVICES:
        raise ValueError(f"bench device {device!r} is not one of {DEVICES}")
    settings = BenchSettings(
        threads=snakemake.threads,
        warmup=snakemake.params.warmup,
        runtimes=tuple(snakemake.params.runtimes),
        atol=snakemake.params.atol,
        min_queries=snakemake.params.min_queries,
        min_duration_s=snakemake.params.min_duration_s,
        repeats=snakemake.params.repeats,
        plugins=tuple(snakemake.config.get("plugins", [])),
    )
    configure_torch(settings.threads)
    header = {"model": name, "dataset": dataset, "device": device}
    if device == "cuda" and local_gpu_count() == 0:
        reason = f"no CUDA device visible to torch {torch.__version__} on this machine"
        logger.info("skipping: %s", reason)
        skipped = {"skipped": reason, "env": environment(settings.threads)}
        write_json_atomic(snakemake.output.json, header | skipped)
        return
    model = load_weights(snakemake.input.checkpoint, name, dataset)
    images, labels = benchmark_images(snakemake.input.data, dataset, snakemake.params.images)
    onnx_model = Path(snakemake.input.onnx).read_bytes()
    logger.info("benchmarking %s on %s: %d images, %s", name, device, len(images), settings)
    with claim_device(device) as placement:
        result = benchmark(model, onnx_model, images, labels, placement.device, settings, logger)
    storage = {
        "checkpoint_bytes": os.path.getsize(snakemake.input.checkpoint),
        "onnx_bytes": len(onnx_model),
    }
    record = header | {"images": len(images)} | result | {"storage": storage}
    write_json_atomic(snakemake.output.json, record)
    logger.info("wrote %s", snakemake.output.json)
