"""Before submitting to SLURM: does every job fit on the partition's largest node?

A job asking for more CPUs, memory or GPUs than any node has sits in
``PENDING (PartitionConfig)`` forever, and Snakemake's SLURM executor waits for it
without a word. The workflow checks what its jobs will request against ``sinfo`` when it
is parsed with the SLURM executor and stops with the rule, the request and the limit.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROFILE = "workflow/profiles/slurm/config.yaml"


@dataclass(frozen=True)
class Node:
    cpus: int
    mem_mb: int
    gpus: int


@dataclass(frozen=True)
class Request:
    """What one kind of job asks SLURM for; ``where`` names the profile key that sets it."""

    job: str
    cpus: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    where: str = ""


def gpus_of(gres: str) -> int:
    """GPUs in a GRES string such as ``gpu:a100:4(S:0-1),gpu:1``."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def parse_sinfo(text: str) -> list[Node]:
    """Nodes from ``sinfo -h -N -o '%c|%m|%G'`` (memory in MB)."""
    nodes = []
    for line in text.splitlines():
        if line.strip():
            cpus, mem, gres = line.strip().split("|")
            nodes.append(Node(int(cpus), int(re.sub(r"\D", "", mem) or 0), gpus_of(gres)))
    return nodes


def partition_nodes(partition: str | None) -> list[Node]:
    command = ["sinfo", "-h", "-N", "-o", "%c|%m|%G"] + (["-p", partition] if partition else [])
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []  # no sinfo here: the plugin itself will say what is wrong
    return parse_sinfo(result.stdout) if result.returncode == 0 else []


def misfits(requests: list[Request], nodes: list[Node], partition: str | None) -> list[str]:
    """One message per request no node of the partition can satisfy."""
    if not nodes:
        return []
    most = Node(
        max(n.cpus for n in nodes), max(n.mem_mb for n in nodes), max(n.gpus for n in nodes)
    )
    where = f"partition {partition!r}" if partition else "the default partition"
    problems = []
    for request in requests:
        for what, asked, limit in (
            ("CPUs", request.cpus, most.cpus),
            ("MB of memory", request.mem_mb, most.mem_mb),
            ("GPUs", request.gpus, most.gpus),
        ):
            if asked is not None and asked > limit:
                problems.append(
                    f"{request.job} would ask for {asked} {what}, but the largest node of "
                    f"{where} has {limit} (sinfo); lower {request.where} in {PROFILE} or "
                    "on the command line"
                )
    return problems


def plain_resources(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Snakemake's parsed resources as plain values; expressions (``"30 * attempt"``),
    which only a job can evaluate, are left out."""
    plain = {}
    for key, value in (resources or {}).items():
        if hasattr(value, "is_evaluable"):
            if value.is_evaluable():
                continue
            value = value.value
        plain[key] = value
    return plain


def number(value: Any) -> int | None:
    """A resource value as an int; expressions such as ``"30 * attempt"`` are not checked."""
    return int(value) if isinstance(value, (int, float)) else None


def profile_requests(
    cores: int | None,
    overwrite: Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Any],
) -> list[Request]:
    """The requests the profile makes: ``cores`` CPUs for a (group) job, and each
    ``set-resources`` entry's CPUs, memory and GPUs."""
    requests = []
    if cores:
        requests.append(Request("a group job (e.g. `short`)", cpus=cores, where="`cores`"))
    default_mem = number(defaults.get("mem_mb"))
    if default_mem:
        requests.append(Request("every job", mem_mb=default_mem,
                                where="`default-resources: mem_mb`"))
    for rule, resources in overwrite.items():
        gpus = number(resources.get("gpu")) or 0
        cpus = (number(resources.get("cpus_per_gpu")) or 1) * max(gpus, 1)
        cpus = max(cpus, number(resources.get("cpus_per_task")) or 1)
        requests.append(Request(
            f"rule {rule}", cpus=cpus, mem_mb=number(resources.get("mem_mb")), gpus=gpus,
            where=f"`set-resources: {rule}`",
        ))
    return requests


class ClusterFitError(ValueError):
    """A job of the workflow asks for more than the partition's largest node has."""


def job_requests(jobs: Any) -> list[Request]:
    """The largest request of each rule among the jobs about to run."""
    largest: dict[str, Request] = {}
    for job in jobs:
        resources = plain_resources(job.resources)
        name = job.rule.name
        previous = largest.get(name, Request(f"rule {name}", where=f"`set-resources: {name}`"))
        largest[name] = Request(
            previous.job,
            cpus=max(previous.cpus, int(job.threads)),
            mem_mb=max(previous.mem_mb or 0, number(resources.get("mem_mb")) or 0) or None,
            gpus=max(previous.gpus, number(resources.get("gpu")) or 0),
            where=previous.where,
        )
    return list(largest.values())


def check_slurm_requests(workflow: Any) -> None:
    """Raise :class:`ClusterFitError` for requests no node of the partition can satisfy.

    Called from ``onstart`` (after the DAG is built, before anything is submitted; not in
    dry runs); only with the ``slurm`` executor, not inside its jobs (``slurm-jobstep``).
    """
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    settings = workflow.resource_settings
    defaults = plain_resources(settings._parsed_default_resources)
    overwrite = {
        name: plain_resources(resources)
        for name, resources in settings._parsed_overwrite_resources.items()
    }
    partition = defaults.get("slurm_partition")
    requests = profile_requests(settings.cores, overwrite, defaults)
    requests += job_requests(workflow.dag.needrun_jobs())
    problems = misfits(requests, partition_nodes(partition), partition)
    if problems:
        raise ClusterFitError("jobs SLURM could never start:\n  " + "\n  ".join(problems))
