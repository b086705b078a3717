"""The study plan printed when a run starts (and by ``snakemake -n``): jobs per stage and
the compute they are estimated to take on this machine.

Job counts follow from the config the way the rules' target functions expand it (a
study from scratch; Snakemake skips what is already done). The compute of the training stages
is the sum of the ``runtime`` estimates the training rules give Snakemake
(``archopt.train.resources``: per network for classifiers, per epoch and pair for
Pix2Pix), upper bounds by design; the other stages are short jobs whose rules give a
fixed time limit, not an estimate. So the table says how big the study is, not how long
the next run will take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.paths import posttrain_results
from archopt.posttrain import get_posttrain_method, parse_spec
from archopt.posttrain.rules import posttrain_threads
from archopt.progress import format_duration
from archopt.study import study_networks
from archopt.train.resources import gan_runtime_minutes, job_runtime_minutes

DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Stage:
    name: str
    jobs: int
    minutes: float | None  # None: short jobs whose rules give only a fixed time limit


def grid_points(train: Mapping[str, Any]) -> int:
    return len(train["grid"]["lr"]) * len(train["grid"]["batch_size"]) * len(train["seeds"])


def training_minutes(config: Mapping[str, Any], cuda: bool) -> tuple[int, float]:
    train = config["train"]
    jobs, minutes = 0, 0.0
    for dataset in config["studies"]:
        for model in study_networks(config, dataset):
            per_job = job_runtime_minutes(train, model, dataset, train["threads"], cuda)
            jobs += grid_points(train)
            minutes += grid_points(train) * per_job
    return jobs, minutes


def posttrain_stage(config: Mapping[str, Any]) -> Stage:
    """int8 quantization and pruning (with its fine-tuning) of every studied network, at
    the runtime estimate each method gives its rule."""
    threads = posttrain_threads(config)
    minutes = 0.0
    results = posttrain_results(config)
    for dataset, model, spec in results:
        method, arg = parse_spec(spec)
        minutes += get_posttrain_method(method).runtime_minutes(model, dataset, arg, config, threads)
    return Stage("post-training", len(results), minutes)


def study_plan(config: Mapping[str, Any], cuda: bool) -> list[Stage]:
    """The stages of ``all`` from scratch, with the rules' own runtime estimates."""
    networks = sum(len(study_networks(config, d)) for d in config["studies"])
    generators = len(config["gan"]["variants"])
    datasets = len(config["studies"]) + (1 if generators else 0)
    train_jobs, train_minutes = training_minutes(config, cuda)
    gan_minutes = gan_runtime_minutes(config["gan"], config["train"]["threads"], cuda)
    stages = [
        Stage("train classifiers", train_jobs, train_minutes),
        Stage("train generators", generators, generators * gan_minutes),
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


def plan_table(stages: list[Stage], cuda: bool) -> str:
    """The table, and a warning when the study exceeds a day without a GPU."""
    width = max(len(s.name) for s in stages)
    lines = [f"archopt study plan (from scratch; training compute as the rules estimate it "
             f"for this machine, {'with' if cuda else 'no'} GPU):",
             f"  {'stage':{width}}  {'jobs':>5}  compute (upper bound)"]
    lines += [f"  {s.name:{width}}  {s.jobs:5d}  {format_days(s.minutes)}" for s in stages]
    total = sum(s.minutes or 0 for s in stages)
    lines.append(f"  {'total':{width}}  {sum(s.jobs for s in stages):5d}  {format_days(total)}")
    if total > DAY_MINUTES and not cuda:
        lines.append(
            f"  WARNING: about {format_days(total)} of compute without a GPU. For a study in "
            "minutes use `--config preset=quick`; for the full study use a GPU or the "
            "cluster profile (`--workflow-profile workflow/profiles/slurm`)."
        )
    return "\n".join(lines)


def format_days(minutes: float | None) -> str:
    if minutes is None:
        return "short jobs"
    if minutes >= DAY_MINUTES:
        return f"{minutes / DAY_MINUTES:.1f} days"
    return format_duration(minutes * 60)
