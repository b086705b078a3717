"""The runtime registry: a runtime defined here takes part in benchmarks like the shipped ones."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from torch import nn

from archopt.bench import BenchSettings, environment
from archopt.bench.benchmark import benchmark, deployable_onnx
from archopt.config import ConfigError, load_config
from archopt.export import onnx_bytes, onnx_metadata
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, ChannelShift
from archopt.runtimes import (
    Runtime,
    _unregister_runtime,
    get_runtime,
    list_runtimes,
    register_runtime,
)
from archopt.runtimes.onnxruntime import GPU_INSTALL, cuda_unavailable, session_providers

STATS = {"median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "ci95_ms", "n", "top1", "top5",
         "max_abs_diff", "atol", "shift_impl", "shift_impl_ms", "iqr_ms", "warning", "first_ms",
         "load_ms", "repeats"}
SHIFT_IMPL_KEY = "archopt.shift_impl"  # what exported model.onnx files carry
SHIPPED = ["eager", "inductor", "onnxruntime", "openvino"]


class TorchScript(Runtime):
    """The eager module traced with torch.jit.trace on the first image it sees."""

    name = "jit"

    def __init__(self) -> None:
        self.loads: list[tuple[str, str, int]] = []

    def load(self, onnx_path, model, device, threads):
        self.loads.append((onnx_path, device, threads))
        traced = None

        def run(image: np.ndarray) -> np.ndarray:
            nonlocal traced
            x = torch.from_numpy(image)
            with torch.inference_mode():
                if traced is None:
                    with warnings.catch_warnings():  # deprecation and tracer warnings
                        warnings.simplefilter("ignore")
                        traced = torch.jit.trace(model.eval(), x)
                return traced(x).numpy()

        return run

    def versions(self) -> dict[str, str]:
        return {"jit": "traced " + torch.__version__}

    def details(self, device):
        # Asked in the process that loaded it (a worker): the loads it saw come back here.
        return {"traced_on": device, "loads": list(self.loads)}


class Absent(Runtime):
    name = "absent"

    def unavailable(self, device):
        return f"absent has no {device} build here"

    def load(self, onnx_path, model, device, threads):
        raise AssertionError("an unavailable runtime is never loaded")


@pytest.fixture
def registered():
    """Register the given runtime classes for one test; always unregister them."""
    names = []

    def register(*classes: type[Runtime]) -> list[Runtime]:
        for cls in classes:
            register_runtime(cls)
            names.append(cls.name)
        return [get_runtime(cls.name) for cls in classes]

    yield register
    for name in names:
        _unregister_runtime(name)


@pytest.fixture(scope="module")
def shift_net():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return nn.Sequential(
        nn.Conv2d(3, 18, 3, padding=1), nn.ReLU(), ChannelShift(18), nn.Conv2d(18, 18, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(18, 10),
    ).eval()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((8, 3, 32, 32), dtype=np.float32)


def test_shipped_runtimes_are_registered_without_importing_their_libraries():
    code = ("import sys, archopt.runtimes as r; print(r.list_runtimes()); "
            "print(sorted({'torch', 'onnxruntime'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == [str(SHIPPED), "[]"]


def test_a_registered_runtime_is_benchmarked_under_its_own_key(registered, shift_net, images):
    registered(TorchScript)
    labels = np.arange(len(images)) % 10
    onnx_model = deployable_onnx(shift_net, images[:3], threads=1, warmup=2)
    settings = BenchSettings(warmup=10, runtimes=("eager", "jit"))
    result = benchmark(shift_net, onnx_model, images, labels, "cpu", settings)
    assert set(result) == {"eager", "jit", "env", "jitter"}
    stats = result["jit"]
    assert STATS <= set(stats) and stats["n"] == len(images)
    assert 0 < stats["median_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
    assert stats["max_abs_diff"] <= 1e-5 and stats["top1"] == result["eager"]["top1"]
    assert stats["traced_on"] == "cpu"
    # The generic probe timed each shift implementation through this runtime's callable,
    # each loaded with its own ONNX export.
    assert set(stats["shift_impl_ms"]) == set(SHIFT_IMPLEMENTATIONS)
    assert stats["shift_impl"] in SHIFT_IMPLEMENTATIONS
    # The timed load (in its worker) got the export of the implementation picked (the
    # deployed file stands for the implementation its metadata names).
    [(path, device, threads)] = stats["loads"]
    deployed = onnx_metadata(onnx_model)[SHIFT_IMPL_KEY]
    exported = "model.onnx" if stats["shift_impl"] == deployed else f"{stats['shift_impl']}.onnx"
    assert Path(path).name == exported and (device, threads) == ("cpu", 1)
    assert result["env"]["jit"] == "traced " + torch.__version__


def test_every_registered_runtime_runs_by_default_and_reports_its_versions(registered, images):
    registered(TorchScript)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 10)).eval()
    onnx_model = onnx_bytes(model, torch.from_numpy(images[:1]))
    result = benchmark(model, onnx_model, images[:3], np.zeros(3, dtype=np.int64))
    assert list_runtimes() == [*SHIPPED, "jit"]
    assert set(result) == {*SHIPPED, "jit", "env", "jitter"}
    assert result["jit"]["shift_impl"] is None and result["jit"]["shift_impl_ms"] == {}
    assert environment(threads=1)["jit"].startswith("traced")


def test_an_unavailable_runtime_is_recorded_as_skipped(registered, images):
    registered(Absent)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).eval()
    settings = BenchSettings(runtimes=("absent", "eager"))
    result = benchmark(model, b"", images[:3], np.zeros(3, dtype=np.int64), settings=settings)
    assert result["absent"] == {"skipped": "absent has no cpu build here"}
    assert result["eager"]["n"] == 3


def test_a_name_is_registered_once(registered):
    registered(TorchScript)

    class Again(Runtime):
        name = "jit"

    with pytest.raises(ValueError, match="runtime 'jit' is already registered"):
        register_runtime(Again)
    with pytest.raises(ValueError, match="runtime 'eager' is already registered"):
        register_runtime(type("Eager2", (Runtime,), {"name": "eager"}))
    assert type(get_runtime("jit")) is TorchScript


def test_only_one_runtime_is_deployed_to():
    class Other(Runtime):
        name = "other"
        deploys_onnx = True

    with pytest.raises(ValueError, match="already deployed to 'onnxruntime'"):
        register_runtime(Other)
    assert "other" not in list_runtimes()


def test_unknown_runtime_names_are_refused_naming_them_and_the_known_ones(registered):
    schema = REPO / "workflow/schemas/config.schema.yaml"
    overrides = {"bench": {"runtimes": ["eager", "tensorrt"]}}
    with pytest.raises(ConfigError, match=r"bench\.runtimes': unknown runtime 'tensorrt'; "
                                          r"registered runtimes: eager, inductor, onnxruntime, openvino"):
        load_config(REPO / "config.yaml", schema, overrides)
    with pytest.raises(ValueError, match="unknown runtime 'jit'"):
        BenchSettings(runtimes=("jit",))
    registered(TorchScript)
    config = load_config(REPO / "config.yaml", schema, {"bench": {"runtimes": ["jit"]}})
    assert config["bench"]["runtimes"] == ["jit"]
    with pytest.raises(ValueError, match="unknown runtime 'nope'.*jit"):
        get_runtime("nope")


@pytest.fixture
def fresh_cuda_check():
    """The CUDA check is cached per process: each test sees its own conditions."""
    cuda_unavailable.cache_clear()
    yield
    cuda_unavailable.cache_clear()


def test_onnxruntime_without_a_cuda_provider_says_so_and_names_the_fix(monkeypatch,
                                                                       fresh_cuda_check):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    ort = get_runtime("onnxruntime")
    assert ort.unavailable("cpu") is None
    reason = ort.unavailable("cuda:0")
    assert "no CUDAExecutionProvider" in reason and reason.endswith(GPU_INSTALL)
    assert ort.details("cuda:1") == {"provider": "CUDAExecutionProvider", "tf32": False}
    assert get_runtime("eager").unavailable("cuda:0") is None


def test_the_cuda_provider_runs_without_tf32():
    # ONNX Runtime's CUDA provider rounds convolutions to TF32 unless told not to.
    assert session_providers(None) == ["CPUExecutionProvider"]
    cuda, cpu = session_providers(1)
    assert cuda == ("CUDAExecutionProvider", {"device_id": 1, "use_tf32": 0})
    assert cpu == "CPUExecutionProvider"


def test_a_listed_cuda_provider_whose_session_falls_back_to_the_cpu_is_refused(
        monkeypatch, fresh_cuda_check):
    # The CPU package asked for CUDA falls back to the CPU, as onnxruntime-gpu does
    # without its CUDA libraries: listed, yet no session runs on the GPU.
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    reason = get_runtime("onnxruntime").unavailable("cuda:0")
    assert "lists the CUDAExecutionProvider, but a session on GPU 0 falls back to the CPU" in reason
    assert reason.endswith(GPU_INSTALL)


def test_the_cpu_and_gpu_packages_installed_together_are_refused(monkeypatch, tmp_path,
                                                                 fresh_cuda_check):
    # A real dist-info folder on sys.path, as pip leaves after `pip install onnxruntime-gpu`.
    info = tmp_path / "onnxruntime_gpu-1.31.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.31.1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reason = get_runtime("onnxruntime").unavailable("cuda:0")
    assert "and onnxruntime-gpu 1.31.1 are both installed" in reason
    assert reason.startswith("onnxruntime ") and reason.endswith(GPU_INSTALL)
