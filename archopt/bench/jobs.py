"""Snakemake glue for the ``onnx_export`` and ``bench`` rules (scripts stay one line)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archopt.bench.benchmark import (
    DEVICES,
    bench_worker,
    benchmark,
    configure_torch,
    deployable_onnx,
)
from archopt.bench.env import environment
from archopt.bench.settings import job_bench_settings
from archopt.datasets import get_dataset
from archopt.gpu import claim_device, local_gpu_count
from archopt.io import atomic_path, write_json_atomic
from archopt.models import input_shape
from archopt.train.checkpoint import load_weights
from archopt.workflow import start_job

PROBE_SEED = 0


def benchmark_images(
    marker: str | os.PathLike, dataset: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The dataset's first ``limit`` test inputs (all when None), as its networks take
    them, with their labels (None for a generator's): ``Dataset.test_inputs``.

    ``marker`` is the dataset's download marker, ``resources/{dataset}/download.json``
    (``dataset_marker``); its grandparent is the ``resources`` root the readers expect.
    """
    images, labels = get_dataset(dataset).read_test_inputs(Path(marker).parent.parent, limit)
    return np.ascontiguousarray(images, dtype=np.float32), labels


def export_job(snakemake: Any) -> None:
    """Write ``model.onnx`` with the implementations fastest in ONNX Runtime on CPU."""
    logger = start_job(snakemake, "onnx_export").logger
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
    # The job holds every core (archopt.exclusive); its runtimes use bench.threads, at
    # most the job's threads (from_config caps them).
    job = start_job(snakemake, "bench", job_bench_settings)
    logger, settings = job.logger, job.settings
    dataset, name = snakemake.wildcards.dataset, snakemake.wildcards.model
    device = snakemake.wildcards.device
    if device not in DEVICES:
        raise ValueError(f"bench device {device!r} is not one of {DEVICES}")
    configure_torch(settings.threads)
    header = {"model": name, "dataset": dataset, "device": device}
    if device == "cuda" and local_gpu_count() == 0:
        reason = f"no CUDA device visible to torch {torch.__version__} on this machine"
        logger.info("skipping: %s", reason)
        skipped = {"skipped": reason, "env": environment(settings.threads)}
        write_json_atomic(snakemake.output.json, header | skipped)
        return
    # Its Python and torch start on another core while this process loads the network.
    with bench_worker(settings, logger).start() as worker:
        model = load_weights(snakemake.input.checkpoint, name, dataset)
        images, labels = benchmark_images(snakemake.input.data, dataset, snakemake.params.images)
        onnx_model = Path(snakemake.input.onnx).read_bytes()
        logger.info("benchmarking %s on %s: %d images, %s", name, device, len(images), settings)
        with claim_device(int(device == "cuda"), logger=logger) as placement:  # alone on its GPU
            result = benchmark(model, onnx_model, images, labels, placement.device, settings,
                               logger, worker)
    storage = {
        "checkpoint_bytes": os.path.getsize(snakemake.input.checkpoint),
        "onnx_bytes": len(onnx_model),
    }
    record = header | {"images": len(images)} | result | {"storage": storage}
    write_json_atomic(snakemake.output.json, record)
    logger.info("wrote %s", snakemake.output.json)
