"""Snakemake glue of the ``posttrain`` rule, and what every method shares.

A job gets a :class:`PostTrainJob` (the trained network's files, the settings, where to
write) and its method's :meth:`run` writes the rule's outputs:

* ``summary.json``: ``model`` (``resnet20+int8``), ``base_model``, ``method``, ``spec``,
  ``dataset``, ``test_top1``/``test_top5`` with 95% Wilson intervals computed from the
  outputs of the runtime the deployable file is deployed to, ``test_images``,
  ``params``, ``storage_bytes`` (of the deployable file) and the method's own details;
* ``model.onnx``: the deployable file, the one that was benchmarked;
* ``cpu.json``: one object per runtime, as a ``results/bench`` file;
* ``artifacts/``: the method's own files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archopt.io import write_json_atomic
from archopt.posttrain import PostTrainName, get_posttrain_method, parse_posttrain_name
from archopt.posttrain.measure import accuracy_of
from archopt.posttrain.settings import PostTrainSettings, job_posttrain_settings
from archopt.train.jobs import gpu_request
from archopt.workflow import start_job


@dataclass(frozen=True)
class PostTrainJob:
    """Everything a method's ``run`` reads, and the files it must write."""

    dataset: str
    name: PostTrainName
    checkpoint: Path  # results/models/{dataset}/{model}/best.pt
    base_summary: Path  # results/models/{dataset}/{model}/summary.json
    fp32_onnx: Path  # results/bench/{dataset}/{model}/model.onnx, the study's fp32 export
    data_marker: Path  # resources/{dataset}/download.json, the download's marker
    summary: Path
    deployable: Path
    bench: Path
    artifacts: Path
    settings: PostTrainSettings  # settings.bench: the bench stage's, every network timed alike
    logger: logging.Logger
    gpu: tuple[int, int] = (0, 1)  # archopt.gpu.claim_device's: GPUs asked, runs per GPU

    @property
    def folder(self) -> Path:
        return self.summary.parent

    @property
    def resume_dir(self) -> Path:
        """Kept across attempts: not an output, so Snakemake leaves it in place."""
        return self.folder / "resume"


def accuracy_record(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """``test_top1``/``test_top5`` (percent) with 95% Wilson intervals, as summaries give them."""
    if len(logits) != len(labels) or not len(labels):
        raise ValueError(f"{len(logits)} outputs for {len(labels)} labels")
    scores = {f"test_{key}": value for key, value in accuracy_of(logits, labels).items()}
    return {"test_images": len(labels)} | scores


def summary_header(job: PostTrainJob) -> dict[str, Any]:
    method = get_posttrain_method(job.name.method)
    return {"model": str(job.name), "base_model": job.name.model, "method": job.name.method,
            "method_label": method.label, "spec": job.name.spec, "dataset": job.dataset}


def write_summary(job: PostTrainJob, record: Mapping[str, Any]) -> None:
    write_json_atomic(job.summary, summary_header(job) | dict(record))
    job.logger.info("wrote %s", job.summary)


def posttrain_job(snakemake: Any) -> None:
    """Entry point of ``workflow/scripts/posttrain.py``."""
    start = start_job(snakemake, "posttrain", job_posttrain_settings)
    logger = start.logger
    wildcards, output = snakemake.wildcards, snakemake.output
    name = parse_posttrain_name(f"{wildcards.model}+{wildcards.method}")
    job = PostTrainJob(
        dataset=wildcards.dataset, name=name,
        checkpoint=Path(snakemake.input.checkpoint), base_summary=Path(snakemake.input.summary),
        fp32_onnx=Path(snakemake.input.onnx), data_marker=Path(snakemake.input.data),
        summary=Path(output.summary), deployable=Path(output.deployable),
        bench=Path(output.bench), artifacts=Path(output.artifacts),
        settings=start.settings, logger=logger, gpu=gpu_request(snakemake, start.settings.runs_per_gpu),
    )
    logger.info("%s on %s, %d threads", name, job.dataset, snakemake.threads)
    get_posttrain_method(name.method).run(job)
