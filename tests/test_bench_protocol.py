"""The measurement protocol: IQR warnings, MLPerf-style minimum queries and duration,
load and first-inference times, fresh-process repeats, and the environment record."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import torch
from torch import nn

from archopt.bench import BenchSettings, latency_stats
from archopt.bench.benchmark import benchmark
from archopt.bench.env import check_threads, environment, usable_cpus
from archopt.bench.stats import between_processes, spread_warning
from archopt.bench.timing import load_timed, progress_logger, time_images
from archopt.export import onnx_bytes

MS = 1_000_000  # ns


def test_iqr_and_percentiles_of_a_known_array():
    stats = latency_stats(np.arange(1, 101) * MS)  # 1..100 ms
    # Linear interpolation: q1 at rank 24.75 -> 25.75 ms, q3 at rank 74.25 -> 75.25 ms.
    assert stats["iqr_ms"] == pytest.approx(49.5)
    assert stats["median_ms"] == pytest.approx(50.5) and stats["p90_ms"] == pytest.approx(90.1)
    assert stats["warning"] == "unreliable"  # 49.5 / 50.5


@pytest.mark.parametrize(("spread_ms", "warning"), [
    (0.9, None), (1.0, None), (1.1, "noisy"), (2.5, "noisy"), (2.6, "unreliable"),
])
def test_iqr_warning_thresholds(spread_ms, warning):
    # IQR / median = spread / 10: the bounds (10%, 25%) themselves do not warn.
    assert spread_warning(spread_ms, 10.0) == warning


def test_warning_from_hand_made_timings():
    steady = latency_stats(np.array([10, 10, 10.2, 10.4, 10, 10.1, 9.9, 10]) * MS)
    assert steady["warning"] is None
    # Half the calls at 10 ms, half at 12 ms: IQR 2 ms of an 11 ms median (18%).
    noisy = latency_stats(np.array([10, 10, 10, 10, 12, 12, 12, 12]) * MS)
    assert noisy["iqr_ms"] == pytest.approx(2.0) and noisy["warning"] == "noisy"
    bimodal = latency_stats(np.array([10, 10, 10, 10, 20, 20, 20, 20]) * MS)
    assert bimodal["warning"] == "unreliable"


def test_between_process_spread_is_of_the_process_medians():
    spread = between_processes([1.0, 1.2, 1.1])
    assert spread == {"processes": 3, "median_ms": pytest.approx(1.1),
                      "std_ms": pytest.approx(0.1), "min_ms": 1.0, "max_ms": 1.2}
    assert between_processes([2.0])["std_ms"] is None


class Counter:
    """A runner counting its calls, taking ``sleep_s`` each."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.calls = 0
        self.sleep_s = sleep_s

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return image.reshape(1, -1)[:, :3].copy()


IMAGES = np.arange(5 * 3 * 2 * 2, dtype=np.float32).reshape(5, 3, 2, 2)


def test_min_queries_cycles_over_the_images():
    run = Counter()
    samples, outputs = time_images(run, IMAGES, warmup=10, min_queries=23)
    assert samples.size == 23 and run.calls == 10 + 23
    # Logits: one row per image, from the first pass.
    np.testing.assert_array_equal(outputs, IMAGES.reshape(5, -1)[:, :3])


def test_every_image_is_timed_even_above_min_queries():
    samples, outputs = time_images(Counter(), IMAGES, warmup=10, min_queries=2)
    assert samples.size == 5 and outputs.shape == (5, 3)


def test_min_duration_keeps_timing_until_it_has_passed():
    run = Counter(sleep_s=0.01)
    started = time.perf_counter()
    samples, _ = time_images(run, IMAGES, warmup=0, min_queries=1, min_duration_s=0.3)
    assert time.perf_counter() - started >= 0.3
    assert samples.size == run.calls and 20 <= samples.size <= 35  # 0.3 s / ~10 ms a call
    assert samples.min() >= 0.01 * 1e9


def test_load_and_first_inference_are_timed_apart_and_a_compile_is_load():
    lazy = Counter()
    run, load_ms, first_ms = load_timed(lambda: lazy, IMAGES[:1], compiles_on_first_call=True)
    assert run is lazy and lazy.calls == 2 and load_ms >= 0 and first_ms >= 0

    def slow_load() -> Counter:
        time.sleep(0.05)
        return Counter()

    run, load_ms, first_ms = load_timed(slow_load, IMAGES[:1], compiles_on_first_call=False)
    assert run.calls == 1 and load_ms >= 50 and first_ms < 50


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10)).eval()


def test_benchmark_records_protocol_fields_and_repeats_in_fresh_processes():
    images = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    model = tiny_net()
    onnx_model = onnx_bytes(model, torch.from_numpy(images[:1]))
    settings = BenchSettings(runtimes=("eager", "onnxruntime"), min_queries=12, repeats=2)
    result = benchmark(model, onnx_model, images, np.arange(4), "cpu", settings)
    for name in ("eager", "onnxruntime"):
        entry = result[name]
        assert entry["n"] == 24 and entry["repeats"] == 2  # 12 queries x 2 processes
        assert entry["first_ms"] > 0 and entry["load_ms"] > 0 and entry["iqr_ms"] >= 0
        assert entry["warning"] in (None, "noisy", "unreliable")
        processes = entry["processes"]
        assert len(processes) == 2 and {p["n"] for p in processes} == {12}
        spread = entry["between_processes"]
        assert spread["processes"] == 2 and spread["std_ms"] >= 0
        assert spread["min_ms"] <= spread["median_ms"] <= spread["max_ms"]


def test_threads_beyond_the_usable_cpus_are_refused():
    check_threads(usable_cpus())
    with pytest.raises(ValueError, match=r"'bench\.threads' = \d+ exceeds the \d+ CPU\(s\)"):
        check_threads(usable_cpus() + 1)
    images = np.zeros((2, 3, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match="bench.threads"):
        benchmark(tiny_net(), b"", images, np.zeros(2, dtype=np.int64),
                  settings=BenchSettings(threads=usable_cpus() + 1, runtimes=("eager",)))


def test_environment_records_cpu_limits_and_frequency_policy(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    env = environment(threads=1)
    assert env["slurm_cpus_per_task"] == "4"
    for key in ("cpu_governor", "cpu_boost", "smt", "cgroup_cpu_quota", "affinity_cpus"):
        assert key in env  # null where the kernel does not expose it
    assert 1 <= env["usable_cpus"] <= env["affinity_cpus"]


def test_progress_is_logged_once_at_the_total_not_for_every_query_past_it(caplog):
    # Timing goes on past min_queries until min_duration_s: thousands of extra queries must
    # not write a log line each.
    report = progress_logger(logging.getLogger("archopt.test"), "rt", total=5, every_s=3600)
    with caplog.at_level(logging.INFO, logger="archopt.test"):
        for done in range(1, 1001):
            report(done)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["rt: 5/5 images"]
