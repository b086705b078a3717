"""Resource requests of the ``posttrain`` rule (evaluated while Snakemake plans jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt.exclusive import timing_job_threads
from archopt.posttrain import get_posttrain_method, parse_spec


def posttrain_compute_threads(config: Mapping[str, Any]) -> int:
    """Fine-tuning uses ``train.threads``, timing ``bench.threads``; a job may do both."""
    return max(config["train"].get("threads", 1), config["bench"].get("threads", 1))


def posttrain_threads(config: Mapping[str, Any], workflow: Any) -> int:
    """The threads a job claims: its timings must be as clean as the bench stage's, so
    locally it claims every core as a bench job does (``archopt.exclusive``) while each
    part still computes with its own thread count (:func:`posttrain_compute_threads`)."""
    return max(posttrain_compute_threads(config), timing_job_threads(config, workflow))


def posttrain_gpus(wildcards: Any, cuda: bool) -> int:
    """The job's ``gpu`` resource: 1 where the jobs' hosts have GPUs (``cuda``, decided at
    parse) and the method computes on one, e.g. pruning's fine-tuning; else 0 (the CPU)."""
    method, _ = parse_spec(wildcards.method)
    return int(cuda and get_posttrain_method(method).uses_gpu)


def posttrain_runtime(config: Mapping[str, Any], wildcards: Any, threads: int) -> int:
    """The method's own wall-time bound for this job, in minutes."""
    method, arg = parse_spec(wildcards.method)
    return get_posttrain_method(method).runtime_minutes(
        wildcards.model, wildcards.dataset, arg, config, threads)
