"""A real snakemake run of the bench stage on fake CIFAR data and a random-init checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_snakemake
from fake_data import write_cifar_tree

from archopt.models import get_model
from archopt.train.checkpoint import save_checkpoint

pytestmark = pytest.mark.slow

MODEL = "resnet20-shift"
STATS = ("median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "ci95_ms", "n", "iqr_ms",
         "warning", "first_ms", "load_ms", "repeats")
RUNTIMES = ("eager", "onnxruntime", "openvino", "inductor")  # config.yaml's bench.runtimes


def test_bench_rule_times_every_runtime_and_skips_a_missing_gpu(workflow_copy):
    write_cifar_tree(workflow_copy / "resources", "cifar10", n_train=20, n_test=30)
    torch.manual_seed(0)
    model = get_model(MODEL, "cifar10")
    checkpoint = workflow_copy / f"results/models/cifar10/{MODEL}/best.pt"
    save_checkpoint(checkpoint, MODEL, "cifar10", model.state_dict(), epoch=1, val_top1=10.0)
    config = workflow_copy / "bench.yaml"
    config.write_text("bench: {images: 24, devices: [cpu, cuda], min_queries: 30, "
                      "min_duration_s: 0}\n")
    targets = [f"results/bench/cifar10/{MODEL}/{device}.json" for device in ("cpu", "cuda")]
    # Only the bench stage runs: the hand-made checkpoint stands in for training.
    result = run_snakemake(
        workflow_copy, *targets, "--configfile", str(config),
        "--allowed-rules", "onnx_export", "bench",
    )
    assert result.returncode == 0, result.stdout + result.stderr

    cpu = json.loads((workflow_copy / targets[0]).read_text())
    header = (cpu["model"], cpu["dataset"], cpu["device"], cpu["images"])
    assert header == (MODEL, "cifar10", "cpu", 24)
    for runtime in RUNTIMES:
        stats = cpu[runtime]
        # 24 images, cycled to bench.min_queries = 30 timed queries.
        assert all(key in stats for key in STATS) and stats["n"] == 30
        assert stats["shift_impl"] in ("conv", "slice", "pad")
        assert 0 <= stats["max_abs_diff"] <= stats["atol"] and 0 <= stats["top1"] <= 100
        assert stats["load_ms"] > 0 and stats["first_ms"] > 0 and stats["repeats"] == 1
        assert stats["warning"] in (None, "noisy", "unreliable")
        assert stats["top1"] == cpu["eager"]["top1"]
    assert cpu["inductor"]["frozen"] in (True, False)
    assert cpu["openvino"]["ov_device"] == "CPU"
    env = cpu["env"]
    assert env["threads"] == 1 and env["onnxruntime"] and env["openvino"]
    assert {"cpu_governor", "cpu_boost", "smt", "cgroup_cpu_quota", "slurm_cpus_per_task",
            "usable_cpus"} <= set(env)
    onnx_file = workflow_copy / f"results/bench/cifar10/{MODEL}/model.onnx"
    assert cpu["storage"] == {
        "checkpoint_bytes": checkpoint.stat().st_size,
        "onnx_bytes": onnx_file.stat().st_size,
    }
    assert (workflow_copy / f"logs/bench/cifar10/{MODEL}/cpu.log").read_text()

    cuda = json.loads((workflow_copy / targets[1]).read_text())
    if torch.cuda.is_available():
        assert cuda["eager"]["n"] == 24 and "cuda_device" in cuda["env"]
    else:
        assert "no CUDA device" in cuda["skipped"] and "eager" not in cuda
        assert cuda["env"]["torch"] == torch.__version__
