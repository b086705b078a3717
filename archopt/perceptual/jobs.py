"""Glue for ``workflow/scripts/study_bundle.py``."""

from __future__ import annotations

from typing import Any

import torch

from archopt.perceptual.build import build_bundle
from archopt.train.jobs import data_root
from archopt.workflow import start_job


def study_bundle_job(snakemake: Any) -> None:
    logger = start_job(snakemake, "study_bundle").logger
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    checkpoints = dict(zip(params.variants, snakemake.input.checkpoints, strict=True))
    build_bundle(
        data_root(snakemake.input.data), snakemake.output.bundle, checkpoints,
        params.images_per_class, params.seed, params.crop_size, logger,
    )
