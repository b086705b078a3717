"""One network's single-image benchmark in every configured runtime (``archopt.runtimes``).

Every runtime is timed on the same images and checked against eager PyTorch: the
reference logits come from the CPU model in batches with the reference implementation
of each technique's layers, each runtime's own logits must match them within ``atol``,
and its top-1/top-5 are computed from its own logits. A network using a technique whose
layers have several implementations runs with the one that was fastest for that runtime
on that device (:mod:`archopt.bench.implementations`), picked here among ONNX exports of
each; the exception is the runtime ``model.onnx`` is deployed to
(``Runtime.deploys_onnx``) on the CPU, which times ``model.onnx`` itself, whose metadata
records the choice made when it was exported.

Runtimes run in one worker process per job (:mod:`archopt.bench.worker`), the probe and
the timing alike: one that raises, dies in native code, or disagrees with eager PyTorch
gets ``{"failed": reason}`` (one that cannot run on the device ``{"skipped": reason}``)
and the others keep their timings.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archopt.bench.env import check_threads, environment, registered_runtimes
from archopt.bench.implementations import (
    ProbeTimings,
    Variant,
    as_metadata,
    from_metadata,
    pick_implementations,
    result_fields,
    set_reference,
    set_variant,
    variant_file_stem,
    variant_of,
)
from archopt.bench.settings import BenchSettings
from archopt.bench.stats import between_processes, latency_stats, topk_accuracy
from archopt.bench.timing import (
    JITTER_REFERENCE,
    JITTER_SECONDS,
    Progress,
    load_timed,
    machine_jitter,
    progress_logger,
    time_images,
)
from archopt.bench.worker import RuntimeFailure, Worker, describe
from archopt.export import onnx_bytes, onnx_metadata, with_metadata
from archopt.io import atomic_path
from archopt.plugins import load_plugins
from archopt.runtimes import Runner, Runtime, deployed_runtime, get_runtime

DEVICES = ("cpu", "cuda")
REFERENCE_BATCH = 256

log = logging.getLogger(__name__)


def configure_torch(threads: int) -> None:
    """The torch settings of every benchmark process."""
    torch.set_num_threads(threads)
    # Full float32 on GPUs too (no TF32 convolutions), so outputs stay comparable with the
    # CPU reference within bench.atol.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def reference_logits(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Eager CPU logits in batches, with the reference implementation of each technique."""
    set_reference(model)
    model.eval()
    with torch.inference_mode():
        parts = [
            model(torch.from_numpy(images[start : start + REFERENCE_BATCH])).numpy()
            for start in range(0, len(images), REFERENCE_BATCH)
        ]
    return np.concatenate(parts)


class OnnxExports:
    """ONNX files of one network in ``folder``, one per variant (the implementation of
    each technique it uses that has several; :mod:`archopt.bench.implementations`).

    Each is exported on first use and shared by every runtime that reads it. The deployed
    file, when given, stands for the variant its metadata records (for a network with
    nothing to choose: for the network), so runtimes timing that variant time it.
    """

    def __init__(self, example: np.ndarray, folder: Path, deployed: bytes | None = None) -> None:
        self._example = torch.from_numpy(example[:1])
        self._folder = folder
        self._paths: dict[tuple[tuple[str, str], ...], str] = {}
        metadata = {} if deployed is None else onnx_metadata(deployed)
        self.deployed_variant, self.deployed_timings = from_metadata(metadata)
        self.deployed_path: str | None = None
        if deployed is not None:
            self.deployed_path = str(folder / "model.onnx")
            Path(self.deployed_path).write_bytes(deployed)
            self._paths[_key(self.deployed_variant)] = self.deployed_path

    def path(self, model: nn.Module) -> str:
        """The ONNX file of ``model`` as it is now (its variant).

        Worker processes get copies of this object: a file one of them exported (written
        atomically) is found on disk by the next."""
        variant = variant_of(model)
        key = _key(variant)
        if key not in self._paths:
            path = self._folder / f"{variant_file_stem(variant)}.onnx"
            if not path.exists():
                with atomic_path(path) as tmp:
                    tmp.write_bytes(onnx_bytes(model, self._example))
            self._paths[key] = str(path)
        return self._paths[key]


def _key(variant: Variant) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(variant.items()))


def runtime_loader(
    runtime: Runtime, exports: OnnxExports, device: str, threads: int
) -> Callable[[nn.Module], Runner]:
    """``make_runner`` for :func:`~archopt.bench.implementations.pick_implementations`:
    ``runtime`` loads a model and its export."""

    def make(model: nn.Module) -> Runner:
        # A copy: the probe switches ``model`` to the next implementation right after.
        return runtime.load(exports.path(model), copy.deepcopy(model), device, threads)

    return make


def deployable_onnx(model: nn.Module, example: np.ndarray, threads: int, warmup: int) -> bytes:
    """ONNX bytes of ``model`` with the implementations fastest on the CPU in the
    runtime it is deployed to (``Runtime.deploys_onnx``: ONNX Runtime).

    The choice and the probe timings go into the model's metadata, where the benchmark
    reads them back, so the deployed file is exactly the one that was benchmarked.
    """
    runtime = deployed_runtime()
    net = copy.deepcopy(model).eval()
    with tempfile.TemporaryDirectory(prefix="archopt-export-") as folder:
        exports = OnnxExports(example, Path(folder))
        make = runtime_loader(runtime, exports, "cpu", threads)
        variant, timings = pick_implementations(net, make, example, warmup)
        data = Path(exports.path(net)).read_bytes()
    if not variant:
        return data
    log.info("%s CPU implementation timings (ms): %s -> %s", runtime.name, timings, variant)
    return with_metadata(data, as_metadata(variant, timings))


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


def worker_setup(threads: int, plugins: tuple[str, ...]) -> None:
    """What a worker process runs first: the job's torch settings and plugins."""
    configure_torch(threads)
    load_plugins(plugins)


def bench_worker(settings: BenchSettings, logger: logging.Logger = log) -> Worker:
    """A worker process for the runtimes of one job (see :mod:`archopt.bench.worker`)."""
    return Worker(worker_setup, (settings.threads, settings.plugins), logger)


def probe_variant(
    runtime: Runtime, model: nn.Module, exports: OnnxExports, images: np.ndarray, device: str,
    settings: BenchSettings,
) -> tuple[str, Variant, ProbeTimings]:
    """In a worker: (ONNX file, variant, probe timings) ``runtime`` is timed with on
    ``device``."""
    _, onnx_path, variant, timings = _variant(runtime, model, exports, images, device, settings)
    return onnx_path, variant, timings


def timed_run(
    runtime: Runtime, onnx_path: str, net: nn.Module, images: np.ndarray, device: str,
    settings: BenchSettings,
) -> tuple[Timed, dict[str, Any]]:
    """In a worker: one process's timings of ``runtime``, and its details after the load
    (a runtime may learn them while loading, e.g. whether inductor could freeze)."""
    progress = progress_logger(log, runtime.name, max(len(images), settings.min_queries))
    timed = time_runtime(runtime, onnx_path, net, images, device, settings, progress)
    return timed, runtime.details(device)


def max_abs_diff(runs: list[Timed], reference: np.ndarray) -> float:
    return max(float(np.abs(run.logits - reference).max()) for run in runs)


def summarize(
    runs: list[Timed],
    reference: np.ndarray,
    labels: np.ndarray | None,
    atol: float,
) -> dict[str, Any]:
    """Statistics of every query of every process, with their distance to the eager reference."""
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
    return stats | protocol | accuracy | {"max_abs_diff": max_abs_diff(runs, reference),
                                          "atol": atol}


def _variant(
    runtime: Runtime,
    model: nn.Module,
    exports: OnnxExports,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
) -> tuple[nn.Module, str, Variant, ProbeTimings]:
    """The network ``runtime`` is timed with on ``device``: (model, its ONNX file, its
    variant, probe timings)."""
    net = copy.deepcopy(model)
    if runtime.deploys_onnx and device == "cpu" and exports.deployed_path is not None:
        # The deployed file as is: the benchmarked file is the one users get.
        set_variant(net, exports.deployed_variant)
        return net, exports.deployed_path, exports.deployed_variant, exports.deployed_timings
    make = runtime_loader(runtime, exports, device, settings.threads)
    variant, timings = pick_implementations(net, make, images, settings.warmup)
    return net, exports.path(net), variant, timings


def _bench_runtime(
    worker: Worker,
    runtime: Runtime,
    model: nn.Module,
    exports: OnnxExports,
    images: np.ndarray,
    device: str,
    settings: BenchSettings,
) -> tuple[list[Timed], dict[str, Any]]:
    """Pick the implementations for ``runtime`` on ``device``, then time the queries:
    in ``worker``, or with ``bench.repeats`` > 1 in as many fresh processes.

    Raises :class:`RuntimeFailure` when the runtime raises or its process dies."""
    onnx_path, variant, timings = worker.call(
        probe_variant, runtime, model, exports, images, device, settings)
    net = set_variant(copy.deepcopy(model), variant)
    args = (runtime, onnx_path, net, images, device, settings)
    if settings.repeats == 1:
        measured = [worker.call(timed_run, *args)]
    else:
        measured = []
        for _ in range(settings.repeats):
            with bench_worker(settings, worker.logger) as fresh:
                measured.append(fresh.call(timed_run, *args))
    runs = [timed for timed, _ in measured]
    return runs, result_fields(variant, timings) | measured[-1][1]


def runtime_unavailable(runtime: Runtime, device: str) -> str | None:
    """In a worker: ``runtime.unavailable(device)``, which may import its library or open a
    session to check (this process then imports none of them)."""
    return runtime.unavailable(device)


def worker_environment(worker: Worker, threads: int, cuda_device: str | None) -> dict[str, Any]:
    """The ``env`` record, asked of the worker, which has imported the runtimes' libraries;
    from this process where the worker cannot answer."""
    runtimes = registered_runtimes()
    try:
        return worker.call(environment, threads, cuda_device, runtimes)
    except RuntimeFailure:
        return environment(threads, cuda_device, runtimes)


def worker_jitter(worker: Worker) -> dict[str, float] | None:
    """The machine's own jitter where the runtimes are timed (the worker); None where the
    worker cannot answer."""
    try:
        return worker.call(machine_jitter)
    except RuntimeFailure:
        return None


def jitter_record(windows: list[dict[str, float] | None]) -> dict[str, Any]:
    """A bench file's ``jitter``: the reference computation timed before and after the
    runtimes, so a reader can tell the machine's noise from a runtime's."""
    return {"reference": JITTER_REFERENCE, "seconds": JITTER_SECONDS,
            "windows": [window for window in windows if window is not None]}


def failed(logger: logging.Logger, runtime: str, reason: str) -> dict[str, str]:
    """A runtime's entry when it failed: the others' timings are kept."""
    logger.warning("%s: failed (%s)", runtime, reason)
    return {"failed": reason}


def bench_one(
    worker: Worker,
    runtime: Runtime,
    model: nn.Module,
    exports: OnnxExports,
    images: np.ndarray,
    labels: np.ndarray | None,
    reference: np.ndarray,
    device: str,
    settings: BenchSettings,
) -> dict[str, Any]:
    """One runtime's entry of a bench JSON: its statistics, ``{"skipped": reason}`` where
    it cannot run on ``device``, or ``{"failed": reason}`` where it raised, its process
    died, or its outputs differ from eager PyTorch by more than ``bench.atol``."""
    logger, name = worker.logger, runtime.name
    try:
        reason = worker.call(runtime_unavailable, runtime, device)
        if not reason:
            runs, extra = _bench_runtime(worker, runtime, model, exports, images, device,
                                         settings)
    except Exception as error:  # noqa: BLE001 - a runtime's failure is its result only
        why = str(error) if isinstance(error, RuntimeFailure) else describe(error)
        return failed(logger, name, why)
    if reason:
        logger.info("%s: skipped (%s)", name, reason)
        return {"skipped": reason}
    summary = summarize(runs, reference, labels, settings.atol)
    if not summary["max_abs_diff"] <= settings.atol:  # also catches NaN
        return failed(logger, name, f"outputs differ from eager PyTorch by up to "
                      f"{summary['max_abs_diff']:.3g}, more than config key 'bench.atol' = "
                      f"{settings.atol}")
    logger.info("%s: median %.3f ms over %d queries (load %.0f ms, first %.2f ms)%s",
                name, summary["median_ms"], summary["n"], summary["load_ms"],
                summary["first_ms"], f", {summary['warning']}" if summary["warning"] else "")
    return summary | extra | settings.protocol()


def benchmark(
    model: nn.Module,
    onnx_model: bytes,
    images: np.ndarray,
    labels: np.ndarray | None,
    device: str = "cpu",
    settings: BenchSettings | None = None,
    logger: logging.Logger = log,
    worker: Worker | None = None,
) -> dict[str, Any]:
    """Benchmark ``model`` (CPU, eval) and its deployed ONNX export on ``images`` one at a time.

    ``images`` are normalized float32 (N, C, H, W), ``labels`` int (N,) for classifiers
    (top-1/top-5 from each runtime's own outputs) or None for generators, ``device`` a
    torch device (``cpu``, ``cuda:0``). Returns one object per configured runtime (every
    registered one by default) plus ``env``; a runtime that cannot run on the device says
    why in ``skipped``, one that fails (raises, crashes, or disagrees with eager) in
    ``failed``, and the others keep their timings. The runtimes run in ``worker``
    (:func:`bench_worker`; one of its own when None), a process of their own.
    """
    settings = settings or BenchSettings()
    check_threads(settings.threads)
    images = np.ascontiguousarray(images, dtype=np.float32)
    if len(images) < 2 or (labels is not None and len(images) != len(labels)):
        raise ValueError(
            f"need at least 2 images (with one label each for a classifier), got "
            f"{len(images)} images and {'no' if labels is None else len(labels)} labels"
        )
    result: dict[str, Any] = {}
    with (tempfile.TemporaryDirectory(prefix="archopt-bench-") as folder,
          contextlib.ExitStack() as stack):
        if worker is None:
            worker = stack.enter_context(bench_worker(settings, logger).start())
        reference = reference_logits(model, images)  # while the worker starts
        exports = OnnxExports(images, Path(folder), deployed=onnx_model)
        before = worker_jitter(worker)
        for name in settings.runtimes:
            result[name] = bench_one(worker, get_runtime(name), model, exports, images, labels,
                                     reference, device, settings)
        result["jitter"] = jitter_record([before, worker_jitter(worker)])
        cuda = device.startswith("cuda")
        result["env"] = worker_environment(worker, settings.threads, device if cuda else None)
    return result
