"""GPU placement: one local job per GPU through lock files; CPU where there is no CUDA."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from archopt.gpu import claim_device, claim_gpu_index, driver_gpu_count


def test_jobs_get_distinct_gpus_and_a_third_waits(tmp_path):
    with claim_gpu_index(2, tmp_path) as first, claim_gpu_index(2, tmp_path) as second:
        assert {first, second} == {0, 1}
    with claim_gpu_index(2, tmp_path) as again:
        assert again == 0  # released on exit


def _hold_gpu(lock_dir: str, queue: mp.Queue, seconds: float) -> None:
    with claim_gpu_index(1, Path(lock_dir), poll_seconds=0.05) as index:
        queue.put(("start", index, time.monotonic()))
        time.sleep(seconds)
        queue.put(("end", index, time.monotonic()))


def test_processes_never_share_a_gpu(tmp_path):
    queue: mp.Queue = mp.get_context("fork").Queue()
    procs = [
        mp.get_context("fork").Process(target=_hold_gpu, args=(str(tmp_path), queue, 0.3))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=20)
    events = sorted((queue.get() for _ in range(4)), key=lambda e: e[2])
    assert [e[0] for e in events] == ["start", "end", "start", "end"]  # serialized


def test_a_killed_holder_releases_its_gpu(tmp_path):
    proc = mp.get_context("fork").Process(target=_hold_gpu, args=(str(tmp_path), mp.Queue(), 60))
    proc.start()
    time.sleep(0.5)
    proc.kill()
    proc.join()
    with claim_gpu_index(1, tmp_path, poll_seconds=0.05) as index:
        assert index == 0


def test_cpu_placement_without_cuda(tmp_path):
    with claim_device("auto", tmp_path) as placement:
        if placement.device == "cpu":
            assert placement.placement == "cpu"
    with claim_device("cpu", tmp_path) as placement:
        assert placement.as_dict()["device"] == "cpu"
    with pytest.raises(ValueError, match="device must be"):
        with claim_device("tpu", tmp_path):
            pass


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
