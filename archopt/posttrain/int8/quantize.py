"""Static int8 post-training quantization of a network's ONNX export, recipe by recipe.

The fp32 reference is the study's own deployable export
(``results/bench/{dataset}/{model}/model.onnx``). It is pre-processed once
(``onnxruntime.quantization.quant_pre_process``: shape inference and ONNX Runtime's graph
optimizations, which fold every batch norm that follows a convolution into it), then
quantized by each recipe with per-channel weights and activation ranges calibrated
(min/max) on images of the *training* split only, drawn with a fixed seed. Every recipe
and the fp32 file run in every runtime of ``posttrain.int8_runtimes`` on the evaluation
images (the test set, or its first ``bench.images``), interleaved image by image; each
runtime keeps its fastest recipe whose top-1 is at most ``posttrain.int8_max_drop``
points below fp32's in that runtime (none qualifies: the most accurate one, marked
``within_tolerance: false``).

Timing follows the bench stage's protocol (:class:`~archopt.bench.settings.BenchSettings`:
warm-up, ``min_queries``, ``min_duration_s``, ``repeats`` in fresh processes), in a worker
process (:mod:`archopt.bench.worker`): a runtime that fails, or dies in native code, gets
``{"failed": reason}`` in ``cpu.json`` while the others keep their results, and a recipe
file whose load kills the worker is that recipe's error, the others timed again without it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnxruntime import quantization as ortq

from archopt.bench.benchmark import bench_worker
from archopt.bench.env import environment
from archopt.bench.jobs import benchmark_images
from archopt.bench.settings import BenchSettings
from archopt.bench.stats import between_processes
from archopt.bench.worker import RuntimeFailure, Worker, WorkerCrashed
from archopt.data import normalize, split_train_val
from archopt.datasets import get_dataset
from archopt.io import atomic_dir, atomic_path, write_json_atomic
from archopt.models import count_params
from archopt.posttrain.jobs import PostTrainJob, accuracy_record, write_summary
from archopt.posttrain.measure import candidate_result, time_interleaved
from archopt.runtimes import Runtime, deployed_runtime, get_runtime, list_runtimes
from archopt.train.checkpoint import first_line, load_weights
from archopt.train.jobs import data_root

FP32 = "fp32"
CALIBRATION_SEED = 0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """One way of quantizing with ``onnxruntime.quantization.quantize_static``."""

    name: str
    quant_format: str  # QDQ | QOperator
    activation: str  # QInt8 | QUInt8
    weight: str
    reduce_range: bool
    description: str


RECIPES = {recipe.name: recipe for recipe in (
    Recipe("qdq_s8s8", "QDQ", "QInt8", "QInt8", False,
           "QDQ, signed int8 activations and weights, per-channel"),
    # reduce_range: 7-bit weights, so that u8 x s8 products cannot saturate the 16-bit
    # accumulators of AVX2 kernels without VNNI.
    Recipe("qdq_u8s8_rr", "QDQ", "QUInt8", "QInt8", True,
           "QDQ, unsigned int8 activations, signed 7-bit weights (reduce_range), per-channel"),
    Recipe("qop_u8s8_rr", "QOperator", "QUInt8", "QInt8", True,
           "QOperator (QLinearConv), u8 activations, 7-bit s8 weights, per-channel"),
)}


def calibration_indices(train_images: int, count: int, seed: int = CALIBRATION_SEED
                        ) -> np.ndarray:
    """``count`` distinct indices (sorted) into the training part of the training split;
    all of them when it holds fewer (a small study calibrates on what it trained on)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(train_images, size=min(count, train_images), replace=False))


def calibration_images(job: PostTrainJob) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the official training set, normalized images): training part only.

    The training part of ``split_train_val`` is a prefix of the official training set, so
    its indices are the official ones; the validation and test images are never read.
    """
    train = get_dataset(job.dataset).read(data_root(job.data_marker)).train
    part, _ = split_train_val(train, job.settings.val_size, job.settings.train_subset)
    indices = calibration_indices(len(part), job.settings.calibration_images)
    images = normalize(part.images[torch.from_numpy(indices)], job.dataset).numpy()
    return indices, np.ascontiguousarray(images)


class ImageReader(ortq.CalibrationDataReader):
    """Feeds calibration images one at a time (the export has a fixed batch of one)."""

    def __init__(self, images: np.ndarray, input_name: str) -> None:
        self._batches = iter([{input_name: images[i : i + 1]} for i in range(len(images))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def count_ops(path: Path, op_type: str) -> int:
    return sum(node.op_type == op_type for node in onnx.load(str(path)).graph.node)


def preprocess(fp32: Path, out: Path) -> None:
    """Shape inference and graph optimization (batch-norm folding) before quantization."""
    ortq.quant_pre_process(str(fp32), str(out), skip_optimization=False)


def quantize(pre: Path, recipe: Recipe, images: np.ndarray, out: Path) -> None:
    input_name = onnx.load(str(pre)).graph.input[0].name
    ortq.quantize_static(
        str(pre), str(out), ImageReader(images, input_name),
        quant_format=ortq.QuantFormat[recipe.quant_format],
        per_channel=True,
        reduce_range=recipe.reduce_range,
        activation_type=ortq.QuantType[recipe.activation],
        weight_type=ortq.QuantType[recipe.weight],
        calibrate_method=ortq.CalibrationMethod.MinMax,
    )


def choose_recipe(results: Mapping[str, Mapping[str, Any]], fp32_top1: float, max_drop: float
                  ) -> tuple[str, bool]:
    """(recipe, within tolerance): the fastest (median) recipe whose top-1 is at most
    ``max_drop`` points below ``fp32_top1``; failing that, the most accurate one."""
    usable = {name: r for name, r in results.items() if "error" not in r}
    if not usable:
        raise ValueError("no int8 recipe could be quantized and run")
    within = [name for name, r in usable.items() if fp32_top1 - r["top1"] <= max_drop]
    if within:
        return min(within, key=lambda name: usable[name]["median_ms"]), True
    return max(usable, key=lambda name: (usable[name]["top1"], -usable[name]["median_ms"])), False


def loading(runtime: Runtime, key: str) -> str:
    """The log line before ``runtime`` loads ``key``: a worker's crash right after it names
    the file that crashed it."""
    return f"{runtime.name}: loading {key}"


def load_runners(runtime: Runtime, files: Mapping[str, Path], model: torch.nn.Module,
                 example: np.ndarray, threads: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Runners of every file the runtime can load and run; the others' errors by key."""
    runners, errors = {}, {}
    for key, path in files.items():
        log.info("%s", loading(runtime, key))
        try:
            run = runtime.load(str(path), model, "cpu", threads)
            run(example)  # a runtime may accept a graph at load and fail on the first call
        except Exception as error:  # noqa: BLE001 - an unsupported operator is a result
            errors[key] = f"{type(error).__name__}: {first_line(error)}"
            continue
        runners[key] = run
    return runners, errors


Measured = tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str]]


def measure_once(runtime: Runtime, files: Mapping[str, Path], model: torch.nn.Module,
                 images: np.ndarray, settings: BenchSettings) -> Measured:
    """In a worker process: every file ``runtime`` can run, timed interleaved with the
    bench protocol: ((nanoseconds, outputs) by key, load errors by key)."""
    runners, errors = load_runners(runtime, files, model, images[:1], settings.threads)
    if FP32 not in runners:
        raise RuntimeError(f"{runtime.name} cannot run the fp32 export: {errors[FP32]}")
    # Past the loads: a crash from here on is the runtime's, not one file's.
    log.info("%s: timing %s", runtime.name, ", ".join(runners))
    measured = time_interleaved(runners, images, settings)
    return measured, errors


def measure_repeats(worker: Worker, runtime: Runtime, files: Mapping[str, Path],
                    model: torch.nn.Module, images: np.ndarray, settings: BenchSettings
                    ) -> list[Measured]:
    """``bench.repeats`` measurements: in ``worker``, or each in a fresh process."""
    args = (runtime, files, model, images, settings)
    if settings.repeats == 1:
        return [worker.call(measure_once, *args)]
    runs = []
    for _ in range(settings.repeats):
        with bench_worker(settings, worker.logger) as fresh:
            runs.append(fresh.call(measure_once, *args))
    return runs


def measure_runtime(worker: Worker, runtime: Runtime, files: Mapping[str, Path],
                    model: torch.nn.Module, images: np.ndarray, labels: np.ndarray,
                    settings: BenchSettings) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every recipe and fp32 in one runtime: (per-key results, per-key logits).

    A recipe whose load kills the worker (a native crash) is an error of that recipe and
    the others are measured again without it; raises :class:`RuntimeFailure` when the
    runtime fails as a whole (fp32 cannot run, a crash while timing)."""
    crashed: dict[str, str] = {}
    while True:
        remaining = {key: path for key, path in files.items() if key not in crashed}
        try:
            runs = measure_repeats(worker, runtime, remaining, model, images, settings)
            break
        except WorkerCrashed as crash:
            key = next((k for k in remaining if crash.doing == loading(runtime, k)), None)
            if key is None or key == FP32:
                raise
            crashed[key] = str(crash)
    timed = set.intersection(*(set(measured) for measured, _ in runs))
    errors = runs[0][1] | crashed
    results: dict[str, Any] = {key: {"error": errors.get(key, "failed in a later repeat")}
                               for key in remaining if key not in timed} | {
        key: {"error": why} for key, why in crashed.items()}
    for key in (k for k in files if k in timed):
        samples = [measured[key][0] for measured, _ in runs]
        results[key] = (candidate_result(np.concatenate(samples), runs[0][0][key][1], labels)
                        | repeat_fields(samples))
    return results, {key: runs[0][0][key][1] for key in timed}


def repeat_fields(samples: list[np.ndarray]) -> dict[str, Any]:
    """``repeats``, and with more than one process the spread of their medians."""
    fields: dict[str, Any] = {"repeats": len(samples)}
    if len(samples) > 1:
        medians = [float(np.median(s)) / 1e6 for s in samples]
        fields["between_processes"] = between_processes(medians)
        fields["processes"] = [{"median_ms": median, "n": int(s.size)}
                               for median, s in zip(medians, samples)]
    return fields


def runtime_entry(results: Mapping[str, Any], job: PostTrainJob, files: Mapping[str, Path]
                  ) -> dict[str, Any]:
    """The chosen recipe of one runtime, with fp32 and every recipe tried beside it, and
    the bench protocol they were timed with."""
    fp32 = results[FP32]
    recipes = {name: dict(r) for name, r in results.items() if name != FP32}
    if all("error" in r for r in recipes.values()):
        raise RuntimeFailure("no int8 recipe ran: " + "; ".join(
            f"{name}: {r['error']}" for name, r in recipes.items()))
    for name, result in recipes.items():
        result["bytes"] = files[name].stat().st_size
        if "error" not in result:
            result["drop"] = fp32["top1"] - result["top1"]
            result["speedup"] = fp32["median_ms"] / result["median_ms"]
    max_drop = job.settings.int8_max_drop
    chosen, within = choose_recipe(recipes, fp32["top1"], max_drop)
    fp32_summary = {key: fp32[key] for key in ("median_ms", "mean_ms", "ci95_ms", "top1", "top5")}
    return dict(recipes[chosen]) | {
        "recipe": chosen, "within_tolerance": within, "int8_max_drop": max_drop,
        "fp32": fp32_summary, "recipes": recipes,
    } | job.settings.bench.protocol()


def int8_runtimes(job: PostTrainJob) -> tuple[list[Runtime], dict[str, str]]:
    """The runtimes that time the recipes on the CPU, and why the others do not."""
    wanted = list(job.settings.int8_runtimes)
    runtimes, skipped = [], {}
    for name in wanted:
        if name not in list_runtimes():
            skipped[name] = "not a registered runtime here"
            continue
        runtime = get_runtime(name)
        reason = runtime.unavailable("cpu")
        if reason:
            skipped[name] = reason
        else:
            runtimes.append(runtime)
    if not runtimes:
        raise RuntimeError(f"none of posttrain.int8_runtimes {wanted} can run here: {skipped}")
    return runtimes, skipped


def quantize_all(job: PostTrainJob, fp32: Path, calibration: np.ndarray, folder: Path
                 ) -> tuple[dict[str, Path], dict[str, int]]:
    """Write fp32.onnx and one ``{recipe}.onnx`` per configured recipe into ``folder``."""
    files = {FP32: folder / "fp32.onnx"}
    shutil.copyfile(fp32, files[FP32])
    pre = folder / "fp32-preprocessed.onnx"
    preprocess(fp32, pre)
    for name in job.settings.int8_recipes:
        recipe = RECIPES[name]
        job.logger.info("quantizing with %s: %s", name, recipe.description)
        files[name] = folder / f"{name}.onnx"
        quantize(pre, recipe, calibration, files[name])
    batch_norms = {"fp32": count_ops(fp32, "BatchNormalization"),
                   "after_folding": count_ops(pre, "BatchNormalization")}
    return files, batch_norms


def measure_all(job: PostTrainJob, worker: Worker, runtimes: list[Runtime],
                files: Mapping[str, Path], model: torch.nn.Module, images: np.ndarray,
                labels: np.ndarray, logits_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(entries, failures) by runtime: each runtime measured in the job's ``worker``, its
    chosen recipe's outputs saved; one that fails costs its own entry only."""
    entries: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for runtime in runtimes:
        try:
            results, logits = measure_runtime(worker, runtime, files, model, images, labels,
                                              job.settings.bench)
            entry = runtime_entry(results, job, files)
        except RuntimeFailure as failure:
            job.logger.warning("%s: failed (%s)", runtime.name, failure)
            failures[runtime.name] = str(failure)
            continue
        entries[runtime.name] = entry
        np.save(logits_dir / f"{runtime.name}.npy", logits[entry["recipe"]])
        job.logger.info("%s: %s", runtime.name, recipe_line(entry))
    if not entries:
        raise RuntimeError(f"no runtime of posttrain.int8_runtimes could time the int8 files: "
                           f"{failures}")
    return entries, failures


def int8_job(job: PostTrainJob) -> None:
    """Quantize, time and score every recipe; write the job's outputs."""
    fp32_onnx = job.fp32_onnx
    bench = job.settings.bench
    torch.set_num_threads(bench.threads)
    model = load_weights(job.checkpoint, job.name.model, job.dataset)
    images, labels = benchmark_images(job.data_marker, job.dataset, bench.images)
    indices, calibration = calibration_images(job)
    job.logger.info("calibrating on %d training images; evaluating on %d test images",
                    len(indices), len(images))
    runtimes, skipped = int8_runtimes(job)
    # The worker's Python and torch start while this process quantizes.
    with (bench_worker(bench, job.logger).start() as worker,
          atomic_dir(job.artifacts) as folder):
        files, batch_norms = quantize_all(job, fp32_onnx, calibration, folder)
        (folder / "fp32-preprocessed.onnx").unlink()
        np.save(folder / "calibration_indices.npy", indices)
        np.save(folder / "labels.npy", labels)
        (folder / "logits").mkdir()
        entries, failures = measure_all(job, worker, runtimes, files, model, images, labels,
                                        folder / "logits")
        deploy = deploy_runtime(entries)
        with atomic_path(job.deployable) as tmp:
            shutil.copyfile(files[entries[deploy]["recipe"]], tmp)
        deploy_logits = np.load(folder / "logits" / f"{deploy}.npy")
    write_bench(job, entries, skipped, failures, len(images))
    write_summary(job, accuracy_record(deploy_logits, labels) | {
        "params": count_params(model),
        "storage_bytes": job.deployable.stat().st_size,
        "fp32_storage_bytes": fp32_onnx.stat().st_size,
        "deploy_runtime": deploy,
        "recipe": entries[deploy]["recipe"],
        "within_tolerance": entries[deploy]["within_tolerance"],
        "accuracy_from": f"{deploy} outputs of model.onnx on {len(images)} test images",
        "calibration": {"split": "train", "images": len(indices), "seed": CALIBRATION_SEED,
                        "indices_file": "artifacts/calibration_indices.npy"},
        "batch_norms": batch_norms,
        "recipes": {name: RECIPES[name].description for name in job.settings.int8_recipes},
        "runtimes": {name: {"recipe": e["recipe"], "within_tolerance": e["within_tolerance"],
                            "file": f"artifacts/{files[e['recipe']].name}"}
                     for name, e in entries.items()},
    })


def recipe_line(entry: Mapping[str, Any]) -> str:
    tried = ", ".join(
        f"{name} {r['median_ms']:.3f} ms top-1 {r['top1']:.2f}" if "error" not in r
        else f"{name} failed ({r['error']})" for name, r in entry["recipes"].items())
    return (f"fp32 {entry['fp32']['median_ms']:.3f} ms top-1 {entry['fp32']['top1']:.2f}; "
            f"{tried} -> {entry['recipe']}"
            + ("" if entry["within_tolerance"] else " (none within tolerance)"))


def deploy_runtime(entries: Mapping[str, Any]) -> str:
    """The runtime model.onnx is for: the study's deployment runtime when it was measured."""
    deployed = deployed_runtime().name
    return deployed if deployed in entries else next(iter(entries))


def write_bench(job: PostTrainJob, entries: Mapping[str, Any], skipped: Mapping[str, str],
                failures: Mapping[str, str], images: int) -> None:
    """``cpu.json`` like a results/bench file: one object per runtime, env and storage."""
    record: dict[str, Any] = {"model": str(job.name), "dataset": job.dataset, "device": "cpu",
                              "images": images}
    for name in dict.fromkeys([*job.settings.bench.runtimes, *entries, *failures, *skipped]):
        if name in entries:
            record[name] = entries[name]
        elif name in failures:
            record[name] = {"failed": failures[name]}
        else:
            record[name] = {"skipped": skipped.get(
                name, "does not run the quantized ONNX file (not in posttrain.int8_runtimes)")}
    record["env"] = environment(job.settings.bench.threads)
    record["storage"] = {"onnx_bytes": job.deployable.stat().st_size}
    write_json_atomic(job.bench, record)
    job.logger.info("wrote %s", job.bench)
