"""One network's single-image benchmark in eager PyTorch and ONNX Runtime.

Every runtime is timed on the same images and checked against eager PyTorch: the
reference logits come from the CPU model in batches with the default shift
implementation, each runtime's own logits must match them within ``atol``, and its
top-1/top-5 are computed from its own logits. Shift networks run with the shift
implementation that was fastest for that runtime (eager: picked here on the benchmark
device; ONNX Runtime on CPU: picked when ``model.onnx`` was exported and recorded in its
metadata; ONNX Runtime on CUDA: picked here among in-memory exports).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime
import torch
from torch import nn

from archopt.bench.env import environment
from archopt.bench.stats import latency_stats, topk_accuracy
from archopt.bench.timing import (
    Progress,
    Runner,
    eager_runner,
    fastest,
    median_ms_interleaved,
    ort_runner,
    progress_logger,
    time_images,
)
from archopt.export import onnx_bytes, onnx_metadata, ort_session, with_metadata
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, set_shift_impl, uses_shift
from archopt.models.layers.shift import DEFAULT_SHIFT_IMPL

RUNTIMES = ("eager", "onnxruntime")
DEVICES = ("cpu", "cuda")
SHIFT_IMPL_KEY = "archopt.shift_impl"
SHIFT_TIMINGS_KEY = "archopt.shift_impl_ms"
PROBE_IMAGES = 5  # images timed to pick the shift implementation
REFERENCE_BATCH = 256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchSettings:
    """How to benchmark (the ``bench`` config section plus the job's threads)."""

    threads: int = 1
    warmup: int = 10
    runtimes: tuple[str, ...] = RUNTIMES
    atol: float = 1e-3

    def __post_init__(self) -> None:
        unknown = set(self.runtimes) - set(RUNTIMES)
        if unknown:
            raise ValueError(
                f"config key 'bench.runtimes': unknown {sorted(unknown)}; expected {RUNTIMES}"
            )


def reference_logits(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Eager CPU logits in batches, with the default shift implementation."""
    set_shift_impl(model, DEFAULT_SHIFT_IMPL)
    model.eval()
    with torch.inference_mode():
        parts = [
            model(torch.from_numpy(images[start : start + REFERENCE_BATCH])).numpy()
            for start in range(0, len(images), REFERENCE_BATCH)
        ]
    return np.concatenate(parts)


def pick_shift_impl(
    model: nn.Module, make_runner: Callable[[nn.Module], Runner], images: np.ndarray, warmup: int
) -> tuple[str | None, dict[str, float]]:
    """Time every shift implementation through ``make_runner(model)``; keep the fastest.

    Returns ``(None, {})`` for a network without a shift. The model is left set to the
    chosen implementation.
    """
    if not uses_shift(model):
        return None, {}
    runners = {impl: make_runner(set_shift_impl(model, impl)) for impl in SHIFT_IMPLEMENTATIONS}
    timings = median_ms_interleaved(runners, images[:PROBE_IMAGES], warmup)
    chosen = fastest(timings)
    set_shift_impl(model, chosen)
    return chosen, timings


def ort_runner_factory(
    example: torch.Tensor, threads: int, cuda: bool = False
) -> Callable[[nn.Module], Runner]:
    """Export a model traced on ``example`` and wrap it in an ONNX Runtime runner."""

    def make(model: nn.Module) -> Runner:
        return ort_runner(ort_session(onnx_bytes(model, example), threads, cuda=cuda))

    return make


def deployable_onnx(model: nn.Module, example: np.ndarray, threads: int, warmup: int) -> bytes:
    """ONNX bytes of ``model`` with the shift implementation fastest in ONNX Runtime on CPU.

    The choice and the probe timings go into the model's metadata, where the benchmark
    reads them back, so the deployed file is exactly the one that was benchmarked.
    """
    make = ort_runner_factory(torch.from_numpy(example[:1]), threads)
    impl, timings = pick_shift_impl(model, make, example, warmup)
    data = onnx_bytes(model, torch.from_numpy(example[:1]))
    if impl is None:
        return data
    log.info("ONNX Runtime CPU shift timings (ms): %s -> %s", timings, impl)
    return with_metadata(data, {SHIFT_IMPL_KEY: impl, SHIFT_TIMINGS_KEY: json.dumps(timings)})


def _check_and_summarize(
    runtime: str,
    samples: np.ndarray,
    logits: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray | None,
    atol: float,
) -> dict[str, Any]:
    max_abs_diff = float(np.abs(logits - reference).max())
    if not max_abs_diff <= atol:  # also catches NaN
        raise ValueError(
            f"{runtime}: outputs differ from eager PyTorch by up to {max_abs_diff:.3g}, more "
            f"than config key 'bench.atol' = {atol}"
        )
    accuracy = {} if labels is None else {
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
    }
    return latency_stats(samples) | accuracy | {"max_abs_diff": max_abs_diff, "atol": atol}


def _bench_eager(
    model: nn.Module, images: np.ndarray, device: str, settings: BenchSettings, progress: Progress
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    impl, timings = pick_shift_impl(
        model, lambda net: eager_runner(net, device), images, settings.warmup
    )
    samples, logits = time_images(eager_runner(model, device), images, settings.warmup, progress)
    return samples, logits, {"shift_impl": impl, "shift_impl_ms": timings, "device": device}


def _bench_onnxruntime(
    model: nn.Module,
    onnx_model: bytes,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    cuda = device.startswith("cuda")
    metadata = onnx_metadata(onnx_model)
    impl = metadata.get(SHIFT_IMPL_KEY)
    timings = json.loads(metadata.get(SHIFT_TIMINGS_KEY, "{}"))
    if cuda and uses_shift(model):
        # model.onnx holds the CPU's fastest shift; the GPU gets its own pick.
        make = ort_runner_factory(torch.from_numpy(images[:1]), settings.threads, cuda=True)
        impl, timings = pick_shift_impl(model, make, images, settings.warmup)
        onnx_model = onnx_bytes(model, torch.from_numpy(images[:1]))
    session = ort_session(onnx_model, settings.threads, cuda=cuda)
    provider = session.get_providers()[0]
    if cuda and provider != "CUDAExecutionProvider":
        raise RuntimeError(f"ONNX Runtime fell back to {provider} instead of CUDA")
    samples, logits = time_images(ort_runner(session), images, settings.warmup, progress)
    return samples, logits, {"shift_impl": impl, "shift_impl_ms": timings, "provider": provider}


def ort_cuda_missing() -> str | None:
    """Why ONNX Runtime cannot use CUDA here, or None when it can."""
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return None
    return (
        f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider "
        "(install onnxruntime-gpu)"
    )


def benchmark(
    model: nn.Module,
    onnx_model: bytes,
    images: np.ndarray,
    labels: np.ndarray | None,
    device: str = "cpu",
    settings: BenchSettings = BenchSettings(),
    logger: logging.Logger = log,
) -> dict[str, Any]:
    """Benchmark ``model`` (CPU, eval) and its ONNX export on ``images`` one at a time.

    ``images`` are normalized float32 (N, C, H, W), ``labels`` int (N,) for classifiers
    (top-1/top-5 from each runtime's own outputs) or None for generators, ``device`` a
    torch device (``cpu``, ``cuda:0``). Returns one object per configured runtime plus
    ``env``; a runtime that cannot run on the device says why in ``skipped``.
    """
    images = np.ascontiguousarray(images, dtype=np.float32)
    if len(images) < 2 or (labels is not None and len(images) != len(labels)):
        raise ValueError(
            f"need at least 2 images (with one label each for a classifier), got "
            f"{len(images)} images and {'no' if labels is None else len(labels)} labels"
        )
    reference = reference_logits(model, images)
    cuda = device.startswith("cuda")
    result: dict[str, Any] = {}
    for runtime in settings.runtimes:
        missing = ort_cuda_missing() if runtime == "onnxruntime" and cuda else None
        if missing:
            result[runtime] = {"skipped": missing}
            continue
        progress = progress_logger(logger, runtime, len(images))
        if runtime == "eager":
            samples, logits, extra = _bench_eager(model, images, device, settings, progress)
        else:
            samples, logits, extra = _bench_onnxruntime(
                model, onnx_model, images, device, settings, progress
            )
        summary = _check_and_summarize(runtime, samples, logits, reference, labels, settings.atol)
        result[runtime] = summary | extra
        logger.info("%s: median %.3f ms over %d images", runtime, summary["median_ms"], len(images))
    result["env"] = environment(settings.threads, device if cuda else None)
    return result
