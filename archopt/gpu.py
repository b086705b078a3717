"""Which device a job computes on, and one GPU per local job.

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it does not
say which GPU each job gets, so two local jobs would share ``cuda:0``. Locally, each job
therefore claims a GPU through an exclusive lock file per GPU index and keeps it until it
finishes. Under SLURM (``SLURM_JOB_ID`` set) the scheduler already restricted
``CUDA_VISIBLE_DEVICES`` to the job's own GPUs, so the job takes ``cuda:0`` of those.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_LOCK_DIR = Path(".snakemake/archopt-gpu-locks")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda:<index>"
    placement: str  # cpu | slurm | lock | single
    gpu_name: str | None = None
    cuda_visible_devices: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def local_gpu_count() -> int:
    """GPUs this process may use (``CUDA_VISIBLE_DEVICES`` respected by CUDA itself)."""
    import torch  # not at module level: the workflow's parse uses driver_gpu_count

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def driver_gpu_count(driver: Path = Path("/proc/driver/nvidia/gpus")) -> int:
    """NVIDIA GPUs visible to this process, counted without importing torch or initializing
    CUDA: the driver's GPU folders, limited by ``CUDA_VISIBLE_DEVICES`` as CUDA would
    (entries up to the first invalid one, e.g. ``-1``). For the workflow's parse, which
    decides whether training rules ask for a GPU; jobs use :func:`local_gpu_count`."""
    installed = len(list(driver.glob("*"))) if driver.is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return installed
    entries = []
    for entry in (e.strip() for e in visible.split(",")):
        if not entry or entry.startswith("-"):
            break
        entries.append(entry)
    return min(len(entries), installed)


def _try_lock(path: Path):
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


@contextmanager
def claim_gpu_index(
    count: int, lock_dir: Path = DEFAULT_LOCK_DIR, poll_seconds: float = 2.0
) -> Iterator[int]:
    """Hold an exclusive lock on one of ``count`` GPU indices, waiting until one is free.

    The lock is an ``flock`` on ``lock_dir/gpu<i>.lock``: the kernel releases it when the
    process dies, so a killed job never leaves a GPU claimed.
    """
    if count < 1:
        raise ValueError(f"claim_gpu_index: need at least one GPU, got count={count}")
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in range(count):
            handle = _try_lock(lock_dir / f"gpu{index}.lock")
            if handle is not None:
                try:
                    yield index
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                    handle.close()
                return
        if not waited:
            log.info("all %d GPUs are claimed by other jobs; waiting for one", count)
            waited = True
        time.sleep(poll_seconds)


@contextmanager
def claim_device(prefer: str = "auto", lock_dir: Path = DEFAULT_LOCK_DIR) -> Iterator[Placement]:
    """The device for one job: ``prefer`` is ``auto`` (CUDA when present), ``cpu`` or ``cuda``."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {prefer!r}")
    import torch  # in jobs only: the workflow's parse imports this module

    count = local_gpu_count()
    if prefer == "cuda" and count == 0:
        raise RuntimeError("device 'cuda' was requested but no CUDA device is visible")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if prefer == "cpu" or count == 0:
        yield Placement("cpu", "cpu", cuda_visible_devices=visible)
        return
    if os.environ.get("SLURM_JOB_ID") or count == 1:
        kind = "slurm" if os.environ.get("SLURM_JOB_ID") else "single"
        torch.cuda.set_device(0)
        yield Placement("cuda:0", kind, torch.cuda.get_device_name(0), visible)
        return
    with claim_gpu_index(count, lock_dir) as index:
        torch.cuda.set_device(index)
        yield Placement(f"cuda:{index}", "lock", torch.cuda.get_device_name(index), visible)
