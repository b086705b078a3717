"""Glue for ``workflow/scripts/train.py`` and ``select_best.py``, and the rules' path helpers."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from archopt.data import ImageSet, batches, split_train_val
from archopt.datasets import get_dataset
from archopt.gpu import claim_device, requested_gpus
from archopt.io import atomic_path, write_json_atomic
from archopt.models import count_params, parse_name
from archopt.train.checkpoint import CheckpointError, load_weights, save_checkpoint
from archopt.train.layout import dump_traceback_on_crash, training_memory_format
from archopt.train.loop import (
    EVAL_BATCH_SIZE,
    BatchSource,
    RunSpec,
    run_metrics,
    train_run,
)
from archopt.train.metrics import evaluate
from archopt.train.select import build_summary, read_metrics, select_run
from archopt.train.settings import TrainSettings, job_train_settings
from archopt.workflow import carry_attempt_logs, start_job


def resume_state_path(run_dir: str | os.PathLike) -> Path:
    """Where a run keeps its per-epoch state: next to, not among, the rule's outputs,
    so Snakemake leaves it in place when it reruns an incomplete job."""
    return Path(run_dir) / "resume" / "state.pt"


def data_root(marker: str | os.PathLike) -> Path:
    """The ``resources`` root from a dataset's marker, ``resources/{name}/download.json``
    (``dataset_marker``; :data:`archopt.data.manifest.DOWNLOAD_MARKER`)."""
    return Path(marker).parent.parent


def training_batches(data: ImageSet, batch_size: int, dataset: str) -> BatchSource:
    return lambda generator: batches(
        data, batch_size, dataset, shuffle=True, augment=True, generator=generator
    )


def evaluation_batches(data: ImageSet, dataset: str) -> BatchSource:
    return lambda generator: batches(data, EVAL_BATCH_SIZE, dataset, shuffle=False, augment=False)


def gpu_request(snakemake: Any, runs_per_gpu: int) -> tuple[int, int]:
    """``claim_device``'s arguments for a training-type job: the GPUs it asked for, and
    how many such jobs may share one GPU (its settings' ``train.runs_per_gpu``)."""
    return requested_gpus(snakemake.resources), runs_per_gpu


def run_spec(wildcards: Any, settings: TrainSettings, train_images: int, val_images: int
             ) -> RunSpec:
    """The run a ``train`` job's wildcards (one grid point) and settings stand for."""
    return RunSpec(
        model=parse_name(wildcards.model).name,
        dataset=wildcards.dataset,
        lr=float(wildcards.lr),
        batch_size=int(wildcards.bs),
        seed=int(wildcards.seed),
        max_epochs=settings.max_epochs,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
        train_images=train_images,
        val_images=val_images,
        precision=settings.precision,
        compile=settings.compile,
    )


def train_job(snakemake: Any) -> None:
    job = start_job(snakemake, "train", job_train_settings)
    logger, settings = job.logger, job.settings
    torch.set_num_threads(settings.threads)
    dataset = snakemake.wildcards.dataset
    train_set, val_set = split_train_val(
        get_dataset(dataset).read(data_root(snakemake.input.data)).train,
        settings.val_size,
        settings.train_subset,
    )
    spec = run_spec(snakemake.wildcards, settings, len(train_set), len(val_set))
    state_path = resume_state_path(Path(snakemake.output.metrics).parent)
    attempts = carry_attempt_logs(logger, state_path.parent)
    need_mb = snakemake.resources.get("gpu_mem_mb")  # the rule's estimate of one run
    gpus = gpu_request(snakemake, settings.runs_per_gpu)
    with claim_device(*gpus, logger=logger, need_mb=need_mb) as placement:
        where = f"{placement.device} ({placement.placement}), {torch.get_num_threads()} threads"
        logger.info("%s on %s", spec, where)
        dump_traceback_on_crash(logger)
        device = torch.device(placement.device)
        try:
            run = train_run(
                spec,
                # Held on the training device: batches are made there (archopt.data.augment).
                training_batches(train_set.to(device), spec.batch_size, dataset),
                evaluation_batches(val_set.to(device), dataset),
                state_path,
                device,
                logger,
                restart=settings.restart,
            )
        except CheckpointError as error:
            logger.error("%s", error)  # into the job's log too, not only Snakemake's stderr
            raise
    best = run.best
    save_checkpoint(
        snakemake.output.checkpoint, spec.model, dataset, best.state_dict, best.epoch, best.val_top1
    )
    write_json_atomic(
        snakemake.output.metrics, run_metrics(run) | {"placement": placement.as_dict()}
    )
    # The run is complete: a forced rerun must start afresh. The whole folder goes, with
    # any temporary file a kill during a save left behind.
    logger.removeHandler(attempts)
    attempts.close()
    shutil.rmtree(state_path.parent)
    logger.info("best epoch %d: val top-1 %.2f%%", best.epoch, best.val_top1)


def copy_atomic(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)


def load_grid_weights(
    checkpoint: str, model: str, dataset: str, logger: logging.Logger
) -> torch.nn.Module:
    """The selected grid run's network; a broken file is named with the command that
    retrains it (the copy under results/models/ is Snakemake's to delete, not the cause)."""
    try:
        return load_weights(checkpoint, model, dataset)
    except CheckpointError as error:
        metrics = Path(checkpoint).with_name("metrics.json")
        message = (
            f"{error}; retrain that grid run with `snakemake --cores 1 --forcerun train "
            f"{metrics}` (or delete {checkpoint} and {metrics})"
        )
        logger.error("%s", message)
        raise CheckpointError(message) from None


def select_best_job(snakemake: Any) -> None:
    job = start_job(snakemake, "select_best", job_train_settings)
    logger, settings = job.logger, job.settings
    torch.set_num_threads(settings.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    runs = [read_metrics(path) for path in snakemake.input.metrics]
    chosen = select_run(runs)
    logger.info(
        "selected %s (val top-1 %.2f%%)", snakemake.input.metrics[chosen], runs[chosen]["val_top1"]
    )
    network = load_grid_weights(snakemake.input.checkpoints[chosen], model, dataset, logger)
    copy_atomic(snakemake.input.checkpoints[chosen], snakemake.output.checkpoint)
    test_set = get_dataset(dataset).read(data_root(snakemake.input.data)).test
    with claim_device(*gpu_request(snakemake, settings.runs_per_gpu), logger=logger) as placement:
        device = torch.device(placement.device)
        network.to(device, memory_format=training_memory_format(network, device))
        test = evaluate(network, evaluation_batches(test_set.to(device), dataset)(None), device)
    summary = build_summary(
        runs, chosen, test, count_params(network), os.path.getsize(snakemake.output.checkpoint)
    )
    write_json_atomic(snakemake.output.summary, summary)
    logger.info("test top-1 %.2f%% top-5 %.2f%% on %d images", test.top1, test.top5, test.n)
