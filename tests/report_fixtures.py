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
                   devices: dict[str, str | None] | None = None, catalog: bool = True
                   ) -> dict[str, list[Path]]:
    """Every file the report rule reads for one dataset; returns the paths by kind.

    ``devices`` maps a device to None (measured) or the reason it was skipped.
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
    return paths


def build_fixture_report(root: Path, gan: bool = False, **upstream) -> Path:
    """Write the hand-made upstream files under ``root`` and build the report there.

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
                         {"preset": "quick"})
    out = root / "results" / "report"
    figures = {name: out / "figures" / f"{name}.png" for name in FIGURE_FILES}
    outputs = ReportOutputs(out / "index.html", out / "results.csv", out / "findings.csv", figures)
    inputs = ReportInputs(paper=repo / "resources/paper/thesis_tables.csv", gan_summaries=gan_paths,
                          gan_samples=gan_samples, study_results=study, **paths)
    build_report(inputs, outputs, config, repo / "resources/paper/param_counts.md")
    return out
