"""Resource requests of the ``posttrain`` rule (evaluated while Snakemake plans jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt.posttrain import get_posttrain_method, parse_spec


def posttrain_threads(config: Mapping[str, Any]) -> int:
    """Fine-tuning uses ``train.threads``, timing ``bench.threads``; a job may do both."""
    return max(config["train"].get("threads", 1), config["bench"].get("threads", 1))


def posttrain_runtime(config: Mapping[str, Any], wildcards: Any, threads: int) -> int:
    """The method's own wall-time bound for this job, in minutes."""
    method, arg = parse_spec(wildcards.method)
    return get_posttrain_method(method).runtime_minutes(
        wildcards.model, wildcards.dataset, arg, config, threads)
