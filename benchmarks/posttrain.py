"""ResNet20 x {base, DSC, Shift, Shuffle}: fp32 vs every int8 recipe, in every runtime
that reads the quantized ONNX file (``posttrain.int8_runtimes`` that are registered here).

Prints, from one run, the median single-image latency of the fp32 export (the study's
deployable file: shift implementation fastest in ONNX Runtime) and of each int8 recipe
(archopt.posttrain.int8.quantize: BN folded, per-channel weights, min/max calibration) per
runtime, with the int8/fp32 ratio (below 1 = quantization pays off). All candidates of a
runtime are interleaved image by image, as the int8 job times them. Weights are random
and calibration images are Gaussian noise: latency depends on neither, accuracy is not
measured here (the workflow measures it on real data).

    python benchmarks/posttrain.py [--threads 1] [--images 300] [--runtimes onnxruntime openvino]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from archopt.bench.benchmark import deployable_onnx
from archopt.bench.settings import BenchSettings
from archopt.bench.stats import latency_stats
from archopt.models import get_model
from archopt.posttrain.int8.quantize import FP32, RECIPES, load_runners, preprocess, quantize
from archopt.posttrain.measure import time_interleaved
from archopt.runtimes import get_runtime, list_runtimes

NETWORKS = ("resnet20", "resnet20-dsc", "resnet20-shift", "resnet20-shuffle")
WARMUP = 20


def recipe_files(name: str, folder: Path, images: np.ndarray, threads: int) -> dict[str, Path]:
    """fp32.onnx and one file per recipe for network ``name`` (random weights)."""
    model = get_model(name, "cifar10").eval()
    files = {FP32: folder / f"{name}-fp32.onnx"}
    files[FP32].write_bytes(deployable_onnx(model, images[:5], threads, WARMUP))
    pre = folder / f"{name}-pre.onnx"
    preprocess(files[FP32], pre)
    for recipe in RECIPES.values():
        files[recipe.name] = folder / f"{name}-{recipe.name}.onnx"
        quantize(pre, recipe, images[:64], files[recipe.name])
    return files


def measure(runtime: str, files: dict[str, Path], images: np.ndarray, threads: int
            ) -> dict[str, float | str]:
    """Median ms per file in ``runtime`` (interleaved), or the error of a file it cannot run."""
    model = get_model("resnet20", "cifar10").eval()  # unused by runtimes reading ONNX
    runners, errors = load_runners(get_runtime(runtime), files, model, images[:1], threads)
    timed = time_interleaved(runners, images, BenchSettings(warmup=WARMUP))
    return {key: float(latency_stats(samples)["median_ms"]) for key, (samples, _) in timed.items()
            } | {key: f"failed: {why}" for key, why in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--runtimes", nargs="+", default=["onnxruntime", "openvino"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = np.random.default_rng(0).standard_normal((args.images, 3, 32, 32), dtype=np.float32)
    runtimes = []
    for name in args.runtimes:
        reason = ("not registered" if name not in list_runtimes()
                  else get_runtime(name).unavailable("cpu"))
        if reason:
            print(f"# {name}: skipped ({reason})")
        else:
            runtimes.append(name)
    print(f"# batch 1, {args.threads} thread(s), {args.images} images, median ms; "
          "ratio = int8 / fp32 in the same runtime")
    print(f"{'network':<18} {'runtime':<12} {'recipe':<12} {'median ms':>10} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="archopt-posttrain-bench-") as tmp:
        for name in NETWORKS:
            files = recipe_files(name, Path(tmp), images, args.threads)
            for runtime in runtimes:
                timings = measure(runtime, files, images, args.threads)
                fp32 = timings[FP32]
                for key, value in timings.items():
                    if isinstance(value, str):
                        print(f"{name:<18} {runtime:<12} {key:<12} {value}")
                        continue
                    ratio = value / fp32 if isinstance(fp32, float) else float("nan")
                    print(f"{name:<18} {runtime:<12} {key:<12} {value:>10.3f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
