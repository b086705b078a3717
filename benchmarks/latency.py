"""ResNet20 x {base, DSC, Shift, Shuffle}: single-image latency, eager PyTorch vs ONNX Runtime.

Prints the median latency of each network in each runtime (one CPU thread by default)
and the ratios the issue's targets name, all measured in this one run:

* Shift / base in eager PyTorch (target <= 0.8) and in ONNX Runtime (target <= 0.3);
* eager / ONNX Runtime for ResNet20 (target >= 2.5).

The eight runners are interleaved in every round so machine load hits all of them
alike; each ratio is computed per round and reported as the median with its range.
Weights are random (latency does not depend on them); Shift uses the implementation
fastest for each runtime, picked the way the bench rule picks it.

    python benchmarks/latency.py [--threads 1] [--rounds 7] [--runs 200]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from archopt.bench.benchmark import pick_shift_impl
from archopt.bench.timing import median_ms_interleaved
from archopt.export import onnx_bytes
from archopt.models import get_model
from archopt.runtimes.eager import eager_runner
from archopt.runtimes.onnxruntime import ort_runner, ort_session

NETWORKS = ("resnet20", "resnet20-dsc", "resnet20-shift", "resnet20-shuffle")
TARGETS = (  # (label, numerator, denominator, comparison, bound)
    ("shift / base, eager", ("resnet20-shift", "eager"), ("resnet20", "eager"), "<=", 0.8),
    ("shift / base, onnxruntime", ("resnet20-shift", "ort"), ("resnet20", "ort"), "<=", 0.3),
    ("eager / onnxruntime, resnet20", ("resnet20", "eager"), ("resnet20", "ort"), ">=", 2.5),
)


def ort_runner_factory(example: torch.Tensor, threads: int):
    """Export a model traced on ``example`` and wrap it in an ONNX Runtime runner."""
    return lambda model: ort_runner(ort_session(onnx_bytes(model, example), threads))


def build_runners(threads: int, images: np.ndarray) -> tuple[dict, dict]:
    """One runner per (network, runtime), and the shift implementation each one uses."""
    runners, impls = {}, {}
    example = torch.from_numpy(images[:1])
    for name in NETWORKS:
        model = get_model(name, "cifar10").eval()
        makers = {"eager": eager_runner, "ort": ort_runner_factory(example, threads)}
        for runtime, make in makers.items():
            impls[name, runtime], _ = pick_shift_impl(model, make, images, warmup=10)
            runners[name, runtime] = make(model)
    return runners, impls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per runner and round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = np.random.default_rng(0).standard_normal((16, 3, 32, 32), dtype=np.float32)
    runners, impls = build_runners(args.threads, images)
    rounds = [
        median_ms_interleaved(runners, images, warmup=10 if r == 0 else 0, rounds=1, runs=args.runs)
        for r in range(args.rounds)
    ]
    print(f"threads={args.threads} rounds={args.rounds} runs/round={args.runs}  (median ms)")
    header = f"{'network':<18}{'eager':>9}{'onnxruntime':>13}{'eager/ort':>11}"
    print(header + "  shift impl (eager, ort)")
    for name in NETWORKS:
        eager = float(np.median([r[name, "eager"] for r in rounds]))
        ort = float(np.median([r[name, "ort"] for r in rounds]))
        shift = f"{impls[name, 'eager']}, {impls[name, 'ort']}" if impls[name, "eager"] else "-"
        print(f"{name:<18}{eager:>9.3f}{ort:>13.3f}{eager / ort:>11.2f}  {shift}")
    print()
    for label, top, bottom, comparison, bound in TARGETS:
        ratios = [r[top] / r[bottom] for r in rounds]
        median = float(np.median(ratios))
        met = median <= bound if comparison == "<=" else median >= bound
        print(
            f"{label:<32}{median:6.3f}  (rounds {min(ratios):.3f}-{max(ratios):.3f})  "
            f"target {comparison} {bound}: {'met' if met else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
