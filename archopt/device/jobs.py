"""Snakemake glue for the ``device_bundle`` and ``device_import`` rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archopt.bench.jobs import benchmark_images
from archopt.device.bundle import BundledNetwork, write_bundle
from archopt.device.imports import import_network
from archopt.device.settings import job_device_settings
from archopt.workflow import start_job


def bundle_job(snakemake: Any) -> None:
    """Zip every deployable file with the first benchmark images of each dataset."""
    job = start_job(snakemake, "device_bundle", job_device_settings)
    logger, settings = job.logger, job.settings
    networks = [BundledNetwork(dataset, network, Path(path)) for (dataset, network), path
                in zip(settings.networks, snakemake.input.models, strict=True)]
    data: dict[str, np.ndarray] = {}
    for (dataset, count), marker in zip(settings.images, snakemake.input.data, strict=True):
        images, labels = benchmark_images(marker, dataset, count)
        data[f"images_{dataset}"] = images
        if labels is not None:
            data[f"labels_{dataset}"] = np.asarray(labels, dtype=np.int64)
    record = write_bundle(snakemake.output.bundle, networks, data, settings.protocol())
    logger.info("wrote %s: %d networks, images %s", snakemake.output.bundle,
                len(record["networks"]), {d: v["images"] for d, v in record["datasets"].items()})


def import_job(snakemake: Any) -> None:
    logger = start_job(snakemake, "device_import").logger
    wildcards = snakemake.wildcards
    out = import_network(snakemake.input.results, wildcards.dataset, wildcards.network,
                         wildcards.device)
    logger.info("imported %s/%s on %s from %s: %s", wildcards.dataset, wildcards.network,
                wildcards.device, snakemake.input.results, out)
