"""GPU placement (archopt.gpu): machine-wide locks keyed by GPU UUID, k holders per GPU,
exclusive holders for benchmarks, held until the process exits; the job's own request
decides CPU or GPU. Contended by real processes over fake GPU UUIDs."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queues
import signal
from pathlib import Path

import pytest
import torch

from archopt.gpu import (
    DEFAULT_LOCK_DIR,
    GpuUnavailableError,
    claim_device,
    claim_gpu,
    driver_gpu_count,
    driver_gpus,
    gpu_unavailable_message,
    lock_dir,
    memory_warning,
    requested_gpus,
)

FORK = mp.get_context("fork")


def _holder(name, uuids, runs_per_gpu, folder, results, release):
    logger = logging.getLogger(f"job.{name}")  # the job's log, as start_job opens it
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.FileHandler(Path(folder).parent / f"{name}.log"))
    index = claim_gpu(uuids, runs_per_gpu, Path(folder), poll_seconds=0.02, logger=logger)
    results.put((name, uuids[index]))
    release.wait(60)  # the job's work; the lock is dropped when the process exits


class Jobs:
    """Holder processes over one lock folder; ``start`` one, ``got`` what it claimed."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.results = folder, FORK.Queue()
        self.procs: dict[str, tuple[mp.Process, mp.Event]] = {}

    def start(self, name: str, uuids: list[str], runs_per_gpu: int = 1) -> None:
        release = FORK.Event()
        proc = FORK.Process(target=_holder, args=(name, uuids, runs_per_gpu, str(self.folder),
                                                   self.results, release))
        proc.start()
        self.procs[name] = (proc, release)

    def claimed(self, timeout: float = 10.0) -> dict[str, str]:
        """Every claim made within ``timeout`` s (waits the whole timeout only for none)."""
        got = {}
        try:
            name, uuid = self.results.get(timeout=timeout)
            got[name] = uuid
            while True:
                name, uuid = self.results.get(timeout=0.5)
                got[name] = uuid
        except queues.Empty:
            return got

    def finish(self, name: str) -> None:
        proc, release = self.procs.pop(name)
        release.set()
        proc.join(10)

    def close(self) -> None:
        for name in list(self.procs):
            self.finish(name)


@pytest.fixture
def jobs(tmp_path):
    pool = Jobs(tmp_path / "locks")
    yield pool
    pool.close()


def test_each_gpu_gets_one_job_and_the_next_waits_for_a_process_to_exit(jobs, tmp_path):
    gpus = ["GPU-aaaa", "GPU-bbbb"]
    jobs.start("first", gpus)
    jobs.start("second", gpus)
    held = jobs.claimed()
    assert sorted(held.values()) == gpus
    jobs.start("third", gpus)
    assert jobs.claimed(timeout=1.0) == {}  # both GPUs taken: it waits, and says so
    assert "all 2 GPU(s) are taken by other jobs" in (tmp_path / "third.log").read_text()
    jobs.finish("first")  # the process exits: only now is its GPU free
    assert jobs.claimed() == {"third": held["first"]}


def test_a_killed_job_releases_its_gpu(jobs):
    jobs.start("victim", ["GPU-x"])
    assert jobs.claimed() == {"victim": "GPU-x"}
    proc, _ = jobs.procs.pop("victim")
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    jobs.start("next", ["GPU-x"])
    assert jobs.claimed() == {"next": "GPU-x"}


def test_locks_follow_the_uuid_not_the_visible_index(jobs):
    # Two CUDA_VISIBLE_DEVICES settings (or two study folders) index the GPUs differently;
    # index-keyed locks would let "b-first" and "a-only" take the same GPU as index 0.
    jobs.start("a-only", ["GPU-a"])
    jobs.start("b-only", ["GPU-b"])
    assert sorted(jobs.claimed().values()) == ["GPU-a", "GPU-b"]
    jobs.start("b-first", ["GPU-b", "GPU-a"])
    assert jobs.claimed(timeout=1.0) == {}
    jobs.finish("a-only")
    assert jobs.claimed() == {"b-first": "GPU-a"}


def test_k_runs_share_a_gpu_and_a_benchmark_has_it_alone(jobs):
    gpu = ["GPU-shared"]
    for name in ("run1", "run2", "run3"):
        jobs.start(name, gpu, runs_per_gpu=3)
    assert set(jobs.claimed()) == {"run1", "run2", "run3"}
    jobs.start("run4", gpu, runs_per_gpu=3)
    jobs.start("bench", gpu, runs_per_gpu=1)
    assert jobs.claimed(timeout=1.0) == {}  # 3 holders already; the benchmark needs 0
    jobs.finish("run1")
    assert jobs.claimed() == {"run4": "GPU-shared"}
    for name in ("run2", "run3", "run4"):
        jobs.finish(name)
    assert jobs.claimed() == {"bench": "GPU-shared"}
    jobs.start("run5", gpu, runs_per_gpu=3)
    assert jobs.claimed(timeout=1.0) == {}  # nothing joins a benchmark's GPU
    jobs.finish("bench")
    assert jobs.claimed() == {"run5": "GPU-shared"}


def test_free_gpus_are_filled_before_one_gets_a_second_run(jobs):
    gpus = ["GPU-1", "GPU-2"]
    jobs.start("a", gpus, runs_per_gpu=2)
    jobs.start("b", gpus, runs_per_gpu=2)
    assert sorted(jobs.claimed().values()) == gpus
    jobs.start("c", gpus, runs_per_gpu=2)
    assert list(jobs.claimed().values())[0] in gpus  # a second seat, no waiting


def test_one_process_claims_its_gpu_once(tmp_path):
    gpus = ["GPU-re"]

    def twice(results):
        first = claim_gpu(gpus, 1, tmp_path, poll_seconds=0.02)
        results.put((first, claim_gpu(gpus, 1, tmp_path, poll_seconds=0.02)))

    results = FORK.Queue()
    proc = FORK.Process(target=twice, args=(results,))
    proc.start()
    assert results.get(timeout=10) == (0, 0)  # not a wait on its own lock
    proc.join(10)


def test_lock_folder_is_machine_wide_with_an_override(monkeypatch, tmp_path):
    monkeypatch.delenv("ARCHOPT_GPU_LOCK_DIR", raising=False)
    assert lock_dir() == DEFAULT_LOCK_DIR and DEFAULT_LOCK_DIR.is_absolute()
    monkeypatch.setenv("ARCHOPT_GPU_LOCK_DIR", str(tmp_path))
    assert lock_dir() == tmp_path
    with pytest.raises(ValueError, match="runs_per_gpu must be at least 1"):
        claim_gpu(["GPU-z"], 0, tmp_path)


def test_the_job_request_decides_the_device(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")  # under SLURM too: no GPU asked, none taken
    assert requested_gpus({"gpu": 1, "mem_mb": 4000}) == 1
    assert requested_gpus({"mem_mb": 4000}) == 0
    assert requested_gpus({"gpu": 0, "gres": "shard:1"}) == 1
    assert requested_gpus({"gres": "gpu:a100:2"}) == 1  # a GPU job; archopt jobs use one
    assert requested_gpus({"gres": "tmpdisk:100"}) == 0
    with claim_device(0) as placement:  # no GPU asked: the CPU, whatever is visible
        assert placement.device == "cpu" and placement.placement == "cpu"


def test_runs_that_may_not_fit_the_gpu_memory_are_warned_of():
    assert memory_warning(None, 4, 81_559) is None  # no estimate (not a training job)
    assert memory_warning(25_228, 3, 81_559) is None
    warning = memory_warning(25_228, 4, 81_559)
    assert "about 25228 MB per run (gpu_mem_mb) x 4 run(s) per GPU" in warning
    assert "> 81559 MB" in warning and "lower train.runs_per_gpu" in warning


def fake_driver(root: Path) -> Path:
    gpu = root / "gpus" / "0000:3b:00.0"
    gpu.mkdir(parents=True)
    (gpu / "information").write_text(
        "Model: \t\t Tesla V100-SXM2-16GB\nIRQ:   \t\t 92\nGPU UUID: \t GPU-1234\n"
    )
    (root / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC "
        "2023\nGCC version:  gcc version 12.2.0\n"
    )
    return root


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a GPU torch cannot use")
def test_a_job_that_asked_for_a_gpu_torch_cannot_use_stops_naming_it(tmp_path, monkeypatch):
    root = fake_driver(tmp_path / "nvidia")
    assert driver_gpus(root) == (["Tesla V100-SXM2-16GB"], "535.104.05")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    message = gpu_unavailable_message(1, root)
    assert "asked for 1 GPU(s)" in message and "Tesla V100-SXM2-16GB" in message
    assert "driver version 535.104.05" in message and "CUDA_VISIBLE_DEVICES=0" in message
    assert f"torch {torch.__version__} is built for CUDA" in message
    assert ", ".join(torch.cuda.get_arch_list()) in message
    # The job itself (torch here sees no GPU): a named error, not a CPU run.
    with pytest.raises(GpuUnavailableError, match="asked for 1 GPU.*torch sees no usable"):
        with claim_device(1):
            pytest.fail("the job must not start on the CPU")
    assert "no NVIDIA driver answers here" in gpu_unavailable_message(1, tmp_path / "absent")


def test_driver_gpu_count_follows_cuda_visible_devices(tmp_path, monkeypatch):
    driver = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (driver / bus).mkdir(parents=True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert driver_gpu_count(driver) == 3
    for visible, expected in (("1", 1), ("0,2", 2), ("", 0), ("0,-1,1", 1), ("0,1,2,3", 3)):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert driver_gpu_count(driver) == expected, visible
    assert driver_gpu_count(tmp_path / "no-driver") == 0
