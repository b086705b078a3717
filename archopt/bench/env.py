"""What a latency was measured on: CPU, its frequency policy, CPU limits, threads,
library versions, GPU; and the refusal to time more threads than the process may use."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archopt.runtimes import Runtime, get_runtime, list_runtimes


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else what platform knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def affinity_cpus() -> int:
    """CPUs this process may run on (the affinity mask a scheduler may have narrowed)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def read_text(path: str) -> str | None:
    """A small /sys or /proc file's stripped text; None where it is absent or unreadable."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup allows (quota / period), None when unlimited or unknown.

    cgroup v2 ``cpu.max`` ("max 100000" or "150000 100000"), else v1's cfs files.
    """
    v2 = read_text("/sys/fs/cgroup/cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period)
    quota = read_text("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    period = read_text("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota is None or period is None or int(quota) < 0:
        return None
    return int(quota) / int(period)


def usable_cpus() -> int:
    """CPUs this process can keep busy: its affinity mask, capped by the cgroup quota."""
    quota = cgroup_cpu_quota()
    cpus = affinity_cpus()
    # A quota of 1.5 CPUs keeps one thread busy, not two: round down (at least one).
    return cpus if quota is None else max(1, min(cpus, math.floor(quota)))


def check_threads(threads: int) -> None:
    """Refuse ``threads`` beyond :func:`usable_cpus`: extra threads would time contention."""
    usable = usable_cpus()
    if threads > usable:
        quota = cgroup_cpu_quota()
        limit = "" if quota is None else f", cgroup CPU quota {quota:g}"
        raise ValueError(
            f"config key 'bench.threads' = {threads} exceeds the {usable} CPU(s) this process "
            f"may use (affinity {affinity_cpus()} CPU(s){limit}): lower bench.threads or give "
            "the job more CPUs"
        )


def frequency_policy() -> dict[str, Any]:
    """CPU frequency governor, turbo/boost state and SMT, where the kernel exposes them."""
    no_turbo = read_text("/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = read_text("/sys/devices/system/cpu/cpufreq/boost")
    if boost is None and no_turbo is not None:
        boost = "0" if no_turbo == "1" else "1"
    smt = read_text("/sys/devices/system/cpu/smt/active")
    return {
        "cpu_governor": read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "cpu_boost": None if boost is None else boost == "1",
        "smt": None if smt is None else smt == "1",
    }


def registered_runtimes() -> list[Runtime]:
    return [get_runtime(name) for name in list_runtimes()]


def environment(threads: int, cuda_device: str | None = None,
                runtimes: Iterable[Runtime] | None = None) -> dict[str, Any]:
    """The ``env`` object of a bench JSON; ``cuda_device`` names the GPU when one is used.

    Library versions come from ``runtimes``: every registered one (configured or not) by
    default.
    """
    env: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "affinity_cpus": affinity_cpus(),
        "cgroup_cpu_quota": cgroup_cpu_quota(),
        "slurm_cpus_per_task": os.environ.get("SLURM_CPUS_PER_TASK"),
        **frequency_policy(),
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    for runtime in registered_runtimes() if runtimes is None else runtimes:
        env |= runtime.versions()
    if cuda_device is not None:
        index = torch.device(cuda_device).index or 0
        env |= {
            "cuda_device": torch.cuda.get_device_name(index),
            "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return env
