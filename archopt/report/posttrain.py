"""Post-training results in the report: architecture vs post-training, finding 6, "quantize".

Reads every ``results/posttrain/{dataset}/{model}+{method}/summary.json`` with its bench
files (the ``cpu.json`` the stage writes, and each external device's imported
``{device}.json``), matched by the dataset and network their JSON names, and sets them
against the study's own networks:

* **architecture vs post-training** (per dataset): every studied network, each followed
  by its post-training results: accuracy with its 95% Wilson interval (from the outputs
  of the runtime that runs the deployable file), parameters, bytes of the deployable file
  (``model.onnx``; for the study's networks their fp32 export), latency per device and
  runtime (mean ± std);
* **equal budget with pruning**: the tables of the base nets reduced to an optimized
  net's size (paper Tables 7-12) with the pruned base net as one more row;
* **finding 6**, "int8 quantization lowers latency on CPU", per dataset, device and
  runtime: in every network, the int8 file is faster than fp32 in the same runtime
  (disjoint 95% intervals of the mean) and within ``posttrain.int8_max_drop`` points of
  its top-1. On this machine (``cpu``) that is the chosen recipe against fp32 timed
  interleaved on the same images; on an imported device, the ``model.onnx`` it timed
  against the base network's fp32 file timed on that device (separate runs);
* **the "quantize" leaf** of the flowchart's latency need of the device's class
  (``report.low_compute_devices``: low-compute, else high-compute), for a device and
  runtime only where int8 is measured faster and within tolerance (and for which networks).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from archopt.models import parse_name
from archopt.posttrain import Outcome, get_posttrain_method, list_posttrain_methods
from archopt.report import sources
from archopt.report.analysis import (
    Lookup,
    Measurement,
    compare_latency,
    models_of,
    role_label,
    scenario_groups,
)
from archopt.report.findings import Check, Part, Verdict, evidence_of, verdict_of
from archopt.report.flowchart import Leaf
from archopt.report.table import (
    ARCHOPT,
    PRIMARY_ACCURACY,
    TIDY_COLUMNS,
    bench_accuracy_rows,
    measurement,
)
from archopt.report.tables import (
    ACCURACY_LABELS,
    DEVICE_LABELS,
    fmt_bytes,
    fmt_count,
    fmt_interval,
    fmt_spread,
    not_run_notes,
    two_level,
)
from archopt.runtimes import deployed_runtime

FINDING = 6
STATEMENT = "int8 quantization lowers latency on CPU."
LOCAL_DEVICE = "cpu"  # the post-training stage times on this machine's CPU (its cpu.json)
LOW_COMPUTE = ("cpu",)  # report.low_compute_devices' default
SUMMARY_KEYS = ("model", "base_model", "method", "spec", "dataset", "test_top1", "test_top5",
                "params", "storage_bytes")


@dataclass(frozen=True)
class PostTrainResult:
    """One post-training result: its summary and its bench files, by device (``cpu`` first:
    the stage's own ``cpu.json``; then the external devices' imported files)."""

    summary: dict[str, Any]
    benches: dict[str, dict[str, Any]]

    @property
    def bench(self) -> dict[str, Any]:
        """The post-training stage's own bench file (``cpu.json``)."""
        return self.benches[LOCAL_DEVICE]

    @property
    def max_drop(self) -> float | None:
        """``posttrain.int8_max_drop`` as the int8 stage applied it (in its cpu.json)."""
        drops = [entry["int8_max_drop"] for entry in self.bench.values()
                 if isinstance(entry, dict) and entry.get("int8_max_drop") is not None]
        return float(drops[0]) if drops else None

    @property
    def model(self) -> str:
        return str(self.summary["model"])

    @property
    def dataset(self) -> str:
        return str(self.summary["dataset"])

    @property
    def base(self) -> str:
        return parse_name(str(self.summary["base_model"])).name

    @property
    def method(self) -> str:
        return str(self.summary["method"])

    def label(self) -> str:
        """What was done, in words (the method's ``describe``): ``int8 (qdq_s8s8 in ...)``."""
        if self.method not in list_posttrain_methods():  # its plugin is not loaded here
            return str(self.summary.get("method_label", self.method))
        return get_posttrain_method(self.method).describe(self.summary)


@dataclass
class PostTrainData:
    results: list[PostTrainResult] = field(default_factory=list)

    def of(self, dataset: str, base: str | None = None) -> list[PostTrainResult]:
        return [r for r in self.results
                if r.dataset == dataset and (base is None or r.base == base)]


def read_posttrain(summaries: Sequence[str | os.PathLike],
                   benches: Sequence[str | os.PathLike] = ()) -> PostTrainData:
    """Every summary of ``summaries`` with the files of ``benches`` that name its dataset
    and network (each result needs its ``cpu`` file; other devices are optional)."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, tuple[str, dict]]]] = {}
    for path in summaries:
        summary = sources.read_json(path)
        sources.require_keys(summary, SUMMARY_KEYS, str(path))
        key = sources.identity(summary, ("dataset", "model"), str(path))
        sources.identity(summary, ("base_model", "method"), str(path))
        if key in found:
            raise sources.ReportInputError(f"{path}: holds the same post-training result as "
                                           f"{found[key][0]} ({', '.join(key)})")
        found[key] = (str(path), summary, {})
    for path in benches:
        bench = sources.read_bench(path)
        dataset, model, device = sources.bench_identity(bench)
        if (dataset, model) not in found:
            raise sources.ReportInputError(
                f"{path}: bench file of {model} on {dataset}, which has no post-training "
                "summary among the report's inputs")
        files = found[(dataset, model)][2]
        if device in files:
            raise sources.ReportInputError(f"{path}: holds the same result as {files[device][0]} "
                                           f"({dataset}, {model}, {device})")
        files[device] = (str(path), bench)
    results = []
    for path, summary, files in found.values():
        if LOCAL_DEVICE not in files:
            raise sources.ReportInputError(
                f"{path}: no {LOCAL_DEVICE} bench file of {summary['model']} on "
                f"{summary['dataset']} among the report's inputs (the post-training stage "
                "writes it with the summary)")
        ordered = {LOCAL_DEVICE: files[LOCAL_DEVICE][1]}
        ordered |= {device: bench for device, (_, bench) in files.items()}
        results.append(PostTrainResult(summary, ordered))
    return PostTrainData(results)


def result_rows(result: PostTrainResult) -> list[dict[str, Any]]:
    """Tidy-table rows of one result (results.csv), attributes taken from its base net."""
    summary, where = result.summary, result.model
    images = sources.number(summary, "test_images", where)
    rows = [measurement(metric, sources.number(summary, f"test_{metric}", where),
                        ci=sources.interval(summary, f"test_{metric}_ci95", where), n=images)
            for metric in ("top1", "top5")]
    rows += [measurement(metric, sources.number(summary, metric, where))
             for metric in ("params", "storage_bytes")]
    rows.append(measurement("onnx_bytes", sources.number(summary, "storage_bytes", where)))
    for device, bench in result.benches.items():
        # An imported device timed model.onnx: the recipe the summary names.
        recipe = None if device == LOCAL_DEVICE else summary.get("recipe")
        for runtime in sources.runtimes_present(bench):
            rows += runtime_rows(bench[runtime], device, runtime, f"{where} on {device}", recipe,
                                 sources.number(bench, "images", f"{where} on {device}"))
    info = parse_name(result.base)
    budget = summary.get("pruning", {}).get("budget_of", "")
    attributes = {"source": ARCHOPT, "dataset": result.dataset, "model": result.model,
                  "paper_name": "", "family": info.family, "depth": info.depth,
                  "technique": info.technique, "scaling": result.method, "width_factor": None,
                  "budget_of": budget}
    return [attributes | row for row in rows]


def runtime_rows(entry: dict[str, Any], device: str, runtime: str, where: str,
                 recipe: str | None = None, images: float | None = None
                 ) -> list[dict[str, Any]]:
    if sources.not_measured(entry):
        return [measurement("latency_ms", None, device=device, runtime=runtime,
                            note=sources.not_measured(entry))]
    mean = sources.number(entry, "mean_ms", where)
    recipe = entry.get("recipe", recipe)
    rows = [measurement("latency_ms", mean, device=device, runtime=runtime,
                        std=sources.number(entry, "std_ms", where),
                        ci=sources.interval(entry, "ci95_ms", where, centre=mean),
                        n=sources.number(entry, "n", where),
                        note=f"recipe={recipe}" if recipe else "")]
    if entry.get("median_ms") is not None:
        rows.append(measurement("latency_median_ms", sources.number(entry, "median_ms", where),
                                device=device, runtime=runtime))
    return rows + bench_accuracy_rows(entry, device, runtime, where, images)


def posttrain_frame(data: PostTrainData) -> pd.DataFrame:
    """The post-training rows in the tidy table's columns (appended to results.csv)."""
    rows = [row for result in data.results for row in result_rows(result)]
    frame = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    frame["depth"] = frame["depth"].astype("Int64")
    return frame


def with_posttrain_rows(table: pd.DataFrame, data: PostTrainData) -> pd.DataFrame:
    """The tidy table followed by the post-training rows (results.csv)."""
    if not data.results:
        return table
    return pd.concat([table, posttrain_frame(data)], ignore_index=True)


def combined_lookup(table: pd.DataFrame, data: PostTrainData) -> Lookup:
    return Lookup(with_posttrain_rows(table, data))


def latency_columns(lookup: Lookup, dataset: str, models: list[str]) -> list[tuple[str, str]]:
    """(device, runtime) pairs with latency rows for any of ``models``."""
    rows = lookup.table[(lookup.table["source"] == ARCHOPT) & (lookup.table["dataset"] == dataset)
                        & (lookup.table["metric"] == "latency_ms")
                        & lookup.table["model"].isin(models)]
    return list(dict.fromkeys(zip(rows["device"], rows["runtime"])))


def network_row(lookup: Lookup, dataset: str, model: str, what: str,
                pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    primary = PRIMARY_ACCURACY[dataset]
    accuracy = lookup.accuracy(ARCHOPT, dataset, model)
    row: dict[tuple[str, str], str | None] = {
        ("network", ""): model, ("post-training", ""): what,
        (f"{ACCURACY_LABELS[primary]} [95% CI]", ""): fmt_interval(accuracy),
        # A study network's accuracy is the whole test set's, a post-training result's
        # the benchmarked images': the table says which, row by row.
        ("accuracy from", ""): images_text(accuracy),
        ("parameters", ""): fmt_count(lookup.get(ARCHOPT, dataset, model, "params")),
        ("deployable file", ""): fmt_bytes(lookup.get(ARCHOPT, dataset, model, "onnx_bytes")),
    }
    for device, runtime in pairs:
        label = f"{DEVICE_LABELS.get(device, device)} latency ms (mean ± std)"
        row[(label, runtime)] = fmt_spread(lookup.latency(ARCHOPT, dataset, model, device, runtime))
    return row


def images_text(accuracy: Measurement | None) -> str | None:
    """``first 200 test images`` / ``10,000 test images``: where an accuracy comes from."""
    if accuracy is None or math.isnan(accuracy.n):
        return None
    return f"{accuracy.n:,.0f} test images"


def architecture_vs_posttrain(table: pd.DataFrame, data: PostTrainData, dataset: str
                              ) -> pd.DataFrame:
    """Every studied network followed by its post-training results."""
    lookup = combined_lookup(table, data)
    studied = list(models_of(table, ARCHOPT, dataset)["model"])
    ordered = [(model, "none (architecture only)") for model in studied]
    for result in data.of(dataset):
        if result.base not in studied:
            ordered.append((result.model, result.label()))
    rows: list[tuple[str, str]] = []
    for model, what in ordered:
        rows.append((model, what))
        rows += [(r.model, r.label()) for r in data.of(dataset, model)]
    pairs = latency_columns(lookup, dataset, [model for model, _ in rows])
    verdicts = {r.model: method_verdict(lookup, r) for r in data.of(dataset)}
    return two_level([network_row(lookup, dataset, model, what, pairs)
                      | {("verdict", ""): verdicts.get(model, "")} for model, what in rows])


def method_verdict(lookup: Lookup, result: PostTrainResult) -> str:
    """The method's own verdict (its ``verdict`` hook) on ``result`` against its base net."""
    if result.method not in list_posttrain_methods():
        return ""

    # Like with like: both networks' outputs in the deployment runtime on the same images.
    accuracy = f"bench_{PRIMARY_ACCURACY[result.dataset]}"
    runtime = deployed_runtime().name

    def outcome(model: str) -> Outcome:
        values = [lookup.get(ARCHOPT, result.dataset, model, accuracy, LOCAL_DEVICE, runtime)]
        values += [lookup.get(ARCHOPT, result.dataset, model, metric)
                   for metric in ("params", "onnx_bytes")]
        return Outcome(*(None if v is None else float(v.value) for v in values))

    return get_posttrain_method(result.method).verdict(outcome(result.model), outcome(result.base))


def pruned_budget_tables(table: pd.DataFrame, data: PostTrainData, dataset: str
                         ) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) per technique: the reduced-base-net groups plus the pruned base net."""
    lookup = combined_lookup(table, data)
    pruned = {(r.base, r.summary.get("pruning", {}).get("budget_of")): r for r in data.of(dataset)
              if r.method == "prune"}
    tables = []
    for technique in sorted({budget.rsplit("-", 1)[-1] for _, budget in pruned if budget}):
        groups = scenario_groups(models_of(table, ARCHOPT, dataset), f"reduced_{technique}")
        rows = []
        for group in groups:
            slots = [(model, role_label(role)) for role, model in group.slots.items()]
            result = pruned.get((group.name, f"{group.name}-{technique}"))
            if result is not None:
                slots.append((result.model, "pruned (Torch-Pruning)"))
            rows += slots
        for (base, budget), result in pruned.items():
            if budget == f"{base}-{technique}" and not any(m == result.model for m, _ in rows):
                rows += [(budget, "optimized net"), (result.model, "pruned (Torch-Pruning)")]
        if rows:
            pairs = latency_columns(lookup, dataset, [model for model, _ in rows])
            tables.append((f"Base nets reduced or pruned to the {technique} net's size",
                           two_level([network_row(lookup, dataset, m, what, pairs)
                                      for m, what in rows])))
    return tables


@dataclass(frozen=True)
class Int8Comparison:
    """An int8 result against fp32 in one runtime of one device: the two checks of
    finding 6 and the numbers the flowchart's leaf names."""

    result: PostTrainResult
    recipe: str
    ratio: float  # int8 / fp32 mean latency
    faster: Check
    within: Check


def int8_check(result: PostTrainResult, device: str, runtime: str, lookup: Lookup
               ) -> Int8Comparison | None:
    """(faster than fp32, within tolerance) of one int8 result in one runtime of one
    device; None where either side was not measured. On this machine fp32 is the one timed
    interleaved with the recipes (``fp32`` of the entry); on an imported device, the base
    network's fp32 file timed on that device (the table's row of it)."""
    entry = result.benches.get(device, {}).get(runtime, {})
    if not isinstance(entry, dict) or not entry or sources.not_measured(entry):
        return None
    if device == LOCAL_DEVICE:
        if "fp32" not in entry:
            return None
        fp32 = entry["fp32"]
        reference = Measurement(fp32["mean_ms"], ci_low=fp32["mean_ms"] - fp32["ci95_ms"],
                                ci_high=fp32["mean_ms"] + fp32["ci95_ms"])
        fp32_top1, max_drop = float(fp32["top1"]), float(entry["int8_max_drop"])
        within, recipe, how = bool(entry["within_tolerance"]), str(entry["recipe"]), ""
    else:
        reference = lookup.latency(ARCHOPT, result.dataset, result.base, device, runtime)
        top1 = lookup.get(ARCHOPT, result.dataset, result.base, "bench_top1", device, runtime)
        max_drop = result.max_drop
        if reference is None or top1 is None or max_drop is None or entry.get("top1") is None:
            return None
        fp32_top1 = top1.value
        within = fp32_top1 - float(entry["top1"]) <= max_drop
        recipe, how = str(result.summary.get("recipe", "model.onnx")), ", separate runs"
    ours = Measurement(entry["mean_ms"], ci_low=entry["mean_ms"] - entry["ci95_ms"],
                       ci_high=entry["mean_ms"] + entry["ci95_ms"])
    outcome = compare_latency(ours, reference)
    drop = fp32_top1 - float(entry["top1"])
    ratio = ours.value / reference.value
    faster = Check(outcome == "faster",
                   f"{result.base}: int8 {recipe} {ours.value:.3f} ms vs fp32 "
                   f"{reference.value:.3f} ms (x{ratio:.2f}, {outcome}{how})")
    checked = Check(within,
                    f"{result.base}: top-1 {float(entry['top1']):.2f}% vs fp32 {fp32_top1:.2f}% "
                    f"({-drop:+.2f} points, tolerance {max_drop:g})")
    return Int8Comparison(result, recipe, ratio, faster, checked)


def int8_pairs(data: PostTrainData, dataset: str | None = None) -> list[tuple[str, str]]:
    """(device, runtime) with an entry (timed or skipped) of an int8 result of ``dataset``
    (every dataset when None): this machine's first, then each imported device's."""
    pairs = list(dict.fromkeys(
        (device, runtime) for r in data.results if r.method == "int8"
        and (dataset is None or r.dataset == dataset)
        for device, bench in r.benches.items() for runtime in sources.runtimes_present(bench)))
    devices = list(dict.fromkeys([LOCAL_DEVICE, *(device for device, _ in pairs)]))
    return sorted(pairs, key=lambda pair: devices.index(pair[0]))


def int8_checks(data: PostTrainData, dataset: str, device: str, runtime: str, lookup: Lookup
                ) -> list[Int8Comparison]:
    found = []
    for result in (r for r in data.of(dataset) if r.method == "int8"):
        comparison = int8_check(result, device, runtime, lookup)
        if comparison is not None:
            found.append(comparison)
    return found


def datasets_of(data: PostTrainData) -> list[str]:
    return list(dict.fromkeys(r.dataset for r in data.results))


def never_ran(data: PostTrainData, dataset: str, device: str, runtime: str) -> bool:
    """Whether no int8 file of ``dataset`` ran in this runtime of this device (eager)."""
    return all(sources.not_measured(r.benches.get(device, {}).get(runtime, {"skipped": ""}))
               for r in data.of(dataset) if r.method == "int8")


def int8_verdicts(data: PostTrainData, table: pd.DataFrame) -> list[Verdict]:
    """Finding 6 per dataset, device and runtime that ran an int8 file; ``table`` (the
    tidy table) holds the imported devices' fp32 timings."""
    lookup = Lookup(table)
    verdicts = []
    for dataset in datasets_of(data):
        for device, runtime in int8_pairs(data, dataset):
            checks = int8_checks(data, dataset, device, runtime, lookup)
            if not checks and never_ran(data, dataset, device, runtime):
                continue  # a runtime that never ran an int8 file (eager) has no verdict
            parts = [Part("int8 faster than fp32 in the same runtime",
                          tuple(c.faster for c in checks)),
                     Part("int8 within posttrain.int8_max_drop of fp32 top-1",
                          tuple(c.within for c in checks))]
            verdicts.append(Verdict(FINDING, ARCHOPT, dataset, device, runtime,
                                    verdict_of(parts), evidence_of(parts)))
    return verdicts


def with_finding_rows(frame: pd.DataFrame, verdicts: list[Verdict]) -> pd.DataFrame:
    """findings.csv's frame followed by finding 6's verdicts."""
    if not verdicts:
        return frame
    rows = pd.DataFrame(
        [{"finding": v.finding, "statement": STATEMENT, "source": v.source, "dataset": v.dataset,
          "device": v.device, "runtime": v.runtime, "verdict": v.verdict,
          "provisional": v.provisional, "evidence": " | ".join(v.evidence)} for v in verdicts],
        columns=frame.columns)
    return pd.concat([frame, rows], ignore_index=True)


def quantize_leaves(data: PostTrainData, table: pd.DataFrame,
                    low_compute: tuple[str, ...] = LOW_COMPUTE) -> list[Leaf]:
    """A "quantize" leaf per device and runtime where int8 is measured faster and within
    tolerance, naming the networks where it is: under the low-compute latency need for the
    devices of ``low_compute`` (``report.low_compute_devices``), else the high-compute one,
    as the fp32 leaves of the same device."""
    lookup = Lookup(table)
    leaves = []
    for device, runtime in int8_pairs(data):
        checks = [c for d in datasets_of(data) for c in int8_checks(data, d, device, runtime,
                                                                    lookup)]
        good = [c for c in checks if c.faster.holds and c.within.holds]
        if not good:
            continue
        names = ", ".join(f"{c.result.base} ({c.recipe}, x{c.ratio:.2f})" for c in good)
        scope = "every network" if len(good) == len(checks) else f"{len(good)}/{len(checks)} networks"
        need = "latency_low" if device in low_compute else "latency_high"
        leaves.append(Leaf(need, f"{device} / {runtime}", f"quantize to int8 ({scope})",
                           f"int8 vs fp32 latency: {names}"))
    return leaves


@dataclass(frozen=True)
class PostTrainPanel:
    """One dataset's post-training tables."""

    dataset: str
    not_run: list[str]  # the runtimes a device has no column for, in words
    versus: pd.DataFrame  # every studied network followed by its post-training results
    budgets: list[tuple[str, pd.DataFrame]]  # (title, table) of the pruned equal-budget nets
    recipes: pd.DataFrame


def posttrain_data(table: pd.DataFrame, data: PostTrainData, verdicts: list[Verdict]
                   ) -> dict[str, Any]:
    """What the "Post-training" section shows (templates/posttrain.html)."""
    combined = with_posttrain_rows(table, data)
    panels = [PostTrainPanel(dataset, not_run_notes(combined, dataset),
                             architecture_vs_posttrain(table, data, dataset),
                             pruned_budget_tables(table, data, dataset),
                             recipe_table(data, dataset))
              for dataset in datasets_of(data)]
    return {"ran": bool(data.results), "panels": panels, "verdicts": verdicts,
            "finding": FINDING, "statement": STATEMENT}


def recipe_table(data: PostTrainData, dataset: str) -> pd.DataFrame:
    """Every int8 recipe tried, per network and runtime: median latency, ratio, top-1."""
    records = []
    for result in (r for r in data.of(dataset) if r.method == "int8"):
        for runtime in sources.runtimes_present(result.bench):
            entry = result.bench[runtime]
            if "recipes" not in entry:
                continue
            fp32 = entry["fp32"]
            for name, recipe in entry["recipes"].items():
                failed = "error" in recipe
                records.append({
                    "network": result.base, "runtime": runtime, "recipe": name,
                    "chosen": "yes" if name == entry["recipe"] else "",
                    "median ms": None if failed else f"{recipe['median_ms']:.3f}",
                    "fp32 median ms": f"{fp32['median_ms']:.3f}",
                    "int8 / fp32": None if failed else f"{recipe['median_ms'] / fp32['median_ms']:.2f}",
                    "top-1 %": None if failed else f"{recipe['top1']:.2f}",
                    "fp32 top-1 %": f"{fp32['top1']:.2f}",
                    "file": fmt_bytes(Measurement(float(recipe["bytes"]))),
                    "error": recipe.get("error", ""),
                })
    return pd.DataFrame(records)
