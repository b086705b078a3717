"""A runtime that fails costs its own result only: one that raises while loading, one that
kills its process in native code and one whose outputs disagree with eager each get a
``failed`` entry naming why, and every other runtime keeps its timings."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from archopt.bench import BenchSettings
from archopt.bench.benchmark import bench_worker, benchmark
from archopt.bench.worker import RuntimeFailure, Worker, WorkerCrashed
from archopt.export import onnx_bytes
from archopt.plugins import load_plugins
from archopt.posttrain.int8.quantize import FP32, measure_runtime
from archopt.runtimes import _unregister_runtime, get_runtime

PLUGIN = str(Path(__file__).parent / "plugins" / "failing_runtimes.py")
FAILING = ("raises", "aborts", "offbyone", "qdqcrash", "timecrash")


@pytest.fixture(scope="module")
def failing_runtimes():
    """The plugin's runtimes, registered here and (through ``plugins``) in each worker."""
    load_plugins([PLUGIN])
    yield (PLUGIN,)
    for name in FAILING:
        _unregister_runtime(name)
    for module in [m for m in sys.modules if m.startswith("archopt_plugin_failing_runtimes")]:
        del sys.modules[module]


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10)).eval()


def test_failing_runtimes_are_recorded_and_the_others_keep_their_timings(failing_runtimes,
                                                                         caplog):
    images = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    model = tiny_net()
    onnx_model = onnx_bytes(model, torch.from_numpy(images[:1]))
    # The crash comes between two healthy runtimes: the one after it runs in a fresh worker.
    settings = BenchSettings(runtimes=("eager", "raises", "aborts", "onnxruntime", "offbyone"),
                             plugins=failing_runtimes, min_queries=6)
    with caplog.at_level(logging.INFO):
        result = benchmark(model, onnx_model, images, np.arange(4), "cpu", settings)
    assert result["raises"] == {"failed": "RuntimeError: cannot compile this graph"}
    assert result["aborts"]["failed"].startswith("crashed (SIGABRT)")
    assert result["offbyone"]["failed"].startswith("outputs differ from eager PyTorch by up to 1")
    assert "'bench.atol' = 0.001" in result["offbyone"]["failed"]
    for healthy in ("eager", "onnxruntime"):
        assert result[healthy]["n"] == 6 and result[healthy]["max_abs_diff"] <= 1e-3
    assert "aborts: failed (crashed (SIGABRT)" in caplog.text
    assert result["env"]["threads"] == 1


def test_each_repeat_is_a_fresh_process_and_a_crash_there_fails_the_runtime(failing_runtimes):
    images = np.random.default_rng(1).standard_normal((3, 3, 32, 32), dtype=np.float32)
    model = tiny_net()
    settings = BenchSettings(runtimes=("aborts", "eager"), plugins=failing_runtimes, repeats=2)
    result = benchmark(model, b"", images, np.zeros(3, dtype=np.int64), "cpu", settings)
    assert result["aborts"]["failed"].startswith("crashed (SIGABRT)")
    assert result["eager"]["repeats"] == 2 and len(result["eager"]["processes"]) == 2


def pid() -> int:
    import os

    return os.getpid()


def abort() -> None:
    import os

    os.abort()


def divide(a: float, b: float) -> float:
    return a / b


def test_the_worker_keeps_its_process_until_a_crash_replaces_it():
    with Worker() as worker:
        first = worker.call(pid)
        assert worker.call(pid) == first and worker.started == 1  # one process, reused
        with pytest.raises(RuntimeFailure, match="ZeroDivisionError: division by zero"):
            worker.call(divide, 1, 0)
        assert worker.call(pid) == first  # an exception is an answer, not a crash
        with pytest.raises(WorkerCrashed, match=r"crashed \(SIGABRT\)"):
            worker.call(abort)
        assert worker.call(pid) != first and worker.started == 2


def test_an_int8_file_that_kills_the_runtime_is_that_recipes_error(failing_runtimes, tmp_path):
    # The post-training stage times every file of a runtime in the job's worker: a native
    # crash on one recipe costs that recipe, one on fp32 (or an exception) the runtime.
    model = tiny_net()
    images = np.random.default_rng(2).standard_normal((5, 3, 32, 32), dtype=np.float32)
    labels = np.arange(5)
    fp32 = tmp_path / "fp32.onnx"
    fp32.write_bytes(onnx_bytes(model, torch.from_numpy(images[:1])))
    files = {FP32: fp32, "qdq_s8s8": tmp_path / "qdq_s8s8.onnx",
             "qop_u8s8_rr": tmp_path / "qop_u8s8_rr.onnx"}
    for name in ("qdq_s8s8", "qop_u8s8_rr"):  # stand-ins: what matters is the file name
        files[name].write_bytes(fp32.read_bytes())
    settings = BenchSettings(plugins=failing_runtimes, min_queries=7)
    with bench_worker(settings) as worker:
        results, logits = measure_runtime(worker, get_runtime("qdqcrash"), files, model, images,
                                          labels, settings)
        assert results["qdq_s8s8"] == {"error": "crashed (SIGABRT) while: qdqcrash: loading "
                                                "qdq_s8s8"}
        assert results[FP32]["n"] == results["qop_u8s8_rr"]["n"] == 7
        assert set(logits) == {FP32, "qop_u8s8_rr"}
        # A crash after every file loaded is the runtime's, not one recipe's.
        with pytest.raises(WorkerCrashed, match="while: timecrash: timing fp32, qdq_s8s8, "
                                                "qop_u8s8_rr"):
            measure_runtime(worker, get_runtime("timecrash"), files, model, images, labels,
                            settings)
        with pytest.raises(WorkerCrashed, match="while: aborts: loading fp32"):
            measure_runtime(worker, get_runtime("aborts"), files, model, images, labels, settings)
        with pytest.raises(RuntimeFailure, match="raises cannot run the fp32 export: "
                                                 "RuntimeError: cannot compile this graph"):
            measure_runtime(worker, get_runtime("raises"), files, model, images, labels, settings)


def test_a_device_result_with_a_failed_runtime_is_imported(tmp_path):
    # run_bench.py records a runtime that failed on a file as the bench stage does.
    from archopt.device.imports import read_results
    from archopt.device.run_bench import FORMAT_VERSION, RESULTS_FORMAT

    results = {
        "format": RESULTS_FORMAT, "version": FORMAT_VERSION, "bundle": "b" * 64,
        "settings": {"runtimes": ["onnxruntime", "openvino"], "threads": 1},
        "env": {"cpu_model": "test", "architecture": "x86_64", "os": "Linux"},
        "networks": {"cifar10/resnet20": {
            "dataset": "cifar10", "network": "resnet20", "sha256": "0" * 64, "images": 4,
            "onnxruntime": {"failed": "onnxruntime cannot run this file: crashed (SIGSEGV)"},
            "openvino": {"skipped": "not installed"}}},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    entry = read_results(path)["networks"]["cifar10/resnet20"]
    assert entry["onnxruntime"]["failed"].endswith("crashed (SIGSEGV)")
