"""A technique's implementations are the technique's hook: the bench probes any of them.

A plugin technique whose layer has two numerically identical implementations gets the
same probe, ONNX metadata and bench JSON fields as the shipped shift, with no change to
the bench; the keys model.onnx files and bench JSONs already carry keep being read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from archopt.bench import BenchSettings
from archopt.bench.benchmark import benchmark, deployable_onnx
from archopt.bench.implementations import (
    as_metadata,
    from_metadata,
    pick_implementations,
    result_fields,
    variant_of,
)
from archopt.export import onnx_metadata
from archopt.plugins import load_plugins
from archopt.runtimes.eager import eager_runner
from archopt.techniques import Technique, _unregister_technique, register_technique

NAME = "doubled"
PLUGIN = str(Path(__file__).parent / "plugins" / "doubled.py")


@pytest.fixture(scope="module")
def doubling():
    """The plugin's layer class, with the plugin loaded (here and, through the settings'
    ``plugins``, in the bench's worker process); unregistered afterwards."""
    load_plugins([PLUGIN])
    module = next(m for name, m in sys.modules.items() if name.startswith("archopt_plugin_doubled"))
    yield module.Doubling
    _unregister_technique(NAME)
    del sys.modules[module.__name__]


@pytest.fixture
def network(doubling):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), doubling(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 10)).eval()


@pytest.fixture
def images():
    return np.random.default_rng(0).standard_normal((6, 3, 32, 32), dtype=np.float32)


def test_a_plugin_techniques_implementations_are_probed(network, images):
    variant, timings = pick_implementations(network, eager_runner, images, warmup=1)
    assert set(variant) == {NAME} and set(timings[NAME]) == {"mul", "add"}
    assert variant[NAME] == min(timings[NAME], key=timings[NAME].get)
    assert variant_of(network) == variant  # the network is left on the choice


def test_a_plugin_techniques_choice_is_exported_and_benchmarked(network, images):
    onnx_model = deployable_onnx(network, images[:3], threads=1, warmup=1)
    deployed = onnx_metadata(onnx_model)["archopt.doubled_impl"]
    assert deployed in ("mul", "add") and "archopt.shift_impl" not in onnx_metadata(onnx_model)
    settings = BenchSettings(warmup=1, runtimes=("eager", "onnxruntime"), plugins=(PLUGIN,))
    result = benchmark(network, onnx_model, images, np.zeros(6, dtype=np.int64), "cpu", settings)
    for runtime in ("eager", "onnxruntime"):
        entry = result[runtime]
        assert entry["doubled_impl"] in ("mul", "add") and set(entry["doubled_impl_ms"]) <= {
            "mul", "add"}
        assert entry["shift_impl"] is None and entry["shift_impl_ms"] == {}
    # The deployed runtime on the CPU times model.onnx as exported.
    assert result["onnxruntime"]["doubled_impl"] == deployed


def test_files_exported_before_the_hook_keep_their_shift_key():
    metadata = {"archopt.shift_impl": "pad", "archopt.shift_impl_ms": '{"pad": 1.5, "conv": 2.0}'}
    variant, timings = from_metadata(metadata)
    assert variant == {"shift": "pad"} and timings == {"shift": {"pad": 1.5, "conv": 2.0}}
    assert as_metadata(variant, timings)["archopt.shift_impl"] == "pad"
    fields = result_fields(variant, timings)
    assert fields["shift_impl"] == "pad" and fields["shift_impl_ms"] == timings["shift"]


def test_implementations_without_a_setter_are_refused():
    class Half(Technique):
        name = "half"
        label = "Half"

        def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
            return nn.Conv2d(in_planes, out_planes, 1, stride)

        def implementations(self) -> tuple[str, ...]:
            return ("a", "b")

    with pytest.raises(ValueError, match="half.*implementation_of and set_implementation"):
        register_technique(Half)
