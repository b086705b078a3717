"""Which threads a benchmark job claims: every core of a local workflow (so that no other
job runs beside it; tests/test_report_answer.py proves it on a real run), bench.threads
under a cluster executor; and the runtimes always use bench.threads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from archopt.exclusive import runtime_threads, timing_job_threads

CONFIG = {"bench": {"threads": 2}}


class NoCores:
    """A workflow started without --cores (a dry run): Snakemake raises on ``cores``."""

    local_exec = True

    @property
    def cores(self) -> int:
        raise RuntimeError("Workflow requires a total number of cores to be defined")


@pytest.mark.parametrize("workflow, claimed", [
    (SimpleNamespace(local_exec=True, cores=16), 16),  # every core of the local workflow
    (SimpleNamespace(local_exec=True, cores=1), 2),  # never fewer than bench.threads
    (SimpleNamespace(local_exec=False, cores=16), 2),  # SLURM: the job's own allocation
    (NoCores(), 2),
])
def test_a_bench_job_claims_every_local_core_and_bench_threads_on_a_cluster(workflow, claimed):
    assert timing_job_threads(CONFIG, workflow) == claimed


def test_the_runtimes_use_bench_threads_within_what_the_job_holds():
    assert runtime_threads(CONFIG, 16) == 2
    assert runtime_threads(CONFIG, 1) == 1  # Snakemake capped the job at --cores 1
