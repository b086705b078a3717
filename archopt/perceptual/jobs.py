"""Glue for ``workflow/scripts/study_bundle.py``."""

from __future__ import annotations

from typing import Any

import torch

from archopt.perceptual.build import build_bundle
from archopt.train.jobs import data_root
from archopt.workflow import job_logger


def study_bundle_job(snakemake: Any) -> None:
    logger = job_logger(snakemake, "study_bundle")
    torch.set_num_threads(snakemake.threads)
    settings = snakemake.config["study"]
    checkpoints = dict(zip(snakemake.params.variants, snakemake.input.checkpoints, strict=True))
    build_bundle(
        data_root(snakemake.input.data), snakemake.output.bundle, checkpoints,
        settings["images_per_class"], settings["seed"], snakemake.config["gan"]["crop_size"],
        logger,
    )
