"""One network's single-image benchmark in every configured runtime (``archopt.runtimes``).

Every runtime is timed on the same images and checked against eager PyTorch: the
reference logits come from the CPU model in batches with the default shift
implementation, each runtime's own logits must match them within ``atol``, and its
top-1/top-5 are computed from its own logits. Shift networks run with the shift
implementation that was fastest for that runtime on that device, picked here among ONNX
exports of each implementation; the exception is the runtime ``model.onnx`` is deployed
to (``Runtime.deploys_onnx``) on the CPU, which times ``model.onnx`` itself, whose
metadata records the choice made when it was exported.
"""

from __future__ import annotations

import copy
import json
import logging
import multiprocessing
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archopt.bench.env import check_threads, environment
from archopt.bench.stats import between_processes, latency_stats, topk_accuracy
from archopt.bench.timing import (
    Progress,
    fastest,
    load_timed,
    median_ms_interleaved,
    progress_logger,
    time_images,
)
from archopt.export import onnx_bytes, onnx_metadata, with_metadata
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, ChannelShift, set_shift_impl, uses_shift
from archopt.models.layers.shift import DEFAULT_SHIFT_IMPL
from archopt.plugins import load_plugins
from archopt.runtimes import (
    Runner,
    Runtime,
    check_runtime_names,
    deployed_runtime,
    get_runtime,
    list_runtimes,
)

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
    # Every registered runtime unless the config names some.
    runtimes: tuple[str, ...] = field(default_factory=lambda: tuple(list_runtimes()))
    atol: float = 1e-3
    # Timing goes on over the images (cycling) until both are reached (MLPerf single-stream).
    min_queries: int = 0
    min_duration_s: float = 0.0
    # Fresh processes per runtime; 1 = time in this process.
    repeats: int = 1
    # The config's plugins, imported in each fresh process so their runtimes exist there.
    plugins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_runtime_names(self.runtimes)
        if self.repeats < 1:
            raise ValueError(f"config key 'bench.repeats' must be at least 1, got {self.repeats}")


def configure_torch(threads: int) -> None:
    """The torch settings of every benchmark process."""
    torch.set_num_threads(threads)
    # Full float32 on GPUs too (no TF32 convolutions), so outputs stay comparable with the
    # CPU reference within bench.atol.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


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


def shift_impl_of(model: nn.Module) -> str | None:
    """The shift implementation ``model`` runs, None when it has no shift."""
    return next((m.impl for m in model.modules() if isinstance(m, ChannelShift)), None)


class OnnxExports:
    """ONNX files of one network in ``folder``, one per shift implementation.

    Each is exported on first use and shared by every runtime that reads it. The deployed
    file, when given, stands for the implementation its metadata records (for a network
    without a shift: for the network), so runtimes timing that implementation time it.
    """

    def __init__(self, example: np.ndarray, folder: Path, deployed: bytes | None = None) -> None:
        self._example = torch.from_numpy(example[:1])
        self._folder = folder
        self._paths: dict[str | None, str] = {}
        metadata = {} if deployed is None else onnx_metadata(deployed)
        self.deployed_impl: str | None = metadata.get(SHIFT_IMPL_KEY)
        self.deployed_timings: dict[str, float] = json.loads(metadata.get(SHIFT_TIMINGS_KEY, "{}"))
        self.deployed_path: str | None = None
        if deployed is not None:
            self.deployed_path = str(folder / "model.onnx")
            Path(self.deployed_path).write_bytes(deployed)
            self._paths[self.deployed_impl] = self.deployed_path

    def path(self, model: nn.Module) -> str:
        """The ONNX file of ``model`` as it is now (its shift implementation)."""
        impl = shift_impl_of(model)
        if impl not in self._paths:
            path = self._folder / f"{impl or 'network'}.onnx"
            path.write_bytes(onnx_bytes(model, self._example))
            self._paths[impl] = str(path)
        return self._paths[impl]


def runtime_loader(
    runtime: Runtime, exports: OnnxExports, device: str, threads: int
) -> Callable[[nn.Module], Runner]:
    """``make_runner`` for :func:`pick_shift_impl`: ``runtime`` loads a model and its export."""

    def make(model: nn.Module) -> Runner:
        # A copy: the probe switches ``model`` to the next implementation right after.
        return runtime.load(exports.path(model), copy.deepcopy(model), device, threads)

    return make


def deployable_onnx(model: nn.Module, example: np.ndarray, threads: int, warmup: int) -> bytes:
    """ONNX bytes of ``model`` with the shift implementation fastest on the CPU in the
    runtime it is deployed to (``Runtime.deploys_onnx``: ONNX Runtime).

    The choice and the probe timings go into the model's metadata, where the benchmark
    reads them back, so the deployed file is exactly the one that was benchmarked.
    """
    runtime = deployed_runtime()
    net = copy.deepcopy(model).eval()
    with tempfile.TemporaryDirectory(prefix="archopt-export-") as folder:
        exports = OnnxExports(example, Path(folder))
        make = runtime_loader(runtime, exports, "cpu", threads)
        impl, timings = pick_shift_impl(net, make, example, warmup)
        data = Path(exports.path(net)).read_bytes()
    if impl is None:
        return data
    log.info("%s CPU shift timings (ms): %s -> %s", runtime.name, timings, impl)
    return with_metadata(data, {SHIFT_IMPL_KEY: impl, SHIFT_TIMINGS_KEY: json.dumps(timings)})


@dataclass(frozen=True)
class Timed:
    """One process's timings of one runtime (picklable: it comes back from fresh processes)."""

    samples_ns: np.ndarray
    logits: np.ndarray
    load_ms: float
    first_ms: float


def time_runtime(
    runtime: Runtime,
    onnx_path: str,
    net: nn.Module,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
    progress: Progress | None = None,
) -> Timed:
    """Load ``runtime`` (timed), time its first inference, warm up, then time the queries."""
    run, load_ms, first_ms = load_timed(
        lambda: runtime.load(onnx_path, copy.deepcopy(net), device, settings.threads),
        images[:1],
        runtime.compiles_on_first_call,
    )
    samples, logits = time_images(
        run, images, settings.warmup, progress, settings.min_queries, settings.min_duration_s
    )
    return Timed(samples, logits, load_ms, first_ms)


def _time_in_this_process(
    name: str, onnx_path: str, net: nn.Module, images: np.ndarray, device: str,
    settings: BenchSettings,
) -> Timed:
    """What a fresh process runs: the job's torch settings and plugins, then the timing."""
    configure_torch(settings.threads)
    load_plugins(settings.plugins)
    return time_runtime(get_runtime(name), onnx_path, net, images, device, settings)


def time_in_fresh_processes(
    name: str, onnx_path: str, net: nn.Module, images: np.ndarray, device: str,
    settings: BenchSettings,
) -> list[Timed]:
    """``settings.repeats`` timings of runtime ``name``, each in a new process, one at a time.

    Spawned, not forked: a fork inherits CUDA and thread-pool state (and caches) that a
    fresh process would not have.
    """
    context = multiprocessing.get_context("spawn")
    runs = []
    for _ in range(settings.repeats):
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            runs.append(pool.submit(_time_in_this_process, name, onnx_path, net, images,
                                    device, settings).result())
    return runs


def summarize(
    runtime: str,
    runs: list[Timed],
    reference: np.ndarray,
    labels: np.ndarray | None,
    atol: float,
) -> dict[str, Any]:
    """Statistics of every query of every process, checked against the eager reference."""
    max_abs_diff = max(float(np.abs(run.logits - reference).max()) for run in runs)
    if not max_abs_diff <= atol:  # also catches NaN
        raise ValueError(
            f"{runtime}: outputs differ from eager PyTorch by up to {max_abs_diff:.3g}, more "
            f"than config key 'bench.atol' = {atol}"
        )
    logits = runs[0].logits
    accuracy = {} if labels is None else {
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
    }
    stats = latency_stats(np.concatenate([run.samples_ns for run in runs]))
    protocol = {
        "first_ms": float(np.median([run.first_ms for run in runs])),
        "load_ms": float(np.median([run.load_ms for run in runs])),
        "repeats": len(runs),
    }
    if len(runs) > 1:
        medians = [float(np.median(run.samples_ns)) / 1e6 for run in runs]
        protocol["between_processes"] = between_processes(medians)
        protocol["processes"] = [
            {"median_ms": median, "first_ms": run.first_ms, "load_ms": run.load_ms,
             "n": int(run.samples_ns.size)} for median, run in zip(medians, runs)
        ]
    return stats | protocol | accuracy | {"max_abs_diff": max_abs_diff, "atol": atol}


def _variant(
    runtime: Runtime,
    model: nn.Module,
    exports: OnnxExports,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
) -> tuple[nn.Module, str, str | None, dict[str, float]]:
    """The network ``runtime`` is timed with on ``device``: (model, its ONNX file, shift
    implementation, probe timings)."""
    net = copy.deepcopy(model)
    if runtime.deploys_onnx and device == "cpu" and exports.deployed_path is not None:
        # The deployed file as is: the benchmarked file is the one users get.
        if exports.deployed_impl is not None:
            set_shift_impl(net, exports.deployed_impl)
        return net, exports.deployed_path, exports.deployed_impl, exports.deployed_timings
    make = runtime_loader(runtime, exports, device, settings.threads)
    impl, timings = pick_shift_impl(net, make, images, settings.warmup)
    return net, exports.path(net), impl, timings


def _bench_runtime(
    runtime: Runtime,
    model: nn.Module,
    exports: OnnxExports,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
    progress: Progress,
) -> tuple[list[Timed], dict[str, Any]]:
    """Pick the shift implementation for ``runtime`` on ``device``, then time the queries."""
    net, onnx_path, impl, timings = _variant(runtime, model, exports, images, device, settings)
    if settings.repeats == 1:
        runs = [time_runtime(runtime, onnx_path, net, images, device, settings, progress)]
    else:
        runs = time_in_fresh_processes(runtime.name, onnx_path, net, images, device, settings)
    return runs, {"shift_impl": impl, "shift_impl_ms": timings} | runtime.details(device)


def benchmark(
    model: nn.Module,
    onnx_model: bytes,
    images: np.ndarray,
    labels: np.ndarray | None,
    device: str = "cpu",
    settings: BenchSettings | None = None,
    logger: logging.Logger = log,
) -> dict[str, Any]:
    """Benchmark ``model`` (CPU, eval) and its deployed ONNX export on ``images`` one at a time.

    ``images`` are normalized float32 (N, C, H, W), ``labels`` int (N,) for classifiers
    (top-1/top-5 from each runtime's own outputs) or None for generators, ``device`` a
    torch device (``cpu``, ``cuda:0``). Returns one object per configured runtime (every
    registered one by default) plus ``env``; a runtime that cannot run on the device says
    why in ``skipped``.
    """
    settings = settings or BenchSettings()
    check_threads(settings.threads)
    images = np.ascontiguousarray(images, dtype=np.float32)
    if len(images) < 2 or (labels is not None and len(images) != len(labels)):
        raise ValueError(
            f"need at least 2 images (with one label each for a classifier), got "
            f"{len(images)} images and {'no' if labels is None else len(labels)} labels"
        )
    reference = reference_logits(model, images)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="archopt-bench-") as folder:
        exports = OnnxExports(images, Path(folder), deployed=onnx_model)
        for name in settings.runtimes:
            runtime = get_runtime(name)
            reason = runtime.unavailable(device)
            if reason:
                logger.info("%s: skipped (%s)", name, reason)
                result[name] = {"skipped": reason}
                continue
            queries = max(len(images), settings.min_queries)
            progress = progress_logger(logger, name, queries)
            runs, extra = _bench_runtime(runtime, model, exports, images, device, settings, progress)
            summary = summarize(name, runs, reference, labels, settings.atol)
            result[name] = summary | extra
            logger.info("%s: median %.3f ms over %d queries (load %.0f ms, first %.2f ms)%s",
                        name, summary["median_ms"], summary["n"], summary["load_ms"],
                        summary["first_ms"], f", {summary['warning']}" if summary["warning"]
                        else "")
    cuda = device.startswith("cuda")
    result["env"] = environment(settings.threads, device if cuda else None)
    return result
