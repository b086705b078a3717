"""Hand-made upstream outputs in exactly the formats the report reads (see common interfaces).

Numbers are synthetic but shaped like a study: each technique has its own accuracy and
latency so the findings have something to decide; everything is deterministic.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

from archopt.catalog import catalog_rows, rows_to_csv
from archopt.config import load_config
from archopt.models import parse_name
from archopt.report.build import FIGURE_FILES, ReportOutputs, build_report
from archopt.report.table import ReportInputs

ACCURACY = {"base": 62.0, "dsc": 57.5, "shift": 58.0, "shuffle": 56.0}
LATENCY_MS = {"base": 2.0, "dsc": 2.6, "shift": 1.5, "shuffle": 2.3}
TEST_IMAGES = 1000
BENCH_IMAGES = 200


def wilson(percent: float, n: int) -> list[float]:
    p, z = percent / 100, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(100 * (centre - half), 3), round(100 * (centre + half), 3)]


def accuracy_of(model: str) -> float:
    info = parse_name(model)
    if info.scaling == "expand":
        return ACCURACY["base"] + 1.0
    if info.scaling.startswith("reduce"):
        return ACCURACY["base"] - 4.0
    return ACCURACY[info.technique] + (info.depth or 0) / 20


def latency_of(model: str, runtime: str) -> float:
    info = parse_name(model)
    base = LATENCY_MS["base"] * (info.depth or 20) / 20
    if info.scaling == "expand":
        value = base * 1.6
    elif info.scaling.startswith("reduce"):
        value = base * 0.6
    else:
        value = LATENCY_MS[info.technique] * (info.depth or 20) / 20
    return value * (0.8 if runtime == "onnxruntime" else 1.0)


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def write_catalog(root: Path, dataset: str, models: Sequence[str]) -> Path:
    path = root / "results" / "models" / dataset / "catalog.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows_to_csv(catalog_rows(list(models), dataset)))
    return path


def write_summary(root: Path, dataset: str, model: str) -> Path:
    top1 = accuracy_of(model)
    top5 = min(top1 + 25, 99.0)
    run = {"lr": 0.05, "batch_size": 128, "seed": 0, "val_top1": top1 - 1, "val_top5": top5 - 1,
           "epochs": 3, "train_seconds": 12.5}
    summary = {
        "model": model, "dataset": dataset, "test_top1": top1, "test_top5": top5,
        "test_top1_ci95": wilson(top1, TEST_IMAGES), "test_top5_ci95": wilson(top5, TEST_IMAGES),
        "test_images": TEST_IMAGES, "params": 1000, "lr": 0.05, "batch_size": 128, "seed": 0,
        "val_top1": top1 - 1, "val_top5": top5 - 1, "epochs": 3, "storage_bytes": 123456,
        "train_seconds": 12.5, "device": "cpu", "grid": [run],
    }
    return write_json(root / "results" / "models" / dataset / model / "summary.json", summary)


def runtime_entry(model: str, runtime: str) -> dict:
    mean = latency_of(model, runtime)
    std = mean * 0.05
    half = 1.959964 * std / math.sqrt(BENCH_IMAGES)
    return {"median_ms": mean * 0.98, "mean_ms": mean, "std_ms": std, "p90_ms": mean * 1.05,
            "p99_ms": mean * 1.1, "ci95_ms": half, "n": BENCH_IMAGES,
            "top1": accuracy_of(model), "shift_impl": "conv", "max_abs_diff": 0.0 if
            runtime == "eager" else 1e-6, "iqr_ms": mean * 0.04, "warning": None,
            "first_ms": mean * 3, "load_ms": 50.0, "repeats": 1}


ENV = {"cpu_model": "Test CPU", "threads": 1, "torch": "2.14.1", "onnxruntime": "1.20"}


def write_bench(root: Path, dataset: str, model: str, device: str,
                runtimes: Sequence[str] = ("eager", "onnxruntime"), skipped: str | None = None
                ) -> Path:
    path = root / "results" / "bench" / dataset / model / f"{device}.json"
    header = {"model": model, "dataset": dataset, "device": device}
    if skipped:
        return write_json(path, {**header, "skipped": skipped, "env": ENV})
    data = {**header, "images": BENCH_IMAGES}
    data |= {runtime: runtime_entry(model, runtime) for runtime in runtimes}
    data["env"] = ENV
    data["storage"] = {"checkpoint_bytes": 123456, "onnx_bytes": 120000}
    return write_json(path, data)


DEVICE_SLOWDOWN = 3.0  # an imported device is this much slower than the study machine
DEVICE_ENV = {"cpu_model": "Cortex-A72", "architecture": "aarch64", "os": "Linux",
              "onnxruntime": "1.20"}


def device_entry(mean: float, top1: float) -> dict:
    """One runtime as ``run_bench.py`` records it (the import keeps it as is)."""
    std = mean * 0.05
    return {"median_ms": mean * 0.98, "mean_ms": mean, "std_ms": std, "p90_ms": mean * 1.05,
            "p99_ms": mean * 1.1, "ci95_ms": 1.959964 * std / math.sqrt(BENCH_IMAGES),
            "n": BENCH_IMAGES, "iqr_ms": mean * 0.04, "warning": None, "first_ms": mean * 3,
            "load_ms": 40.0, "repeats": 1, "top1": top1, "top5": min(top1 + 25, 99.0)}


def write_device_bench(path: Path, dataset: str, network: str, device: str,
                       entries: dict[str, dict]) -> Path:
    """An imported device's file as ``archopt device import`` writes it (its bench_record)."""
    settings = {"runtimes": list(entries), "threads": 1, "warmup": 2, "min_queries": 0,
                "min_duration_s": 0, "repeats": 1}
    return write_json(path, {
        "model": network, "dataset": dataset, "device": device, "images": BENCH_IMAGES,
        **entries,
        "env": {**DEVICE_ENV, "imported_from": "run_bench.py", "bundle": "0" * 64,
                "sha256": "1" * 64, "settings": settings},
        "storage": {"onnx_bytes": 120000},
    })


def write_imported_bench(root: Path, dataset: str, model: str, device: str,
                         runtimes: Sequence[str] = ("onnxruntime",)) -> Path:
    """A study network's fp32 results from an imported device, where the import puts them."""
    entries = {runtime: device_entry(latency_of(model, runtime) * DEVICE_SLOWDOWN,
                                     accuracy_of(model)) for runtime in runtimes}
    return write_device_bench(root / "results" / "bench" / dataset / model / f"{device}.json",
                              dataset, model, device, entries)


INT8_SPEEDUP = 0.6  # int8 latency / fp32 latency in the fixtures' post-training results
INT8_DROP = 0.5  # top-1 points int8 loses against fp32 (posttrain.int8_max_drop: 1.0)


def write_int8_result(root: Path, dataset: str, model: str,
                      runtimes: Sequence[str] = ("eager", "onnxruntime"),
                      devices: Sequence[str] = (), speedup: float = INT8_SPEEDUP,
                      device_speedup: float = INT8_SPEEDUP) -> tuple[Path, list[Path]]:
    """``results/posttrain/{dataset}/{model}+int8/``: summary.json and cpu.json as the int8
    stage writes them (eager skipped; the chosen recipe against fp32 timed interleaved),
    and each of ``devices``' imported file of its model.onnx (ONNX Runtime only).
    Returns (summary, [cpu.json, device files...])."""
    name = f"{model}+int8"
    folder = root / "results" / "posttrain" / dataset / name
    top1 = accuracy_of(model) - INT8_DROP
    summary = write_json(folder / "summary.json", {
        "model": name, "base_model": model, "method": "int8", "method_label": "int8",
        "spec": "int8", "dataset": dataset, "test_images": BENCH_IMAGES, "test_top1": top1,
        "test_top5": min(top1 + 25, 99.0), "test_top1_ci95": wilson(top1, BENCH_IMAGES),
        "test_top5_ci95": wilson(min(top1 + 25, 99.0), BENCH_IMAGES), "params": 1000,
        "storage_bytes": 40000, "fp32_storage_bytes": 120000, "deploy_runtime": "onnxruntime",
        "recipe": "qdq_s8s8", "within_tolerance": True,
    })
    bench = {"model": name, "dataset": dataset, "device": "cpu", "images": BENCH_IMAGES}
    for runtime in runtimes:
        if runtime == "eager":
            bench[runtime] = {"skipped": "does not run the quantized ONNX file (not in "
                                         "posttrain.int8_runtimes)"}
            continue
        fp32_ms = latency_of(model, runtime)
        fp32 = device_entry(fp32_ms, accuracy_of(model))
        chosen = device_entry(fp32_ms * speedup, top1)
        recipes = {"qdq_s8s8": {**chosen, "bytes": 40000, "drop": INT8_DROP,
                                "speedup": 1 / speedup}}
        bench[runtime] = {**chosen, "recipe": "qdq_s8s8", "within_tolerance": True,
                          "int8_max_drop": 1.0,
                          "fp32": {k: fp32[k] for k in ("median_ms", "mean_ms", "ci95_ms",
                                                        "top1", "top5")},
                          "recipes": recipes}
    bench["env"] = ENV
    bench["storage"] = {"onnx_bytes": 40000}
    files = [write_json(folder / "cpu.json", bench)]
    for device in devices:
        fp32_ms = latency_of(model, "onnxruntime") * DEVICE_SLOWDOWN
        files.append(write_device_bench(folder / f"{device}.json", dataset, name, device, {
            "onnxruntime": device_entry(fp32_ms * device_speedup, top1)}))
    return summary, files


def write_search(root: Path, dataset: str, scaled: dict[str, tuple[str, int, str, float]]
                 ) -> Path:
    """``scaled``: model -> (kind, depth, technique, factor)."""
    path = root / "results" / "search" / f"{dataset}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "depth", "technique", "target_params", "model", "factor",
                         "params", "rel_gap", "abs_gap", "paper_model", "paper_factor",
                         "paper_params", "paper_rel_gap"])
        for model, (kind, depth, technique, factor) in scaled.items():
            writer.writerow([kind, depth, technique, 100000, model, factor, 99000, 0.01, 1000,
                             "", "", "", ""])
    return path


def write_gan_summary(root: Path, model: str, pixel_acc: float) -> Path:
    return write_json(root / "results" / "gan" / "maps" / model / "summary.json", {
        "model": model, "pixel_acc": pixel_acc,
        "pixel_acc_ci95": [pixel_acc - 0.5, pixel_acc + 0.5],
        "l1": 0.1, "psnr": 20.0, "ssim": 0.5, "params": 36_000_000, "epochs": 2,
    })


def write_gan_samples(root: Path, model: str, pairs: Sequence[int] = (3, 11)) -> Path:
    """``samples/<pair>_{input,real,fake}.png`` as the evaluate_gan rule writes them."""
    from PIL import Image

    folder = root / "results" / "gan" / "maps" / model / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        for shade, kind in ((40, "input"), (200, "real"), (120, "fake")):
            Image.new("RGB", (16, 16), (shade, pair * 10, 90)).save(folder / f"{pair}_{kind}.png")
    return folder


def write_study_results(root: Path, rates: dict[str, float]) -> Path:
    path = root / "results" / "study" / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "volunteers", "images", "error_rate"])
        for model, rate in rates.items():
            writer.writerow([model, 10, 20, rate])
    return path


QUICK_MODELS = ("squeezenet", "squeezenet-dsc", "squeezenet-shift", "squeezenet-shuffle",
                "resnet20", "resnet20-dsc", "resnet20-shift", "resnet20-shuffle")
SCALED = {
    "resnet20-shift-0.35": ("expand", 20, "shift", 0.35),
    "resnet20-2.7": ("reduce_channels", 20, "shift", 2.7),
    "resnet20-2.7_block": ("reduce_block", 20, "shift", 2.7),
}


def write_upstream(root: Path, dataset: str = "cifar10", models: Sequence[str] = QUICK_MODELS,
                   scaled: dict[str, tuple[str, int, str, float]] | None = None,
                   devices: dict[str, str | None] | None = None, catalog: bool = True,
                   imported: Sequence[str] = ()) -> dict[str, list[Path]]:
    """Every file the report rule reads for one dataset; returns the paths by kind.

    ``devices`` maps a bench-stage device to None (measured) or the reason it was skipped;
    ``imported`` names target devices whose results were imported (ONNX Runtime only).
    """
    scaled = SCALED if scaled is None else scaled
    if devices is None:
        devices = {"cpu": None, "cuda": "no CUDA device on this machine"}
    names = list(models) + list(scaled)
    paths: dict[str, list[Path]] = {"summaries": [], "bench": [], "catalogs": [], "searches": []}
    if catalog:
        paths["catalogs"].append(write_catalog(root, dataset, names))
    paths["searches"].append(write_search(root, dataset, scaled))
    for model in names:
        paths["summaries"].append(write_summary(root, dataset, model))
        for device, skipped in devices.items():
            paths["bench"].append(write_bench(root, dataset, model, device, skipped=skipped))
        for device in imported:
            paths["bench"].append(write_imported_bench(root, dataset, model, device))
    return paths


def build_fixture_report(root: Path, gan: bool = False, overrides: dict | None = None,
                         posttrain: Sequence[Path] = (), posttrain_bench: Sequence[Path] = (),
                         runtimes: Sequence[str] = (), **upstream) -> Path:
    """Write the hand-made upstream files under ``root`` and build the report there
    (config: the quick preset with ``overrides``; ``runtimes``: bench.runtimes as the rule
    passes them, () = every registered one; ``posttrain``: summaries of post-training
    results, with their bench files in ``posttrain_bench``).

    Returns the report directory (``root/results/report``).
    """
    repo = Path(__file__).resolve().parents[1]
    paths = write_upstream(root, **upstream)
    gan_paths = [write_gan_summary(root, m, acc) for m, acc in
                 (("pix2pix", 62.0), ("pix2pix-dsc", 57.0), ("pix2pix-shift", 61.0),
                  ("pix2pix-shuffle", 52.0))] if gan else []
    gan_samples = {m: write_gan_samples(root, m) for m in ("pix2pix", "pix2pix-shift")} if gan else {}
    if gan:  # generators go through the bench stage like the classifiers
        paths["bench"] += [write_bench(root, "maps", m, "cpu") for m in ("pix2pix", "pix2pix-shift")]
    study = write_study_results(root, {"pix2pix": 0.2, "pix2pix-shift": 0.25}) if gan else None
    config = load_config(repo / "config.yaml", repo / "workflow/schemas/config.schema.yaml",
                         {"preset": "quick", **(overrides or {})})
    out = root / "results" / "report"
    figures = {name: out / "figures" / f"{name}.png" for name in FIGURE_FILES}
    outputs = ReportOutputs(out / "index.html", out / "results.csv", out / "findings.csv", figures,
                            out / "recommendations.json")
    inputs = ReportInputs(paper=repo / "resources/paper/thesis_tables.csv", gan_summaries=gan_paths,
                          gan_samples=gan_samples, study_results=study,
                          posttrain=list(posttrain), posttrain_bench=list(posttrain_bench),
                          runtimes=tuple(runtimes), **paths)
    build_report(inputs, outputs, config, repo / "resources/paper/param_counts.md")
    return out
