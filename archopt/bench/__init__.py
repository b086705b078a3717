"""Single-image inference benchmarks: eager PyTorch vs ONNX Runtime, CPU and GPU."""

from archopt.bench.benchmark import RUNTIMES, BenchSettings, benchmark, deployable_onnx
from archopt.bench.env import environment
from archopt.bench.stats import latency_stats, topk_accuracy

__all__ = [
    "RUNTIMES",
    "BenchSettings",
    "benchmark",
    "deployable_onnx",
    "environment",
    "latency_stats",
    "topk_accuracy",
]
