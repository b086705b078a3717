"""What a latency was measured on: CPU, threads, library versions, GPU."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archopt.runtimes import get_runtime, list_runtimes


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else what platform knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask a scheduler may have narrowed)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def environment(threads: int, cuda_device: str | None = None) -> dict[str, Any]:
    """The ``env`` object of a bench JSON; ``cuda_device`` names the GPU when one is used.

    Library versions come from every registered runtime, configured or not.
    """
    env: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    for name in list_runtimes():
        env |= get_runtime(name).versions()
    if cuda_device is not None:
        index = torch.device(cuda_device).index or 0
        env |= {
            "cuda_device": torch.cuda.get_device_name(index),
            "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return env
