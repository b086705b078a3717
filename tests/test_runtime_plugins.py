"""The shipped OpenVINO and inductor runtimes: outputs match eager on every family (shift
included), a missing library, compiler or device is a recorded skip, never a failure."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from archopt.bench import BenchSettings
from archopt.bench.benchmark import benchmark
from archopt.export import onnx_bytes
from archopt.models import get_model, input_shape
from archopt.runtimes import get_runtime
from archopt.runtimes.eager import eager_runner

ATOL = 1e-3  # config.yaml's bench.atol
FAMILIES = ("squeezenet-shift", "resnet20-shift", "pix2pix-shift")
RUNTIMES = ("onnxruntime", "openvino", "inductor")


@pytest.fixture(scope="module", params=FAMILIES)
def network(request, tmp_path_factory):
    """(name, model, ONNX path, two inputs) for one shift network of each family."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    name = request.param
    dataset = "maps" if name.startswith("pix2pix") else "cifar10"
    model = get_model(name, dataset).eval()
    images = np.random.default_rng(0).standard_normal((2, *input_shape(dataset)), dtype=np.float32)
    path = tmp_path_factory.mktemp(name) / "model.onnx"
    path.write_bytes(onnx_bytes(model, torch.from_numpy(images[:1])))
    return name, model, str(path), images


@pytest.mark.parametrize("runtime_name", RUNTIMES)
def test_runtime_outputs_match_eager_on_every_family(network, runtime_name):
    name, model, onnx_path, images = network
    runtime = get_runtime(runtime_name)
    assert runtime.unavailable("cpu") is None
    run = runtime.load(onnx_path, model, "cpu", 1)
    reference = eager_runner(model)
    outputs = [run(images[i : i + 1]) for i in range(len(images))]
    for index, output in enumerate(outputs):  # earlier outputs survive later calls
        expected = reference(images[index : index + 1])
        assert output.shape == expected.shape
        assert np.abs(output - expected).max() <= ATOL, (name, runtime_name)


def test_inductor_compiles_on_its_first_call_and_says_whether_it_froze():
    inductor = get_runtime("inductor")
    assert inductor.compiles_on_first_call
    assert inductor.details("cpu")["device"] == "cpu"


def tiny_classifier() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 10)).eval()


def test_openvino_not_installed_is_a_recorded_skip(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` meets uninstalled
    assert get_runtime("openvino").unavailable("cpu") == (
        "openvino is not installed (pip install openvino)")
    # The benchmark asks its worker process, which has the parent's sys.path: a module
    # first on it that fails to import is what that process meets.
    (tmp_path / "openvino.py").write_text("raise ImportError('No module named openvino')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    images = np.random.default_rng(1).standard_normal((3, 3, 32, 32), dtype=np.float32)
    model = tiny_classifier()
    settings = BenchSettings(runtimes=("openvino", "eager"))
    result = benchmark(model, onnx_bytes(model, torch.from_numpy(images[:1])), images,
                       np.zeros(3, dtype=np.int64), settings=settings)
    assert result["openvino"] == {"skipped": "openvino is not installed (pip install openvino)"}
    assert result["eager"]["n"] == 3 and result["env"]["openvino"] == "not installed"


def test_inductor_without_a_cxx_compiler_is_a_recorded_skip(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no compiler on PATH
    monkeypatch.delenv("CXX", raising=False)
    reason = get_runtime("inductor").unavailable("cpu")
    assert reason and "needs a C++ compiler" in reason and "g++" in reason
    images = np.random.default_rng(1).standard_normal((3, 3, 32, 32), dtype=np.float32)
    model = tiny_classifier()
    settings = BenchSettings(runtimes=("inductor", "eager"))
    result = benchmark(model, b"", images, np.zeros(3, dtype=np.int64), settings=settings)
    assert result["inductor"] == {"skipped": reason}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skips of a machine without GPU")
def test_without_a_gpu_both_runtimes_say_why():
    assert "no CUDA device" in get_runtime("inductor").unavailable("cuda:0")
    reason = get_runtime("openvino").unavailable("cuda:0")
    assert "has no GPU.0 device" in reason and "not CUDA ones" in reason
