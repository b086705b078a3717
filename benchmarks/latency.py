"""ResNet20 x {base, DSC, Shift, Shuffle}: single-image latency in every registered runtime.

Prints, from one run, the median latency of each network in each runtime (one CPU thread
by default), each runtime's ratio to the fastest runtime for that network, and each
network's ratio to its base (ResNet20) per runtime: the table behind the question of
whether a technique lowers latency, asked runtime by runtime.

Every (network, runtime) runner is built by the runtime's own ``load`` with the shift
implementation fastest for it (picked as the bench rule picks it), compiled before any
timing; the runners are interleaved in every round so machine load hits all alike, and
the median over rounds is reported. Weights are random (latency does not depend on them).
A runtime that cannot run here is listed with its reason.

    python benchmarks/latency.py [--threads 1] [--rounds 7] [--runs 100] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from archopt.bench.benchmark import OnnxExports, configure_torch, runtime_loader
from archopt.bench.implementations import pick_implementations
from archopt.bench.timing import median_ms_interleaved
from archopt.models import get_model
from archopt.runtimes import get_runtime, list_runtimes

NETWORKS = ("resnet20", "resnet20-dsc", "resnet20-shift", "resnet20-shuffle")


def build_runners(runtimes: list[str], device: str, threads: int, images: np.ndarray,
                  folder: Path) -> tuple[dict, dict]:
    """One runner per (network, runtime), and the shift implementation each one uses."""
    runners, impls = {}, {}
    for name in NETWORKS:
        model = get_model(name, "cifar10").eval()
        (folder / name).mkdir()
        exports = OnnxExports(images, folder / name)
        for runtime in runtimes:
            make = runtime_loader(get_runtime(runtime), exports, device, threads)
            variant, _ = pick_implementations(model, make, images, warmup=10)
            impls[name, runtime] = variant.get("shift")
            runners[name, runtime] = make(model)
    return runners, impls


def print_table(rounds: list[dict], runtimes: list[str], impls: dict) -> None:
    medians = {key: float(np.median([r[key] for r in rounds])) for key in rounds[0]}
    width = max(17, *(len(r) + 3 for r in runtimes))  # "12.345 (12.34x)" and a gap
    print(f"{'network':<18}" + "".join(f"{r:>{width}}" for r in runtimes) + "   fastest")
    for name in NETWORKS:
        row = {r: medians[name, r] for r in runtimes}
        best = min(row, key=row.__getitem__)
        cells = "".join(f"{f'{row[r]:.3f} ({row[r] / row[best]:.2f}x)':>{width}}" for r in runtimes)
        print(f"{name:<18}{cells}   {best}")
    print("\nratio to ResNet20 in the same runtime (below 1 = the technique lowers latency)")
    for name in NETWORKS[1:]:
        cells = "".join(f"{medians[name, r] / medians['resnet20', r]:>{width}.2f}"
                        for r in runtimes)
        print(f"{name:<18}{cells}")
    print("\nshift implementation per runtime: " + ", ".join(
        f"{r} {impls['resnet20-shift', r]}" for r in runtimes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=100, help="timed calls per runner and round")
    parser.add_argument("--device", default="cpu", help="torch device string: cpu, cuda:0")
    args = parser.parse_args()
    configure_torch(args.threads)
    runtimes = []
    for name in list_runtimes():
        reason = get_runtime(name).unavailable(args.device)
        if reason:
            print(f"{name}: skipped ({reason})")
        else:
            runtimes.append(name)
    images = np.random.default_rng(0).standard_normal((16, 3, 32, 32), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="archopt-latency-") as folder:
        runners, impls = build_runners(runtimes, args.device, args.threads, images, Path(folder))
        for run in runners.values():  # compiles (inductor) before any timing
            run(images[:1])
        rounds = [
            median_ms_interleaved(runners, images, warmup=10 if r == 0 else 0, rounds=1,
                                  runs=args.runs)
            for r in range(args.rounds)
        ]
    print(f"device={args.device} threads={args.threads} rounds={args.rounds} "
          f"runs/round={args.runs}; median ms (ratio to the fastest runtime)")
    print_table(rounds, runtimes, impls)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
