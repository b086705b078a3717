"""The study plan printed when a run starts (and by ``snakemake -n``): jobs per stage and
the compute they are estimated to take, on the CPU and on each GPU with measured step times.

Job counts follow from the config the way the rules' target functions expand it (a
study from scratch; Snakemake skips what is already done). The CPU compute of the training
stages is the sum of the ``runtime`` estimates the training rules give Snakemake on a
machine without a GPU (``archopt.train.resources``: per network for classifiers, per
epoch and pair for Pix2Pix), upper bounds by design; the other stages are short jobs
whose rules give a fixed time limit, not an estimate. The GPU column is the training
stages' compute at the step times ``benchmarks/gpu_acceptance.sh`` measured on that GPU
(``archopt.models.costs.GpuStepModel``: the paper's fp32, one run per GPU, every epoch up
to ``max_epochs``); where none were measured it says so instead of guessing. So the table
says how big the study is, not how long the next run will take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archopt.models.costs import (
    DEFAULT_SETTINGS,
    GpuStep,
    GpuStepModel,
    measured_gpus,
    shipped_gpu_steps,
)
from archopt.models.shapes import check_study_inputs
from archopt.paths import GAN_DATASET, posttrain_results
from archopt.posttrain import get_posttrain_method, parse_spec
from archopt.posttrain.rules import posttrain_compute_threads
from archopt.progress import format_duration
from archopt.study import study_networks
from archopt.train.resources import (
    MAPS_TRAIN_PAIRS,
    epoch_images,
    gan_runtime_minutes,
    job_runtime_minutes,
)

DAY_MINUTES = 24 * 60
NOT_MEASURED = (
    "GPU: not yet measured (archopt/models/gpu_steps.csv holds no step times; "
    "`bash benchmarks/gpu_acceptance.sh OUTDIR` on a GPU machine measures them, "
    "docs/gpus.md)"
)


@dataclass(frozen=True)
class Stage:
    name: str
    jobs: int
    minutes: float | None  # CPU; None: short jobs whose rules give only a fixed time limit
    # GPU name -> minutes at its measured step times (training stages only)
    gpu_minutes: Mapping[str, float] | None = None


def grid_points(train: Mapping[str, Any]) -> int:
    return len(train["grid"]["lr"]) * len(train["grid"]["batch_size"]) * len(train["seeds"])


def training_minutes(config: Mapping[str, Any]) -> tuple[int, float]:
    """Jobs and CPU minutes of the classifiers' training, as the rules estimate them."""
    train = config["train"]
    jobs, minutes = 0, 0.0
    for dataset in config["studies"]:
        for model in study_networks(config, dataset):
            per_job = job_runtime_minutes(train, model, dataset, train["threads"], False)
            jobs += grid_points(train)
            minutes += grid_points(train) * per_job
    return jobs, minutes


def gpu_training_minutes(config: Mapping[str, Any], gpu: GpuStepModel) -> float:
    """The classifiers' training at ``gpu``'s measured step times, one run at a time."""
    train = config["train"]
    runs = train["max_epochs"] * len(train["seeds"]) * len(train["grid"]["lr"])
    ms = sum(
        epoch_images(train, dataset) * gpu.ms_per_image(model, dataset, batch_size)
        for dataset in config["studies"]
        for model in study_networks(config, dataset)
        for batch_size in train["grid"]["batch_size"]
    )
    return runs * ms / 60_000


def gpu_gan_minutes(config: Mapping[str, Any], gpu: GpuStepModel) -> float:
    """Pix2Pix training (batch 1) at ``gpu``'s measured step times."""
    gan = config["gan"]
    pairs = (gan["train_subset"] or MAPS_TRAIN_PAIRS) * (gan["epochs"] + gan["epochs_decay"])
    ms = sum(gpu.ms_per_image(variant, GAN_DATASET, 1) for variant in gan["variants"])
    return pairs * ms / 60_000


def gpu_models(steps: Sequence[GpuStep], paired: bool, settings: tuple[str, bool]
               ) -> list[GpuStepModel]:
    """A step model per GPU with step times of Pix2Pix (``paired``) or classifiers in
    ``settings`` (train.precision, train.compile)."""
    chosen = [s for s in steps if (s.dataset == GAN_DATASET) == paired]
    return [GpuStepModel.of(chosen, gpu, settings) for gpu in measured_gpus(chosen, settings)]


def posttrain_stage(config: Mapping[str, Any]) -> Stage:
    """int8 quantization and pruning (with its fine-tuning) of every studied network, at
    the runtime estimate each method gives its rule."""
    threads = posttrain_compute_threads(config)
    minutes = 0.0
    results = posttrain_results(config)
    for dataset, model, spec in results:
        method, arg = parse_spec(spec)
        minutes += get_posttrain_method(method).runtime_minutes(model, dataset, arg, config, threads)
    return Stage("post-training", len(results), minutes)


def study_plan(
    config: Mapping[str, Any],
    gpu_steps: Sequence[GpuStep] | None = None,
    settings: tuple[str, bool] = DEFAULT_SETTINGS,
) -> list[Stage]:
    """The stages of ``all`` from scratch, with the rules' own CPU runtime estimates and
    the GPU compute at ``gpu_steps`` (default: the step times shipped with archopt)
    measured in ``settings`` (train.precision, train.compile; default the paper's fp32)."""
    check_study_inputs(config)  # a dataset a family cannot take, named before costs are built
    steps = shipped_gpu_steps() if gpu_steps is None else gpu_steps
    networks = sum(len(study_networks(config, d)) for d in config["studies"])
    generators = len(config["gan"]["variants"])
    datasets = len(config["studies"]) + (1 if generators else 0)
    train_jobs, train_minutes = training_minutes(config)
    gan_minutes = gan_runtime_minutes(config["gan"], config["train"]["threads"], False)
    stages = [
        Stage("train classifiers", train_jobs, train_minutes,
              {m.gpu: gpu_training_minutes(config, m) for m in gpu_models(steps, False, settings)}),
        Stage("train generators", generators, generators * gan_minutes,
              {m.gpu: gpu_gan_minutes(config, m) for m in gpu_models(steps, True, settings)}),
        posttrain_stage(config),
        Stage("download", datasets, None),
        Stage("catalog, search, select best",
              datasets + len(config["studies"]) + networks, None),
        Stage("evaluate generators", generators + int(generators > 0), None),
        Stage("export + benchmark",
              (networks + generators) * (1 + len(config["bench"]["devices"])), None),
        Stage("perceptual bundle + report", int(generators > 0) + 1, None),
    ]
    return [stage for stage in stages if stage.jobs]


def plan_gpus(stages: Sequence[Stage]) -> list[str]:
    return list(dict.fromkeys(gpu for s in stages for gpu in s.gpu_minutes or {}))


def gpu_cells(stage: Stage, gpus: Sequence[str]) -> list[str]:
    """The stage's GPU column(s): hours per measured GPU, else whether it is measured."""
    if stage.gpu_minutes is None:
        return ["-"] * max(len(gpus), 1)
    if not gpus:
        return ["not yet measured"]
    return [format_days(stage.gpu_minutes[g]) if g in stage.gpu_minutes else "not measured"
            for g in gpus]


def plan_table(stages: list[Stage], cuda: bool) -> str:
    """The table, with a GPU column per GPU with measured step times, and a warning when
    the study exceeds a day of compute and this machine has no GPU (``cuda``)."""
    gpus = plan_gpus(stages)
    headers = [f"GPU {i + 1}" for i in range(len(gpus))] or ["GPU"]
    rows = [*stages, total_stage(stages, gpus)]
    width = max(len(s.name) for s in rows)
    lines = ["archopt study plan (from scratch; CPU compute as the rules estimate it, an "
             "upper bound; GPU compute of the training stages at measured step times):",
             f"  {'stage':{width}}  {'jobs':>5}  {'CPU':>12}"
             + "".join(f"  {h:>16}" for h in headers)]
    lines += [f"  {s.name:{width}}  {s.jobs:5d}  {format_days(s.minutes):>12}"
              + "".join(f"  {cell:>16}" for cell in gpu_cells(s, gpus)) for s in rows]
    lines += [f"  GPU {i + 1}: {gpu}; the paper's fp32, one run per GPU, every epoch to "
              f"max_epochs (step times measured by benchmarks/gpu_acceptance.sh)"
              for i, gpu in enumerate(gpus)] or [f"  {NOT_MEASURED}"]
    total = sum(s.minutes or 0 for s in stages)
    if total > DAY_MINUTES and not cuda:
        lines.append(
            f"  WARNING: about {format_days(total)} of compute without a GPU. For a study in "
            "minutes use `--config preset=quick`; for the full study use a GPU or the "
            "cluster profile (`--workflow-profile workflow/profiles/slurm`, docs/gpus.md)."
        )
    return "\n".join(lines)


def total_stage(stages: Sequence[Stage], gpus: Sequence[str]) -> Stage:
    """The sums; a GPU's total only where it has times for every training stage."""
    trained = [s.gpu_minutes for s in stages if s.gpu_minutes is not None]
    complete = [g for g in gpus if all(g in minutes for minutes in trained)]
    return Stage(
        "total", sum(s.jobs for s in stages), sum(s.minutes or 0 for s in stages),
        {g: sum(m[g] for m in trained) for g in complete} if trained else None,
    )


def format_days(minutes: float | None) -> str:
    if minutes is None:
        return "short jobs"
    if minutes >= DAY_MINUTES:
        return f"{minutes / DAY_MINUTES:.1f} days"
    return format_duration(minutes * 60)
