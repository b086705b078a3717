"""Benchmark statistics, timing loops, shift selection and the bench JSON on tiny models."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from fake_data import write_cifar_tree
from torch import nn

from archopt.bench import BenchSettings, latency_stats, topk_accuracy
from archopt.bench.benchmark import benchmark, deployable_onnx, reference_logits
from archopt.bench.env import environment
from archopt.bench.implementations import pick_implementations
from archopt.bench.jobs import benchmark_images
from archopt.bench.timing import machine_jitter, median_ms_interleaved, time_images
from archopt.data import load_cifar, normalize
from archopt.data.manifest import marker_path
from archopt.export import onnx_bytes, onnx_metadata
from archopt.models import get_model
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, ChannelShift, set_shift_impl
from archopt.paths import bench_targets
from archopt.runtimes.eager import eager_runner
from archopt.runtimes.onnxruntime import ort_runner, ort_session

# The key model.onnx files already exported carry: it must keep being read and written.
SHIFT_IMPL_KEY = "archopt.shift_impl"
RUNTIME_KEYS = {
    "median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "ci95_ms", "n", "top1", "top5",
    "shift_impl", "shift_impl_ms", "max_abs_diff", "atol", "iqr_ms", "warning", "first_ms",
    "load_ms", "repeats",
}


def test_latency_stats_of_a_known_array():
    samples_ns = np.arange(1, 101) * 1_000_000  # 1, 2, ..., 100 ms
    stats = latency_stats(samples_ns)
    assert stats["n"] == 100
    assert stats["median_ms"] == pytest.approx(50.5)
    assert stats["mean_ms"] == pytest.approx(50.5)
    std = math.sqrt(100 * 101 / 12)  # sample std (ddof=1) of 1..n is sqrt(n(n+1)/12)
    assert stats["std_ms"] == pytest.approx(std)
    # Linear interpolation between order statistics: rank 0.9 * 99 = 89.1 -> 90.1 ms.
    assert stats["p90_ms"] == pytest.approx(90.1)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["ci95_ms"] == pytest.approx(1.959964 * std / 10, rel=1e-6)


def test_latency_stats_of_a_constant_and_a_skewed_array():
    constant = latency_stats([2_000_000] * 5)
    assert constant["std_ms"] == 0 and constant["ci95_ms"] == 0 and constant["p99_ms"] == 2
    skewed = latency_stats([1_000_000] * 9 + [11_000_000])
    assert skewed["median_ms"] == 1 and skewed["mean_ms"] == pytest.approx(2)
    assert skewed["p90_ms"] == pytest.approx(2.0)  # rank 8.1: 1 + 0.1 * (11 - 1)
    with pytest.raises(ValueError, match="at least 2 timings"):
        latency_stats([5])


def test_topk_accuracy():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(100 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(200 / 3)
    assert topk_accuracy(logits, labels, 5) == 100  # k is capped at the class count


def test_time_images_times_each_image_once_and_keeps_its_output():
    calls = []

    def run(image: np.ndarray) -> np.ndarray:
        calls.append(image.shape)
        return image.reshape(1, -1)[:, :2] * 2

    images = np.arange(4 * 3 * 2 * 2, dtype=np.float32).reshape(4, 3, 2, 2)
    samples, outputs = time_images(run, images, warmup=10)
    assert len(calls) == 14 and set(calls) == {(1, 3, 2, 2)}
    assert samples.shape == (4,) and (samples > 0).all()
    np.testing.assert_array_equal(outputs, images.reshape(4, -1)[:, :2] * 2)


def tiny_shift_net() -> nn.Module:
    """A small classifier with a channel shift: exports and runs in milliseconds."""
    return nn.Sequential(
        nn.Conv2d(3, 18, 3, padding=1), nn.ReLU(), ChannelShift(18), nn.Conv2d(18, 18, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(18, 10),
    )


@pytest.fixture(scope="module")
def shift_net():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return tiny_shift_net().eval()


@pytest.fixture(scope="module")
def images():
    generator = np.random.default_rng(0)
    return generator.standard_normal((12, 3, 32, 32), dtype=np.float32)


@pytest.fixture(scope="module")
def shift_onnx(shift_net, images):
    """The deployable export of ``shift_net``, fastest shift for ONNX Runtime on CPU."""
    return deployable_onnx(shift_net, images[:3], threads=1, warmup=2)


@pytest.mark.parametrize("name", ["resnet20-shift", "squeezenet-shift"])
def test_shift_implementations_agree_on_whole_networks(name, images):
    torch.manual_seed(1)
    model = get_model(name, "cifar10").eval()
    x = torch.from_numpy(images[:4])
    outputs = {}
    with torch.inference_mode():
        for impl in SHIFT_IMPLEMENTATIONS:
            outputs[impl] = set_shift_impl(model, impl)(x)
    for impl in SHIFT_IMPLEMENTATIONS[1:]:
        torch.testing.assert_close(outputs[impl], outputs["conv"], atol=1e-6, rtol=0)


def test_pick_implementations_times_every_shift_implementation(shift_net, images):
    variant, probes = pick_implementations(shift_net, eager_runner, images, warmup=2)
    timings = probes["shift"]
    assert set(probes) == {"shift"} and set(variant) == {"shift"}
    assert set(timings) == set(SHIFT_IMPLEMENTATIONS) and all(t > 0 for t in timings.values())
    assert variant["shift"] == min(timings, key=timings.get)
    assert {m.impl for m in shift_net.modules() if hasattr(m, "impl")} == {variant["shift"]}
    assert pick_implementations(get_model("resnet20"), eager_runner, images, warmup=2) == ({}, {})


def test_interleaved_medians_rank_a_slower_runner_last(images):
    def fast(image):
        return image

    def slow(image):
        return np.sort(np.tile(image.ravel(), 20))[None]

    runners = {"fast": fast, "slow": slow}
    timings = median_ms_interleaved(runners, images, warmup=1, rounds=2, runs=3)
    assert timings["fast"] < timings["slow"]


def test_deployable_onnx_records_its_shift_and_matches_eager(shift_net, shift_onnx, images):
    assert onnx_metadata(shift_onnx)[SHIFT_IMPL_KEY] in SHIFT_IMPLEMENTATIONS
    run = ort_runner(ort_session(shift_onnx))
    logits = np.concatenate([run(images[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(logits, reference_logits(shift_net, images[:4]), atol=1e-5, rtol=0)
    plain = deployable_onnx(get_model("resnet20-dsc"), images[:3], threads=1, warmup=2)
    assert SHIFT_IMPL_KEY not in onnx_metadata(plain)


def test_benchmark_json_has_every_runtime_and_statistic(shift_net, shift_onnx, images):
    labels = np.arange(len(images)) % 10
    result = benchmark(shift_net, shift_onnx, images, labels, "cpu", BenchSettings(warmup=10))
    shipped = ("eager", "inductor", "onnxruntime", "openvino")
    assert set(result) == {*shipped, "env", "jitter"}
    # The machine's own jitter, timed in the worker before and after the runtimes.
    assert [window["n"] > 0 and window["median_ms"] > 0 and window["iqr_ratio"] >= 0
            for window in result["jitter"]["windows"]] == [True, True]
    for runtime in shipped:
        stats = result[runtime]
        assert RUNTIME_KEYS <= set(stats)
        assert stats["n"] == len(images)
        assert 0 < stats["median_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
        assert stats["max_abs_diff"] <= 1e-3 and stats["shift_impl"] in SHIFT_IMPLEMENTATIONS
    # Every runtime computes the same network, so they classify the images alike.
    assert {result[runtime]["top1"] for runtime in shipped} == {result["eager"]["top1"]}
    assert result["onnxruntime"]["shift_impl"] == onnx_metadata(shift_onnx)[SHIFT_IMPL_KEY]
    assert result["onnxruntime"]["provider"] == "CPUExecutionProvider"
    assert result["env"]["threads"] == 1 and result["env"]["torch"] == torch.__version__


def test_benchmark_runs_only_the_configured_runtimes(images):
    model = get_model("resnet20-dsc").eval()
    labels = np.zeros(3, dtype=np.int64)
    result = benchmark(model, b"", images[:3], labels, settings=BenchSettings(runtimes=("eager",)))
    assert set(result) == {"eager", "env", "jitter"} and result["eager"]["shift_impl"] is None
    with pytest.raises(ValueError, match="bench.runtimes"):
        BenchSettings(runtimes=("tensorrt",))


def test_a_runtime_whose_onnx_disagrees_with_eager_is_recorded_as_failed(images):
    torch.manual_seed(0)
    model = get_model("resnet20-dsc").eval()
    torch.manual_seed(1)
    other = onnx_bytes(get_model("resnet20-dsc").eval(), torch.from_numpy(images[:1]))
    settings = BenchSettings(runtimes=("onnxruntime", "eager"))
    result = benchmark(model, other, images[:3], np.zeros(3, dtype=np.int64), settings=settings)
    assert set(result["onnxruntime"]) == {"failed"}
    assert result["onnxruntime"]["failed"].startswith("outputs differ from eager PyTorch by up to ")
    assert result["onnxruntime"]["failed"].endswith("more than config key 'bench.atol' = 0.001")
    assert result["eager"]["n"] == 3  # the other runtime keeps its timings


def test_environment_names_cpu_threads_and_versions():
    env = environment(threads=3)
    assert env["threads"] == 3 and env["cpu_count"] >= 1 and env["cpu_model"]
    assert {"torch", "onnxruntime", "python", "platform"} <= set(env)
    assert "cuda_device" not in env


def test_bench_targets_cover_study_networks_and_devices():
    config = {
        "studies": ["cifar10", "cifar100"],
        "networks": ["resnet20", "pix2pix"],
        "bench": {"devices": ["cpu", "cuda"]},
        "gan": {"variants": ["pix2pix"]},
    }
    assert bench_targets(config) == [
        f"results/bench/{dataset}/{model}/{device}.json"
        for dataset, model in (("cifar10", "resnet20"), ("cifar100", "resnet20"), ("maps", "pix2pix"))
        for device in ("cpu", "cuda")
    ]


def test_benchmark_images_are_the_first_normalized_test_images(tmp_path):
    dataset_dir = write_cifar_tree(tmp_path, "cifar10", n_train=10, n_test=20)
    marker = marker_path(dataset_dir)  # what the rules pass: the download marker
    images, labels = benchmark_images(marker, "cifar10", 7)
    test = load_cifar("cifar10", root=tmp_path).test
    assert images.shape == (7, 3, 32, 32) and images.dtype == np.float32
    assert images.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(labels, test.labels[:7].numpy())
    np.testing.assert_allclose(images, normalize(test.images[:7], "cifar10").numpy())
    assert len(benchmark_images(marker, "cifar10", None)[0]) == 20


def test_the_machine_jitter_probe_times_its_reference_for_the_duration_asked():
    started = time.perf_counter()
    jitter = machine_jitter(0.2)
    assert time.perf_counter() - started >= 0.2
    # Each sort takes well under the window, so the window holds many timed queries.
    assert jitter["n"] >= 10 and jitter["n"] * jitter["median_ms"] <= 200 * 1.01
    assert 0 <= jitter["iqr_ratio"] < 10
