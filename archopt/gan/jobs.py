"""Glue for ``workflow/scripts/{gan_palette,train_gan,evaluate_gan}.py``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from archopt.data.maps import MapsPairs
from archopt.gan.evaluate import (
    generate,
    image_metrics,
    metric_summary,
    palette_from_training_maps,
    sample_indices,
    write_samples,
)
from archopt.gan.settings import GanSettings, job_gan_settings
from archopt.gan.train import GanSpec, train_gan
from archopt.gpu import claim_device
from archopt.io import atomic_dir, write_json_atomic
from archopt.models import count_params, parse_name
from archopt.models.costs import network_costs
from archopt.paths import GAN_DATASET
from archopt.train.checkpoint import load_weights, save_checkpoint
from archopt.train.jobs import data_root, gpu_request
from archopt.train.layout import dump_traceback_on_crash, native_context
from archopt.train.precision import precision_in_effect
from archopt.workflow import carry_attempt_logs, start_job


def gan_resume_path(model_dir: str | os.PathLike) -> Path:
    """Per-epoch state next to, not among, the rule's outputs (kept on --rerun-incomplete)."""
    return Path(model_dir) / "resume" / "state.pt"


def configured_pairs(snakemake: Any, settings: GanSettings, split: str, train: bool
                     ) -> MapsPairs:
    """The maps pairs a GAN job uses: the configured subset and sizes of ``split``."""
    return MapsPairs(
        data_root(snakemake.input.data), split, train=train, subset=settings.subset(split),
        load_size=settings.load_size, crop_size=settings.crop_size,
    )


def palette_job(snakemake: Any) -> None:
    job = start_job(snakemake, "gan_palette", job_gan_settings)
    logger, settings = job.logger, job.settings
    pairs = configured_pairs(snakemake, settings, "train", train=False)
    palette = palette_from_training_maps(pairs, settings.palette_size, settings.seed)
    write_json_atomic(
        snakemake.output.palette,
        {"k": settings.palette_size, "seed": settings.seed, "maps": len(pairs),
         "colours": palette.round(decimals=2).tolist()},
    )
    logger.info("palette of %d colours fitted on %d training maps", len(palette), len(pairs))


def decoding_workers(threads: int, device: str) -> int:
    """DataLoader workers decoding the training JPEGs: the job's threads on a GPU, which
    would otherwise wait for the host; none on the CPU, where decoding a pair takes
    milliseconds next to a training step's seconds and workers would take cores from it."""
    return threads if torch.device(device).type == "cuda" else 0


def train_gan_job(snakemake: Any) -> None:
    job = start_job(snakemake, "train_gan", job_gan_settings)
    logger, settings = job.logger, job.settings
    torch.set_num_threads(settings.threads)
    model = parse_name(snakemake.wildcards.model).name
    pairs = configured_pairs(snakemake, settings, "train", train=True)
    spec = GanSpec(
        model, settings.epochs, settings.epochs_decay, settings.seed, len(pairs),
        settings.load_size, settings.crop_size,
    )
    state_path = gan_resume_path(Path(snakemake.output.checkpoint).parent)
    attempts = carry_attempt_logs(logger, state_path.parent)
    with claim_device(*gpu_request(snakemake, settings.runs_per_gpu), logger=logger) as placement:
        logger.info("%s on %s (%s), %d threads", spec, placement.device, placement.placement,
                    torch.get_num_threads())
        logger.info("%s", native_context(model, placement.device, torch.contiguous_format))
        dump_traceback_on_crash(logger)
        workers = decoding_workers(settings.threads, placement.device)
        run = train_gan(spec, pairs, state_path, placement.device, logger, settings.restart,
                        workers)
    save_checkpoint(
        snakemake.output.checkpoint, model, GAN_DATASET, run.pix2pix.generator.state_dict(),
        run.epoch, float("nan"),
    )
    write_json_atomic(
        snakemake.output.metrics,
        {"model": model, "spec": spec.__dict__, "device": placement.as_dict(),
         **precision_in_effect(placement.device),
         "train_seconds": sum(h["seconds"] for h in run.history), "history": run.history},
    )
    logger.removeHandler(attempts)
    attempts.close()
    shutil.rmtree(state_path.parent, ignore_errors=True)


def evaluate_gan_job(snakemake: Any) -> None:
    job = start_job(snakemake, "evaluate_gan", job_gan_settings)
    logger, settings = job.logger, job.settings
    torch.set_num_threads(settings.threads)
    model = parse_name(snakemake.wildcards.model).name
    pairs = configured_pairs(snakemake, settings, "val", train=False)
    palette = torch.tensor(json.loads(Path(snakemake.input.palette).read_text())["colours"])
    generator = load_weights(snakemake.input.checkpoint, model, GAN_DATASET)
    with claim_device(*gpu_request(snakemake, settings.runs_per_gpu), logger=logger) as placement:
        logger.info("generating on %s (%s)", placement.device, placement.placement)
        inputs, reals, fakes = generate(generator, pairs, settings.seed, placement.device)
    summary = metric_summary(image_metrics(reals, fakes, palette), settings.seed)
    indices = sample_indices(len(pairs), settings.samples, settings.seed)
    samples_dir = Path(snakemake.output.samples)
    with atomic_dir(samples_dir) as tmp:  # the folder appears complete or not at all
        names = write_samples(tmp, pairs.paths, inputs, reals, fakes, indices)
    training = json.loads(Path(snakemake.input.metrics).read_text())
    summary.update(
        model=model,
        dataset=GAN_DATASET,
        params=count_params(generator),
        macs=network_costs(model, GAN_DATASET).macs,
        epochs=len(training["history"]),
        train_pairs=training["spec"]["train_pairs"],
        train_seconds=training["train_seconds"],
        device=training["device"],
        palette_size=len(palette),
        storage_bytes=os.path.getsize(snakemake.input.checkpoint),
        samples=names,
    )
    write_json_atomic(snakemake.output.summary, summary)
    logger.info("%s: pixel accuracy %.2f%% on %d pairs", model, summary["pixel_acc"], len(pairs))
