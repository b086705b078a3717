"""The channel shift alone: each implementation at the shapes ResNet20 and SqueezeNet use.

For every distinct input shape of the shift layers of ``resnet20-shift`` and
``squeezenet-shift`` (found by running the networks with hooks, not re-derived), times
one ``ChannelShift`` per implementation (conv | slice | pad) on a batch of one image, in
eager PyTorch and in ONNX Runtime, interleaving the implementations. Prints microseconds
per call, and per network the total over all its shift layers (a layer shape that occurs
k times counts k times), with the fastest implementation per runtime marked ``*``.

    python benchmarks/shift_op.py [--threads 1] [--rounds 5] [--runs 300]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

from archopt.bench.timing import median_ms_interleaved
from archopt.export import onnx_bytes
from archopt.models import get_model
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, ChannelShift
from archopt.runtimes.eager import eager_runner
from archopt.runtimes.onnxruntime import ort_runner, ort_session

NETWORKS = ("resnet20-shift", "squeezenet-shift")
RUNTIMES = ("eager", "ort")


def shift_shapes(name: str) -> Counter:
    """(C, H, W) of every shift layer's input in one forward pass of one image."""
    model = get_model(name, "cifar10").eval()
    shapes: Counter = Counter()

    def record(module: ChannelShift, inputs: tuple, output: torch.Tensor) -> None:
        shapes.update([tuple(inputs[0].shape[1:])])

    shifts = [module for module in model.modules() if isinstance(module, ChannelShift)]
    hooks = [module.register_forward_hook(record) for module in shifts]
    with torch.inference_mode():
        model(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return shapes


def time_shape(shape: tuple[int, int, int], threads: int, rounds: int, runs: int) -> dict:
    """Median microseconds per (runtime, impl) for one shift input shape."""
    images = np.random.default_rng(0).standard_normal((4, *shape), dtype=np.float32)
    example = torch.from_numpy(images[:1])
    runners = {}
    for impl in SHIFT_IMPLEMENTATIONS:
        layer = ChannelShift(shape[0], impl=impl).eval()
        runners["eager", impl] = eager_runner(layer)
        runners["ort", impl] = ort_runner(ort_session(onnx_bytes(layer, example), threads))
    medians = median_ms_interleaved(runners, images, warmup=20, rounds=rounds, runs=runs)
    return {key: ms * 1000 for key, ms in medians.items()}


def row(cells: list[str]) -> str:
    return "".join(f"{cell:>12}" for cell in cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    columns = [f"{rt}:{impl}" for rt in RUNTIMES for impl in SHIFT_IMPLEMENTATIONS]
    header = ["C x H x W", "layers", *columns]
    print(f"microseconds per call (median), threads={args.threads}; * = fastest per runtime")
    for name in NETWORKS:
        print(f"\n{name}")
        print(row(header))
        totals: Counter = Counter()
        for shape, count in sorted(shift_shapes(name).items()):
            timings = time_shape(shape, args.threads, args.rounds, args.runs)
            totals.update({key: count * us for key, us in timings.items()})
            print(row(["x".join(map(str, shape)), str(count)] + marked(timings)))
        print(row(["total", ""] + marked(totals)))


def marked(timings: dict) -> list[str]:
    """The cells of one table row, the fastest implementation of each runtime starred."""
    cells = []
    for runtime in RUNTIMES:
        best = min(SHIFT_IMPLEMENTATIONS, key=lambda impl: timings[runtime, impl])
        cells += [
            f"{timings[runtime, impl]:.1f}{'*' if impl == best else ' '}"
            for impl in SHIFT_IMPLEMENTATIONS
        ]
    return cells


if __name__ == "__main__":
    main()
