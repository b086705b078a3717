"""The tidy results table: one row per measured (or published) number.

Columns: who produced the number (``source``: ``archopt`` or ``paper``), which network
(``model`` canonical, ``paper_name`` as printed in the dissertation, plus the network's
family/depth/technique/scaling and ``budget_of``: the network whose parameter count a
width-scaled net was sized to), what was measured (``metric``, with ``device`` and
``runtime`` for latencies, empty otherwise) and the number with its spread (``value``,
``std``, ``ci_low``/``ci_high`` = 95% interval, ``n``). A number that was asked for
but not measured is a row with an empty ``value`` and the reason in ``note``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from archopt.bench.implementations import impl_field
from archopt.datasets import dataset_names, get_dataset
from archopt.models import parse_name
from archopt.paths import GAN_DATASET, is_paired
from archopt.report import sources
from archopt.techniques import BASE, list_techniques, technique_names
from archopt.train.metrics import wilson_interval

TIDY_COLUMNS = (
    "source", "dataset", "model", "paper_name", "family", "depth", "technique", "scaling",
    "width_factor", "budget_of", "metric", "device", "runtime", "value", "std", "ci_low",
    "ci_high", "n", "note",
)
KEY_COLUMNS = ("source", "dataset", "model", "metric", "device", "runtime")
ATTRIBUTE_COLUMNS = TIDY_COLUMNS[:TIDY_COLUMNS.index("metric")]
ARCHOPT, PAPER = "archopt", "paper"

# Accuracy that decides the findings, per dataset: the dissertation's own choice, so that
# archopt's verdicts compare like with like (its CIFAR-100 numbers are top-5).
class _PrimaryAccuracy(Mapping[str, str]):
    """dataset -> the accuracy the findings compare (the dissertation: top-5 on CIFAR-100),
    read from the registry on every lookup, so datasets that plugins register count."""

    def __getitem__(self, dataset: str) -> str:
        if dataset not in dataset_names():
            raise KeyError(dataset)
        return get_dataset(dataset).primary_metric

    def __iter__(self) -> Iterator[str]:
        return iter(dataset_names())

    def __len__(self) -> int:
        return len(dataset_names())


PRIMARY_ACCURACY: Mapping[str, str] = _PrimaryAccuracy()

METRICS = {
    "top1": "test top-1 accuracy (%)",
    "top5": "test top-5 accuracy (%)",
    "val_top1": "validation top-1 accuracy (%)",
    "val_top5": "validation top-5 accuracy (%)",
    "params": "parameters",
    "macs": "multiply-accumulates per image",
    "state_dict_bytes": "bytes of a saved state_dict",
    "storage_bytes": "bytes of the selected checkpoint file",
    "onnx_bytes": "bytes of the ONNX export",
    "ep_e3": "E_P x 1000 = accuracy (%) / parameters x 1000",
    "epochs": "training epochs run",
    "train_seconds": "training wall time (s)",
    "latency_ms": "single-image inference latency, mean over images (ms)",
    "latency_median_ms": "single-image inference latency, median (ms)",
    "latency_p90_ms": "single-image inference latency, 90th percentile (ms)",
    "latency_p99_ms": "single-image inference latency, 99th percentile (ms)",
    "latency_iqr_ms": "interquartile range of the single-image latency (ms); note: warning",
    "latency_first_ms": "first inference after loading (ms)",
    "load_ms": "session creation / compilation of a runtime (ms)",
    "latency_between_process_std_ms": "std of the per-process medians over bench.repeats (ms)",
    "bench_top1": "top-1 accuracy on the benchmarked test images (%; n = images)",
    "bench_top5": "top-5 accuracy on the benchmarked test images (%; n = images)",
    "max_abs_diff": "largest |output - eager output| over the benchmarked images",
    "pixel_acc": "pixel-wise accuracy of generated images (%)",
    "l1": "mean absolute error of generated images",
    "psnr": "PSNR of generated images (dB)",
    "ssim": "SSIM of generated images",
    "perceptual_error": "share of generated images judged real",
}

# Where the dissertation's tables put a width-scaled net: which net's size it matches
# (Tables 7-12: the techniques' ``paper_tables``).
EXPANDED_PAPER_TABLES = (5, 6)
# paper table -> the accuracy its rows hold where its header names another: Table 4's
# "Top 1" header is a typo, every CIFAR-100 accuracy of the thesis is top-5.
MISPRINTED_ACCURACY = {4: "top5"}
PAPER_TEST_IMAGES = 10_000  # the dissertation timed every CIFAR test image
Z95 = 1.959964


@dataclass(frozen=True)
class ReportInputs:
    """Paths of everything the report reads (absent optional files are simply not listed)."""

    paper: str | os.PathLike
    catalogs: Sequence[str | os.PathLike] = ()
    searches: Sequence[str | os.PathLike] = ()
    summaries: Sequence[str | os.PathLike] = ()
    bench: Sequence[str | os.PathLike] = ()
    gan_summaries: Sequence[str | os.PathLike] = ()
    gan_samples: Mapping[str, str | os.PathLike] = field(default_factory=dict)  # model -> folder
    study_results: str | os.PathLike | None = None
    runtimes: Sequence[str] = ()  # bench.runtimes; () = every registered runtime
    posttrain: Sequence[str | os.PathLike] = ()  # results/posttrain/*/*/summary.json
    # Their bench files: each result's cpu.json and every external device's imported one.
    posttrain_bench: Sequence[str | os.PathLike] = ()


def measurement(metric: str, value: Any, *, device: str = "", runtime: str = "",
                std: float | None = None, ci: tuple[float, float] | None = None,
                n: float | None = None, note: str = "") -> dict[str, Any]:
    """One row's measurement fields; a missing value becomes NaN."""
    return {
        "metric": metric, "device": device, "runtime": runtime,
        "value": math.nan if value is None else float(value),
        "std": math.nan if std is None else float(std),
        "ci_low": math.nan if ci is None else ci[0],
        "ci_high": math.nan if ci is None else ci[1],
        "n": math.nan if n is None else float(n),
        "note": note,
    }


def _tag(rows: Iterable[dict[str, Any]], **keys: Any) -> list[dict[str, Any]]:
    return [{**keys, **row} for row in rows]


def catalog_rows(catalog: pd.DataFrame, dataset: str) -> list[dict[str, Any]]:
    rows = []
    for record in catalog.to_dict("records"):
        model = parse_name(record["name"]).name
        for metric in ("params", "macs", "state_dict_bytes"):
            rows += _tag([measurement(metric, record[metric])], source=ARCHOPT, dataset=dataset,
                         model=model)
    return rows


def summary_rows(summary: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Accuracy with its Wilson interval, storage and training cost of a selected run."""
    rows = []
    images = sources.number(summary, "test_images", where)
    for metric in ("top1", "top5"):
        value = sources.number(summary, f"test_{metric}", where)
        ci = sources.interval(summary, f"test_{metric}_ci95", where)
        rows.append(measurement(metric, value, ci=ci, n=images))
    for metric in ("val_top1", "val_top5", "params", "storage_bytes", "epochs"):
        if summary.get(metric) is not None:
            rows.append(measurement(metric, sources.number(summary, metric, where)))
    if summary.get("train_seconds") is not None:
        device = summary.get("device")
        rows.append(measurement("train_seconds", sources.number(summary, "train_seconds", where),
                                note=f"device={device}" if device else ""))
    model = parse_name(str(summary["model"])).name
    return _tag(rows, source=ARCHOPT, dataset=str(summary["dataset"]), model=model)


def runtime_rows(entry: dict[str, Any], device: str, runtime: str, where: str,
                 images: float | None = None) -> list[dict[str, Any]]:
    """Latency statistics of one runtime on one device (or why it was not measured);
    ``images``: how many test images its accuracy (``bench_top1``/``bench_top5``) is from."""
    if sources.not_measured(entry):
        return [measurement("latency_ms", None, device=device, runtime=runtime,
                            note=sources.not_measured(entry))]
    mean = sources.number(entry, "mean_ms", where)
    rows = [measurement("latency_ms", mean, device=device, runtime=runtime,
                        std=sources.number(entry, "std_ms", where),
                        ci=sources.interval(entry, "ci95_ms", where, centre=mean),
                        n=sources.number(entry, "n", where), note=implementation_note(entry))]
    for metric, key in (("latency_median_ms", "median_ms"), ("latency_p90_ms", "p90_ms"),
                        ("latency_p99_ms", "p99_ms"), ("max_abs_diff", "max_abs_diff")):
        if entry.get(key) is not None:
            rows.append(measurement(metric, sources.number(entry, key, where), device=device,
                                    runtime=runtime))
    return rows + bench_accuracy_rows(entry, device, runtime, where, images) + protocol_rows(
        entry, device, runtime, where)


IMPLEMENTATION_SEPARATOR = "; "


def implementation_note(entry: Mapping[str, Any]) -> str:
    """The latency row's note naming the implementation each technique's layers were
    timed with (``{technique}_impl=conv``; several joined by ``; ``), read from the
    runtime entry's fields of every registered technique; empty where none was chosen."""
    fields = (impl_field(name) for name in technique_names())
    return IMPLEMENTATION_SEPARATOR.join(f"{field}={entry[field]}" for field in fields
                                         if entry.get(field))


def implementations_timed(table: pd.DataFrame) -> dict[str, list[str]]:
    """technique -> the implementations (sorted) its layers were timed with in archopt's
    latency rows, for the techniques that have implementations to choose."""
    notes = table.loc[(table["source"] == ARCHOPT) & (table["metric"] == "latency_ms"), "note"]
    technique_of = {impl_field(name): name for name in technique_names()}
    found: dict[str, set[str]] = {}
    for note in notes.dropna():
        for part in str(note).split(IMPLEMENTATION_SEPARATOR):
            field, _, impl = part.partition("=")
            if field in technique_of and impl:
                found.setdefault(technique_of[field], set()).add(impl)
    return {technique: sorted(impls) for technique, impls in found.items()}


def bench_accuracy_rows(entry: dict[str, Any], device: str, runtime: str, where: str,
                        images: float | None) -> list[dict[str, Any]]:
    """Top-1/top-5 of a runtime's outputs on the benchmarked images, with their 95% Wilson
    interval and the number of images (``n``): the accuracy every variant timed on one
    device shares its images for."""
    rows = []
    for metric, key in (("bench_top1", "top1"), ("bench_top5", "top5")):
        value = sources.number(entry, key, where)
        if value is not None:
            ci = None if images is None else wilson_percent(value, int(images))
            rows.append(measurement(metric, value, device=device, runtime=runtime, ci=ci,
                                    n=images))
    return rows


def wilson_percent(percent: float, images: int) -> tuple[float, float]:
    """The 95% Wilson interval (percent) of an accuracy measured on ``images`` images."""
    hits = round(percent / 100 * images)
    low, high = wilson_interval(hits, images)
    return 100 * low, 100 * high


def protocol_rows(entry: dict[str, Any], device: str, runtime: str, where: str
                  ) -> list[dict[str, Any]]:
    """Spread warning, load and first-inference times, spread between processes."""
    rows = []
    if entry.get("iqr_ms") is not None:
        warning = entry.get("warning")
        rows.append(measurement("latency_iqr_ms", sources.number(entry, "iqr_ms", where),
                                device=device, runtime=runtime,
                                note=f"warning={warning}" if warning else ""))
    for metric, key in (("latency_first_ms", "first_ms"), ("load_ms", "load_ms")):
        if entry.get(key) is not None:
            rows.append(measurement(metric, sources.number(entry, key, where), device=device,
                                    runtime=runtime))
    between = entry.get("between_processes") or {}
    if between.get("std_ms") is not None:
        rows.append(measurement("latency_between_process_std_ms",
                                sources.number(between, "std_ms", where), device=device,
                                runtime=runtime, n=between.get("processes")))
    return rows


ABSENT = "runtime absent from the bench file"


def bench_rows(bench: dict[str, Any], path: str | os.PathLike, runtimes: Sequence[str]
               ) -> list[dict[str, Any]]:
    """Rows of one bench file (read by :func:`sources.read_bench`), under the dataset, model
    and device its header names. A bench-stage file gets a row for every configured
    runtime, measured or not (a runtime it lacks is a stale file: a row saying so); an
    imported device's file only for the runtimes it holds: the runtimes the device did not
    run are not its measurements (:func:`runtimes_not_run` names them)."""
    dataset, model, device = sources.bench_identity(bench)
    rows = []
    imported = sources.is_imported(bench) and "skipped" not in bench
    listed = (sources.runtimes_present(bench) if imported
              else sources.bench_runtimes(bench, runtimes))
    for runtime in listed:
        if "skipped" in bench:
            entry = {"skipped": bench["skipped"]}
        else:
            entry = bench.get(runtime, {"skipped": ABSENT})
        rows += runtime_rows(entry, device, runtime, f"{path}: runtime {runtime!r}",
                             sources.number(bench, "images", str(path)))
    storage = bench.get("storage") or {}
    for metric, key in (("storage_bytes", "checkpoint_bytes"), ("onnx_bytes", "onnx_bytes")):
        if storage.get(key) is not None:
            rows.append(measurement(metric, sources.number(storage, key, f"{path}: storage")))
    return _tag(rows, source=ARCHOPT, dataset=dataset, model=parse_name(model).name)


def runtimes_not_run(table: pd.DataFrame, dataset: str) -> dict[str, tuple[list[str], list[str]]]:
    """device -> (runtimes it has latency rows for, runtimes it has none for) on
    ``dataset``, for the devices that lack some runtime another device has: an imported
    device that ran ONNX Runtime only has no eager column, and the report says so once
    instead of showing empty cells."""
    rows = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["metric"] == "latency_ms")]
    every = list(dict.fromkeys(rows["runtime"]))
    gaps = {}
    for device in dict.fromkeys(rows["device"]):
        ran = list(dict.fromkeys(rows.loc[rows["device"] == device, "runtime"]))
        missing = [runtime for runtime in every if runtime not in ran]
        if missing:
            gaps[device] = (ran, missing)
    return gaps


def not_run_note(device_label: str, ran: Sequence[str], missing: Sequence[str]) -> str:
    """``rpi4 did not run eager, inductor (its results hold onnxruntime)``."""
    return f"{device_label} did not run {', '.join(missing)} (its results hold {', '.join(ran)})"


def gan_rows(summary: dict[str, Any], path: str | os.PathLike) -> list[dict[str, Any]]:
    where = str(path)
    acc = sources.number(summary, "pixel_acc", where)
    rows = [measurement("pixel_acc", acc, ci=sources.interval(summary, "pixel_acc_ci95", where,
                                                                centre=acc))]
    for metric in ("l1", "psnr", "ssim", "params", "epochs"):
        if summary.get(metric) is not None:
            rows.append(measurement(metric, sources.number(summary, metric, where)))
    model = parse_name(summary["model"]).name
    return _tag(rows, source=ARCHOPT, dataset=summary.get("dataset", GAN_DATASET), model=model)


def study_rows(results: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for record in results.to_dict("records"):
        rows += _tag([measurement("perceptual_error", record["error_rate"],
                                  n=record["volunteers"], note=f"{record['images']} images")],
                     source=ARCHOPT, dataset=GAN_DATASET, model=parse_name(record["model"]).name)
    return rows


def paper_accuracy_metric(table: int, printed: str) -> str:
    """The accuracy a row of the dissertation's ``table`` holds (its header may misname it)."""
    return MISPRINTED_ACCURACY.get(table, printed)


def paper_rows(paper: pd.DataFrame) -> list[dict[str, Any]]:
    """The dissertation's Tables 1-13 as tidy rows (latency CIs from std over the test set)."""
    rows = []
    for record in paper.to_dict("records"):
        dataset = record["dataset"]
        info, table = parse_name(record["model"]), int(record["table"])
        keys = {"source": PAPER, "dataset": dataset, "model": info.name,
                "paper_name": record["model"], "paper_table": table}
        half = None if pd.isna(record["acc_ci"]) else float(record["acc_ci"])
        acc = float(record["acc"])
        found = [measurement(paper_accuracy_metric(table, record["acc_metric"]), acc,
                             ci=None if half is None else (acc - half, acc + half)),
                 measurement("params", record["params"])]
        n = PAPER_TEST_IMAGES
        for device, mean_key, std_key, note in (
            ("cuda", "gpu_ms", "gpu_std", ""),
            ("cpu", "cpu_ms", "cpu_std", "one conv per block offloaded to the GPU"),
        ):
            if not pd.isna(record[mean_key]):
                mean, std = float(record[mean_key]), float(record[std_key])
                half_ms = Z95 * std / math.sqrt(n)
                found.append(measurement("latency_ms", mean, device=device, runtime="eager",
                                         std=std, ci=(mean - half_ms, mean + half_ms), n=n,
                                         note=note))
        if not pd.isna(record["perceptual_error"]):
            found.append(measurement("perceptual_error", record["perceptual_error"]))
        rows += _tag(found, **keys)
    return rows


def archopt_budgets(searches: dict[str, pd.DataFrame], catalogs: dict[str, pd.DataFrame]
                    ) -> dict[tuple[str, str], str]:
    """(dataset, model) -> the net whose size a width-scaled net was searched to match."""
    budgets: dict[tuple[str, str], set[str]] = {}
    for dataset, search in searches.items():
        for record in search.to_dict("records"):
            depth, technique = int(record["depth"]), record["technique"]
            target = f"resnet{depth}"
            if record["kind"] != "expand":
                target += f"-{technique}"
            key = (dataset, parse_name(record["model"]).name)
            budgets.setdefault(key, set()).add(target)
    for dataset, catalog in catalogs.items():
        params = {parse_name(n).name: p for n, p in zip(catalog["name"], catalog["params"])}
        for name in params:
            if (dataset, name) not in budgets:
                target = fallback_budget(name, params)
                if target:
                    budgets[(dataset, name)] = {target}
    return {key: "|".join(sorted(targets)) for key, targets in budgets.items()}


def fallback_budget(name: str, params: dict[str, int]) -> str:
    """Budget of a scaled net absent from the search: the base it widens, or the optimized
    net of the same depth whose parameter count it is closest to."""
    info = parse_name(name)
    if info.scaling == "expand":
        return f"resnet{info.depth}"
    if info.scaling in ("reduce_channels", "reduce_block"):
        optimized = {f"resnet{info.depth}-{t}" for t in technique_names("resnet")}
        candidates = optimized & set(params)
        if candidates:
            return min(candidates, key=lambda c: abs(params[c] - params[name]))
    return ""


def paper_table_budget(table: int) -> str | None:
    """Whose size the width-scaled nets of a dissertation table match: ``base`` or a technique."""
    if table in EXPANDED_PAPER_TABLES:
        return BASE
    return next((t.name for t in list_techniques() if table in t.paper_tables), None)


def paper_budget(info: Any, table: int) -> str:
    technique = paper_table_budget(table)
    if info.scaling == "none" or technique is None:
        return ""
    return f"resnet{info.depth}" if technique == "base" else f"resnet{info.depth}-{technique}"


def attach_attributes(frame: pd.DataFrame, budgets: dict[tuple[str, str], str]) -> pd.DataFrame:
    """Add each network's family/depth/technique/scaling/width factor and budget_of."""
    attributes = {}
    for key in frame[["source", "dataset", "model", "paper_table"]].drop_duplicates().itertuples(
        index=False
    ):
        info = parse_name(key.model)
        if key.source == PAPER:
            budget = paper_budget(info, int(key.paper_table))
        else:
            budget = budgets.get((key.dataset, key.model), "")
        attributes[tuple(key)] = {
            "family": info.family, "depth": info.depth, "technique": info.technique,
            "scaling": info.scaling, "width_factor": info.factor, "budget_of": budget,
        }
    columns = ["source", "dataset", "model", "paper_table"]
    extra = pd.DataFrame([{**dict(zip(columns, k)), **v} for k, v in attributes.items()])
    return frame.merge(extra, on=columns, how="left")


def with_efficiency(frame: pd.DataFrame) -> pd.DataFrame:
    """Add E_P x 1000 = accuracy (%) / parameters x 1000 (the dissertation's ``ep_e3``)."""
    extra = []
    for (_, dataset, _), rows in frame.groupby(["source", "dataset", "model"], sort=False):
        static = rows[rows["device"] == ""]
        values = dict(zip(static["metric"], static["value"]))
        accuracy = values.get(PRIMARY_ACCURACY.get(dataset, ""), math.nan)
        params = values.get("params", math.nan)
        if not is_paired(dataset) and not (pd.isna(accuracy) or pd.isna(params)) and params > 0:
            attributes = rows.iloc[0][list(ATTRIBUTE_COLUMNS)].to_dict()
            extra.append({**attributes, **measurement("ep_e3", accuracy / params * 1000)})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True) if extra else frame


def tidy(rows: list[dict[str, Any]], budgets: dict[tuple[str, str], str]) -> pd.DataFrame:
    """Rows -> the tidy table; where two files give the same number the first one wins."""
    frame = pd.DataFrame(rows)
    for column, default in (("paper_name", ""), ("paper_table", 0)):
        if column not in frame:
            frame[column] = default
    frame["paper_name"] = frame["paper_name"].fillna("")
    frame["paper_table"] = frame["paper_table"].fillna(0).astype(int)
    frame = frame.drop_duplicates(list(KEY_COLUMNS), keep="first")
    frame = attach_attributes(frame, budgets).drop(columns="paper_table")
    frame = with_efficiency(frame)
    frame["depth"] = frame["depth"].astype("Int64")
    return frame[list(TIDY_COLUMNS)].reset_index(drop=True)


def dataset_of(path: str | os.PathLike) -> str:
    """The dataset a per-dataset file is for: ``.../{dataset}/catalog.csv`` or ``{dataset}.csv``."""
    path = Path(path)
    return path.parent.name if path.name == "catalog.csv" else path.stem


def build_table(inputs: ReportInputs) -> pd.DataFrame:
    """Read every input and return the tidy table (archopt rows first, then the paper's).

    Summaries and bench files are reported under the network, dataset (and device) their
    JSON names, wherever they lie; two files claiming the same result are refused."""
    catalogs = {dataset_of(p): sources.read_catalog(p) for p in inputs.catalogs}
    searches = {dataset_of(p): sources.read_search(p) for p in inputs.searches}
    rows: list[dict[str, Any]] = []
    for dataset, catalog in catalogs.items():
        rows += catalog_rows(catalog, dataset)
    summaries = [(path, sources.read_summary(path)) for path in inputs.summaries]
    sources.unique([((s["dataset"], parse_name(s["model"]).name), path) for path, s in summaries],
                   "network")
    for path, summary in summaries:
        rows += summary_rows(summary, str(path))
    benches = [(path, sources.read_bench(path)) for path in inputs.bench]
    sources.unique([(sources.bench_identity(b), path) for path, b in benches],
                   "dataset, network and device")
    for path, bench in benches:
        rows += bench_rows(bench, path, inputs.runtimes)
    gans = [(path, sources.read_gan_summary(path)) for path in inputs.gan_summaries]
    sources.unique([((parse_name(g["model"]).name,), path) for path, g in gans], "generator")
    for path, gan in gans:
        rows += gan_rows(gan, path)
    if inputs.study_results is not None:
        rows += study_rows(sources.read_study_results(inputs.study_results))
    rows += paper_rows(sources.read_paper(inputs.paper))
    return tidy(rows, archopt_budgets(searches, catalogs))


TEXT_COLUMNS = ("source", "dataset", "model", "paper_name", "family", "technique", "scaling",
                "budget_of", "metric", "device", "runtime", "note")


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """``results/report/results.csv`` back as the tidy table (empty text stays ``""``)."""
    frame = sources.read_csv(path, TIDY_COLUMNS)
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str)
    frame["depth"] = frame["depth"].astype("Int64")
    return frame
