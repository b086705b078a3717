"""Before submitting to SLURM: can some node of the partition start every job?

A job asking for more CPUs, memory, GPUs or time than any node of the partition allows
sits in ``PENDING (PartitionConfig)`` forever, and Snakemake's SLURM executor waits for
it without a word. The workflow checks what its jobs will request against ``sinfo`` when
it is run with the SLURM executor and stops with the job, the request and the limit.

What is checked is what ``sbatch`` will get: single jobs, and group jobs with the
resources Snakemake itself computes for them (``GroupJob.resources``, its layering: jobs
side by side add up their CPUs, memory and GPUs, layers one after another add up their
runtime). A request fits only a node that has all of it at once (CPUs, memory, GPUs,
the partition's time limit and, where the GPU type tells it, GPU memory).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROFILE = "workflow/profiles/slurm/config.yaml"
SINFO_FORMAT = "%c|%m|%G|%l"
GPU_MEMORY_FIX = (
    "train it at a smaller batch size (train.grid.batch_size) or in train.precision bf16, "
    "or submit to a partition with larger GPUs (default-resources: slurm_partition)"
)

# GPU memory (MB) by GRES type name, for the types whose name does not state it (an
# "a100_80g" or "v100-32gb" does): the smallest variant sold under that name. Longer
# names first, so "l40s" is not read as "l4".
GPU_TYPE_MEM_MB = {
    "gh200": 96_000, "h200": 141_000, "h100": 80_000, "a100": 40_000, "l40s": 48_000,
    "l40": 48_000, "a6000": 48_000, "rtx8000": 48_000, "a40": 48_000, "a30": 24_000,
    "a10": 24_000, "rtx6000": 24_000, "4090": 24_000, "3090": 24_000, "l4": 24_000,
    "v100": 16_000, "t4": 16_000, "p100": 12_000, "2080ti": 11_000,
}


@dataclass(frozen=True)
class Node:
    cpus: int
    mem_mb: int
    gpus: int
    time_min: int | None = None  # the partition's time limit here; None = unlimited
    gpu_mem_mb: int | None = None  # per GPU, where the GRES type tells it

    def describe(self) -> str:
        gpus = f"{self.gpus} GPU(s)" + (f" of {self.gpu_mem_mb} MB" if self.gpu_mem_mb else "")
        limit = "no time limit" if self.time_min is None else f"{self.time_min} min"
        return f"{self.cpus} CPUs | {self.mem_mb} MB | {gpus} | {limit}"


@dataclass(frozen=True)
class Request:
    """What one job (or group job) asks SLURM for; ``where`` names the setting that sets it."""

    job: str
    cpus: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    where: str = ""
    runtime_min: int | None = None
    gpu_mem_mb: int | None = None


def gpus_of(gres: str) -> int:
    """GPUs in a GRES string such as ``gpu:a100:4(S:0-1),gpu:1``."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def gpu_mem_of(gres: str) -> int | None:
    """Memory (MB) of the smallest GPU type in a GRES string, if every type tells it."""
    sizes = []
    for match in re.finditer(r"gpu(?::([^:,(]+))?:\d+", gres):
        kind = (match.group(1) or "").lower()
        stated = re.search(r"(\d+)g(?:b)?\b", kind)
        if stated:
            sizes.append(int(stated.group(1)) * 1000)
            continue
        known = [mb for name, mb in GPU_TYPE_MEM_MB.items() if name in re.sub(r"[^a-z0-9]", "", kind)]
        if not known:
            return None  # an untyped or unknown GPU: its memory cannot be known
        sizes.append(known[0])
    return min(sizes) if sizes else None


def parse_time_limit(text: str) -> int | None:
    """Minutes (seconds dropped) of a SLURM time limit in any of its forms: ``infinite``,
    ``minutes``, ``minutes:seconds``, ``hours:minutes:seconds``, ``days-hours``,
    ``days-hours:minutes``, ``days-hours:minutes:seconds``."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days, dash, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if dash:  # after days the clock starts with hours
        hours, minutes = parts[0], (parts[1] if len(parts) > 1 else 0)
    elif len(parts) == 3:
        hours, minutes = parts[0], parts[1]
    else:
        hours, minutes = 0, parts[0]
    return int(days or 0) * 1440 + hours * 60 + minutes


def parse_sinfo(text: str) -> list[Node]:
    """Nodes from ``sinfo -h -N -o '%c|%m|%G|%l'`` (memory in MB; the time limit optional)."""
    nodes = []
    for line in text.splitlines():
        if line.strip():
            cpus, mem, gres, *limit = line.strip().split("|")
            nodes.append(Node(
                int(cpus), int(re.sub(r"\D", "", mem) or 0), gpus_of(gres),
                parse_time_limit(limit[0]) if limit else None,
                gpu_mem_of(gres) if gpus_of(gres) else None,
            ))
    return nodes


def partition_nodes(partition: str | None) -> list[Node]:
    command = ["sinfo", "-h", "-N", "-o", SINFO_FORMAT] + (["-p", partition] if partition else [])
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []  # no sinfo here: the plugin itself will say what is wrong
    return parse_sinfo(result.stdout) if result.returncode == 0 else []


def shortfalls(request: Request, node: Node) -> list[tuple[str, int, int]]:
    """(what, asked, the node's) for each part of ``request`` that ``node`` lacks."""
    checks = [
        ("CPUs", request.cpus, node.cpus),
        ("MB of memory", request.mem_mb, node.mem_mb),
        ("GPUs", request.gpus, node.gpus),
        ("minutes", request.runtime_min, node.time_min),
    ]
    if request.gpus:
        checks.append(("MB of GPU memory", request.gpu_mem_mb, node.gpu_mem_mb))
    return [(what, asked, limit) for what, asked, limit in checks
            if asked is not None and limit is not None and asked > limit]


def largest(nodes: list[Node]) -> Node:
    """Each resource's maximum over ``nodes`` (unknown GPU memory or time: no limit)."""
    def most(values: list[int | None]) -> int | None:
        return None if None in values else max(values)  # type: ignore[type-var]

    return Node(max(n.cpus for n in nodes), max(n.mem_mb for n in nodes),
                max(n.gpus for n in nodes), most([n.time_min for n in nodes]),
                most([n.gpu_mem_mb for n in nodes if n.gpus]) if any(n.gpus for n in nodes)
                else None)


def together(request: Request) -> str:
    parts = [f"{request.cpus} CPUs", f"{request.mem_mb} MB" if request.mem_mb else None,
             f"{request.gpus} GPU(s)" if request.gpus else None,
             f"{request.gpu_mem_mb} MB of GPU memory" if request.gpus and request.gpu_mem_mb
             else None, f"{request.runtime_min} min" if request.runtime_min else None]
    return ", ".join(p for p in parts if p)


def misfits(
    requests: list[Request], nodes: list[Node], partition: str | None = None
) -> list[str]:
    """One message per request that no single node of the partition can satisfy."""
    if not nodes:
        return []
    where = f"partition {partition!r}" if partition else "the default partition"
    fix = f"in {PROFILE} or on the command line"
    most = largest(nodes)
    problems = []
    for request in requests:
        over = shortfalls(request, most)
        if over:  # more than any node has of one resource: name that resource
            problems += [
                f"{request.job} would ask for {asked} {what}, but the largest node of {where} "
                f"has {limit} (sinfo); " + (GPU_MEMORY_FIX if what == "MB of GPU memory"
                                             else f"lower {request.where} {fix}")
                for what, asked, limit in over
            ]
        elif all(shortfalls(request, node) for node in nodes):
            kinds = "; ".join(sorted({node.describe() for node in nodes}))
            problems.append(
                f"{request.job} would ask for {together(request)} together, but no node "
                f"of {where} has all of them at once (node kinds, sinfo: {kinds}); lower "
                f"{request.where} {fix}, or pick a partition whose nodes fit it"
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
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def profile_requests(
    cores: int | None,
    overwrite: Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Any],
) -> list[Request]:
    """The requests the profile makes: ``cores`` CPUs for a (group) job, and each
    ``set-resources`` entry's CPUs, memory, GPUs and runtime."""
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
            where=f"`set-resources: {rule}`", runtime_min=number(resources.get("runtime")),
        ))
    return requests


class ClusterFitError(ValueError):
    """A job of the workflow asks for more than any node of the partition can give."""


def submitted_request(job: Any) -> Request:
    """What ``sbatch`` gets for ``job``, a Snakemake job or group job (whose resources are
    Snakemake's own layering of its members)."""
    resources = plain_resources(job.resources)
    gpus = (number(resources.get("gpu")) or 0) + gpus_of(str(resources.get("gres") or ""))
    cpus = number(resources.get("cpus_per_task")) or int(job.threads)
    if gpus and number(resources.get("cpus_per_gpu")):
        cpus = number(resources["cpus_per_gpu"]) * gpus
    if job.is_group():
        rules = sorted({member.rule.name for member in job.jobs})
        name = f"group job `{job.groupid}` ({len(job.jobs)} jobs of {', '.join(rules)})"
        where = f"`group-components: {job.groupid}` or `cores`"
    else:
        name, where = f"rule {job.rule.name}", f"`set-resources: {job.rule.name}`"
    return Request(name, cpus=cpus, mem_mb=number(resources.get("mem_mb")), gpus=gpus,
                   where=where, runtime_min=number(resources.get("runtime")),
                   gpu_mem_mb=number(resources.get("gpu_mem_mb")))


def submissions(dag: Any) -> Iterable[Any]:
    """The jobs and group jobs the executor will submit: each group once; local rules
    (``all``, the downloads) run on the submitting host and are not submitted."""
    seen = set()
    for job in dag.needrun_jobs():
        unit = dag._group.get(job, job)  # Snakemake's groups of this run (none locally)
        if id(unit) not in seen and not unit.is_local:
            seen.add(id(unit))
            yield unit


def job_requests(units: Iterable[Any]) -> list[Request]:
    """The distinct requests of ``units``, largest first (the first misfit of a rule is
    its largest)."""
    requests = {submitted_request(unit) for unit in units}
    return sorted(requests, key=lambda r: (r.job, -r.gpus, -(r.mem_mb or 0), -r.cpus,
                                           -(r.runtime_min or 0)))


def misfits_per_job(requests: list[Request], nodes: list[Node], partition: str | None
                    ) -> list[str]:
    """:func:`misfits` of each job (or group) kind's first request that does not fit:
    hundreds of training jobs that do not fit say so once, for the largest."""
    problems: list[str] = []
    reported: set[str] = set()
    for request in requests:
        kind = request.job.split(" (")[0]
        if kind not in reported:
            found = misfits([request], nodes, partition)
            if found:
                problems += found
                reported.add(kind)
    return problems


def check_slurm_requests(workflow: Any) -> None:
    """Raise :class:`ClusterFitError` for requests no node of the partition can satisfy.

    Called from ``onstart`` (after the DAG and its groups are built, before anything is
    submitted; not in dry runs); only with the ``slurm`` executor, not inside its jobs.
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
    nodes = partition_nodes(partition)
    problems = misfits(profile_requests(settings.cores, overwrite, defaults), nodes, partition)
    problems += misfits_per_job(job_requests(submissions(workflow.dag)), nodes, partition)
    if problems:
        raise ClusterFitError("jobs SLURM could never start:\n  " + "\n  ".join(problems))
