"""Clean timings by default: a benchmark job claims every core of a local workflow.

Snakemake never starts a job beside one that holds all of ``--cores``, so a benchmark
claiming them all is timed alone, as the old "build everything, then benchmark"
recipe was, while its runtimes still use ``bench.threads`` (the job passes that number
on). Under a cluster executor each job has its own allocation: there the job asks for
``bench.threads`` only, since claiming the submitting host's cores would only waste the
allocation. Torch-free: evaluated while Snakemake plans the jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def timing_job_threads(config: Mapping[str, Any], workflow: Any) -> int:
    """Threads a benchmark job claims: ``--cores`` when the workflow runs jobs on this
    machine, else ``bench.threads``."""
    threads = int(config["bench"]["threads"])
    if not workflow.local_exec:
        return threads
    try:
        cores = workflow.cores
    except Exception:  # a dry run without --cores: nothing runs, any number will do
        return threads
    return max(threads, int(cores))


def runtime_threads(config: Mapping[str, Any], job_threads: int) -> int:
    """Threads a benchmark's runtimes use: ``bench.threads``, at most what the job holds
    (Snakemake caps a job's threads at ``--cores``)."""
    return min(int(config["bench"]["threads"]), job_threads)
