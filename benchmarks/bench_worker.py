"""What timing runtimes in a worker process costs a bench job (``archopt.bench.worker``).

Runs one network's benchmark twice, each as a job would, in a fresh Python process of its
own (imports included): once through ``benchmark()`` (every runtime in the job's worker
process, as the bench and post-training stages run them), once with the same probe and
timing done in that process itself (what a bench job did before runtimes were isolated).
Prints, from one run, each one's wall and CPU time (the process and its children), the
difference (the worker's cost per job: a second Python start with torch, the network and
images sent over a pipe) and the ratio. CPU time is the figure to trust on a shared
machine; on an idle one the worker's start overlaps the job's own loading. Defaults: the
quick preset's protocol (ResNet20-Shift, 200 images, 200 queries, 1 s at least).

    python benchmarks/bench_worker.py [--network resnet20-shift] [--images 200]
        [--runtimes eager onnxruntime] [--min-duration-s 1]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def job(mode: str, args: argparse.Namespace) -> None:
    """One bench job's work, in this process (``here``) or through ``benchmark()``."""
    import torch

    from archopt.bench import BenchSettings
    from archopt.bench.benchmark import (
        OnnxExports,
        _variant,
        benchmark,
        configure_torch,
        reference_logits,
        time_runtime,
    )
    from archopt.bench.env import environment
    from archopt.models import get_model
    from archopt.runtimes import get_runtime

    settings = BenchSettings(runtimes=tuple(args.runtimes), min_queries=args.images,
                             min_duration_s=args.min_duration_s)
    configure_torch(settings.threads)
    torch.manual_seed(0)
    model = get_model(args.network, "cifar10").eval()
    images = np.random.default_rng(0).standard_normal((args.images, 3, 32, 32), dtype=np.float32)
    onnx = Path(args.onnx).read_bytes()
    if mode == "worker":
        benchmark(model, onnx, images, np.zeros(args.images, dtype=np.int64), "cpu", settings)
        return
    reference_logits(model, images)
    with tempfile.TemporaryDirectory() as folder:
        exports = OnnxExports(images, Path(folder), deployed=onnx)
        for name in settings.runtimes:
            runtime = get_runtime(name)
            net, path, _, _ = _variant(runtime, model, exports, images, "cpu", settings)
            time_runtime(runtime, path, net, images, "cpu", settings)
    environment(settings.threads)  # as benchmark() records it


def measured(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of it and its children) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="resnet20-shift")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runtimes", nargs="+", default=["eager", "onnxruntime"])
    parser.add_argument("--min-duration-s", type=float, default=1.0)
    parser.add_argument("--mode", choices=["here", "worker"], help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        job(args.mode, args)
        return
    import torch

    from archopt.bench.benchmark import deployable_onnx
    from archopt.models import get_model

    torch.manual_seed(0)
    model = get_model(args.network, "cifar10").eval()
    probes = np.random.default_rng(0).standard_normal((5, 3, 32, 32), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        onnx = Path(folder) / "model.onnx"
        onnx.write_bytes(deployable_onnx(model, probes, threads=1, warmup=10))
        base = [sys.executable, __file__, "--network", args.network, "--images",
                str(args.images), "--min-duration-s", str(args.min_duration_s), "--onnx",
                str(onnx), "--runtimes", *args.runtimes]
        here = measured([*base, "--mode", "here"])
        isolated = measured([*base, "--mode", "worker"])
    print(f"{args.network}, {args.images} images, runtimes {', '.join(args.runtimes)}; "
          "one job each, imports included")
    for what, index in (("wall", 0), ("CPU", 1)):
        print(f"{what}: in the job's process {here[index]:.2f} s, in a worker process "
              f"{isolated[index]:.2f} s: {isolated[index] - here[index]:+.2f} s per job "
              f"(ratio {isolated[index] / here[index]:.2f})")


if __name__ == "__main__":
    main()
