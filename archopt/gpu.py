"""Which device a job computes on, and which GPU it gets.

A job computes on a GPU exactly when it asked for one: its rule's ``gpu`` resource (or a
``gres`` of ``gpu``/``shard``/``mps``), as the job sees it in ``snakemake.resources``
(:func:`requested_gpus`). That is the value a profile's ``set-resources`` or the command
line gave, so the job and the scheduler agree. A job that asked for none runs on the CPU,
even where GPUs are visible (a ``posttrain`` or ``select_best`` on a GPU node never takes
GPU 0 from a training run). A job that asked for a GPU where torch sees none stops with
:class:`GpuUnavailableError`, naming the GPU and driver the system reports and what the
installed torch supports, instead of training for days on the CPU inside a GPU allocation.

Which GPU: Snakemake's ``gpu`` resource only counts jobs, it does not say which GPU each
gets, and Snakemake started inside an allocation of several GPUs (``salloc --gpus=4``)
runs several jobs over the same visible set. Every GPU job therefore claims a GPU through
``flock`` lock files, under SLURM too and with a single GPU (where the lock stops
``--resources gpu=N`` stacking N jobs on it). The locks live in one folder per machine,
:func:`lock_dir` (``$ARCHOPT_GPU_LOCK_DIR``, default ``/tmp/archopt-gpu-locks``), named by
the GPU's UUID: two study folders, two users or two ``CUDA_VISIBLE_DEVICES`` orders see
the same lock for the same physical GPU.

Runs per GPU (``train.runs_per_gpu``, k): a training-type job (``train``, ``train_gan``,
pruning's fine-tuning, ``select_best``'s evaluation) shares its GPU with at most k - 1
others; a benchmark (k = 1) always has its GPU to itself: it waits until no other job
holds it, and no job joins it while it times. Placement changes nothing of a run's
computation: its seed, data order and device type are the same, so its result is that
of one run at a time (bit-identical where the GPU kernels are deterministic). Locally,
Snakemake's ``--resources gpu=`` counts GPU jobs, so set it to GPUs x k.

When the lock is released: never before the process exits. The kernel drops an
``flock`` when the process dies (a killed job never leaves a GPU claimed), and only then
has the driver freed the process's CUDA context and every tensor its caller may still
reference; releasing at the end of the ``with`` block would let the next job start while
this one still occupies GPU memory. Leaving the block empties torch's cache, so
co-tenants (k > 1) get the memory back early.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

LOCK_DIR_ENV = "ARCHOPT_GPU_LOCK_DIR"
# Fixed, not tempfile.gettempdir(): TMPDIR often differs per user or per SLURM job, and
# the jobs sharing a GPU must find the same locks.
DEFAULT_LOCK_DIR = Path("/tmp/archopt-gpu-locks")
DRIVER_ROOT = Path("/proc/driver/nvidia")
log = logging.getLogger(__name__)

# The locks this process holds, by GPU UUID: kept until the process exits (see above).
_HELD: dict[str, list[IO[str]]] = {}


class GpuUnavailableError(RuntimeError):
    """A job asked for a GPU, but torch cannot use one here."""


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda:<index>"
    placement: str  # cpu | lock
    gpu_name: str | None = None
    cuda_visible_devices: str | None = None
    gpu_uuid: str | None = None
    runs_per_gpu: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def requested_gpus(resources: Mapping[str, Any]) -> int:
    """GPUs a job asked for: its ``gpu`` resource, or a ``gres`` naming ``gpu``, ``shard``
    or ``mps`` (a SLURM GPU share counts as one GPU: the job computes on it)."""
    gpus = int(resources.get("gpu", 0) or 0)
    gres = str(resources.get("gres", "") or "")
    if gpus == 0 and re.search(r"(^|,)\s*(gpu|shard|mps)\b", gres):
        gpus = 1
    return gpus


def local_gpu_count() -> int:
    """GPUs this process may use (``CUDA_VISIBLE_DEVICES`` respected by CUDA itself)."""
    import torch  # not at module level: the workflow's parse uses driver_gpu_count

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def driver_gpu_count(driver: Path = DRIVER_ROOT / "gpus") -> int:
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


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^{name}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def driver_gpus(driver_root: Path = DRIVER_ROOT) -> tuple[list[str], str | None]:
    """The GPU models and driver version the NVIDIA driver reports, without CUDA: from
    ``/proc/driver/nvidia`` (Linux), else ``nvidia-smi`` where installed."""
    models = [
        _field(info.read_text(errors="replace"), "Model") or info.parent.name
        for info in sorted(driver_root.glob("gpus/*/information"))
    ]
    version_file = driver_root / "version"
    version = None
    if version_file.is_file():
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]*)", version_file.read_text())
        version = match.group(1) if match else None
    if not models and shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version",
                 "--format=csv,noheader"]
        try:
            rows = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            rows = ""
        for row in filter(None, (line.strip() for line in rows.splitlines())):
            name, capability, version = (part.strip() for part in row.split(",")[:3])
            models.append(f"{name} (compute capability {capability})")
    return models, version


def torch_cuda_support() -> str:
    """What the installed torch can run: its CUDA version and the GPU architectures it
    ships kernels for (a GPU outside that list, e.g. a V100 = sm_70, cannot be used)."""
    import torch

    arch = ", ".join(torch.cuda.get_arch_list()) or "none"
    return (f"torch {torch.__version__} is built for CUDA {torch.version.cuda or 'none (CPU-only build)'}"
            f" with kernels for {arch}")


def gpu_unavailable_message(gpus: int, driver_root: Path = DRIVER_ROOT) -> str:
    models, version = driver_gpus(driver_root)
    system = (f"the driver reports {', '.join(models)}, driver version {version or 'unknown'}"
              if models else f"no NVIDIA driver answers here ({driver_root} is absent and "
              "there is no nvidia-smi)")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (
        f"this job asked for {gpus} GPU(s) (its `gpu` resource) but torch sees no usable "
        f"CUDA device: {system}; {torch_cuda_support()}; CUDA_VISIBLE_DEVICES="
        f"{visible if visible is not None else '(unset)'}. Install a torch build whose CUDA "
        "version the driver supports and that has kernels for this GPU, or run the job on "
        "the CPU by giving it no GPU (e.g. `--set-resources train:gpu=0`)"
    )


def lock_dir() -> Path:
    """The machine-wide folder of GPU locks (``$ARCHOPT_GPU_LOCK_DIR`` overrides it)."""
    override = os.environ.get(LOCK_DIR_ENV)
    return Path(override) if override else DEFAULT_LOCK_DIR


def _open_lock(path: Path) -> IO[str]:
    # Every user's jobs must be able to lock the same file; flock needs no write access,
    # so another user's read-only lock file is opened read-only.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)
    return os.fdopen(fd, "r")


def _prepare(folder: Path) -> None:
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)  # shared like /tmp: any user may add locks, none remove others'
        except PermissionError:
            pass


def _lock(path: Path, mode: int) -> IO[str] | None:
    handle = _open_lock(path)
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _file_name(uuid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", uuid)


def _try_gpu(folder: Path, uuid: str, runs_per_gpu: int, slot: int) -> list[IO[str]] | None:
    """Locks for one holder of ``uuid``: the GPU's lock exclusively (k = 1), or shared
    plus slot ``slot`` of k exclusively; None if taken."""
    name = _file_name(uuid)
    if runs_per_gpu == 1:
        handle = _lock(folder / f"{name}.lock", fcntl.LOCK_EX)
        return None if handle is None else [handle]
    shared = _lock(folder / f"{name}.lock", fcntl.LOCK_SH)
    if shared is None:
        return None  # an exclusive holder (a benchmark) has it
    seat = _lock(folder / f"{name}.slot{slot}.lock", fcntl.LOCK_EX)
    if seat is None:
        shared.close()
        return None
    return [shared, seat]


def claim_gpu(
    uuids: Sequence[str],
    runs_per_gpu: int = 1,
    folder: Path | None = None,
    poll_seconds: float = 2.0,
    logger: logging.Logger = log,
) -> int:
    """The index in ``uuids`` of a GPU this process now holds, waiting until one is free.

    At most ``runs_per_gpu`` processes hold a GPU at once, and a holder with
    ``runs_per_gpu=1`` holds it alone. Free GPUs are filled before a GPU gets a second
    holder. A GPU this process already holds is returned again. Held until the process
    exits (module docstring).
    """
    if not uuids:
        raise ValueError("claim_gpu: no GPU to claim")
    if runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be at least 1, got {runs_per_gpu}")
    for index, uuid in enumerate(uuids):
        if uuid in _HELD:
            return index
    folder = folder or lock_dir()
    _prepare(folder)
    waited = False
    while True:
        for slot in range(runs_per_gpu):
            for index, uuid in enumerate(uuids):
                handles = _try_gpu(folder, uuid, runs_per_gpu, slot)
                if handles is not None:
                    _HELD[uuid] = handles
                    return index
        if not waited:
            logger.info("all %d GPU(s) are taken by other jobs (locks in %s); waiting",
                        len(uuids), folder)
            waited = True
        time.sleep(poll_seconds)


def memory_warning(need_mb: int | None, runs_per_gpu: int, gpu_mb: int) -> str | None:
    """Why ``runs_per_gpu`` runs of ``need_mb`` each (the rule's ``gpu_mem_mb``) may not
    fit a GPU of ``gpu_mb``, or None. A warning, not a refusal: the estimate errs high."""
    if need_mb is None or need_mb * runs_per_gpu <= gpu_mb:
        return None
    return (
        f"this run may not fit its GPU's memory: about {need_mb} MB per run (gpu_mem_mb) x "
        f"{runs_per_gpu} run(s) per GPU (train.runs_per_gpu) > {gpu_mb} MB; if it runs out "
        "of memory, lower train.runs_per_gpu or the batch size, or use train.precision bf16"
    )


def visible_gpu_uuids() -> list[str]:
    """The UUID of each GPU torch sees, in torch's order."""
    import torch

    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(local_gpu_count())]


@contextmanager
def claim_device(
    gpus: int,
    runs_per_gpu: int = 1,
    folder: Path | None = None,
    logger: logging.Logger = log,
    need_mb: int | None = None,
) -> Iterator[Placement]:
    """The device of a job that asked for ``gpus`` GPUs (:func:`requested_gpus`): the CPU
    for 0, else a GPU held through :func:`claim_gpu` (one GPU: archopt's jobs use one).
    ``logger`` (the job's log) says when it waits for a GPU, and when ``runs_per_gpu`` runs
    of ``need_mb`` (the rule's ``gpu_mem_mb``) may not fit the GPU's memory."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if gpus < 1:
        yield Placement("cpu", "cpu", cuda_visible_devices=visible)
        return
    import torch  # in jobs only: the workflow's parse imports this module

    if local_gpu_count() == 0:
        raise GpuUnavailableError(gpu_unavailable_message(gpus))
    uuids = visible_gpu_uuids()
    index = claim_gpu(uuids, runs_per_gpu, folder, logger=logger)
    torch.cuda.set_device(index)
    warning = memory_warning(need_mb, runs_per_gpu,
                             torch.cuda.get_device_properties(index).total_memory // 2**20)
    if warning:
        logger.warning("%s", warning)
    try:
        yield Placement(f"cuda:{index}", "lock", torch.cuda.get_device_name(index), visible,
                        uuids[index], runs_per_gpu)
    finally:
        torch.cuda.empty_cache()  # co-tenants get the cached memory; the lock stays held
