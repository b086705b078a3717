"""Single-image inference benchmarks in every registered runtime, CPU and GPU."""

from archopt.bench.benchmark import benchmark, deployable_onnx
from archopt.bench.env import environment
from archopt.bench.settings import BenchSettings
from archopt.bench.stats import latency_stats, topk_accuracy

__all__ = [
    "BenchSettings",
    "benchmark",
    "deployable_onnx",
    "environment",
    "latency_stats",
    "topk_accuracy",
]
