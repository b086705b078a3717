"""What int8 adds to the report's post-training section: finding 6, the "quantize" leaf,
the table of recipes tried.

* **finding 6**, "int8 quantization lowers latency on CPU", per dataset, device and
  runtime: in every network, the int8 file is faster than fp32 in the same runtime
  (disjoint 95% intervals of the mean) and within ``posttrain.int8_max_drop`` points of
  its top-1. On this machine (``cpu``) that is the chosen recipe against fp32 timed
  interleaved on the same images; on an imported device, the ``model.onnx`` it timed
  against the base network's fp32 file timed on that device (separate runs);
* **the "quantize" leaf** of the flowchart's latency need of the device's class
  (``report.low_compute_devices``: low-compute, else high-compute), for a device and
  runtime only where int8 is measured faster and within tolerance (and for which networks);
* **the recipes tried**, per network and runtime: median latency, ratio, top-1.

Imported by the method's report hooks (:class:`archopt.posttrain.int8.Int8`) when the
report asks; the report itself names no method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from archopt.report import sources
from archopt.report.analysis import Lookup, Measurement, compare_latency
from archopt.report.findings import Check, Part, Verdict, evidence_of, verdict_of
from archopt.report.flowchart import Leaf
from archopt.report.posttrain import LOCAL_DEVICE, MethodFinding, PostTrainData, PostTrainResult
from archopt.report.table import ARCHOPT
from archopt.report.tables import fmt_bytes

FINDING = 6
STATEMENT = "int8 quantization lowers latency on CPU."
METHOD = "int8"


def max_drop(result: PostTrainResult) -> float | None:
    """``posttrain.int8_max_drop`` as the int8 job applied it (in its cpu.json)."""
    drops = [entry["int8_max_drop"] for entry in result.bench.values()
             if isinstance(entry, dict) and entry.get("int8_max_drop") is not None]
    return float(drops[0]) if drops else None


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
        fp32_top1, drop_allowed = float(fp32["top1"]), float(entry["int8_max_drop"])
        within, recipe, how = bool(entry["within_tolerance"]), str(entry["recipe"]), ""
    else:
        reference = lookup.latency(ARCHOPT, result.dataset, result.base, device, runtime)
        top1 = lookup.get(ARCHOPT, result.dataset, result.base, "bench_top1", device, runtime)
        drop_allowed = max_drop(result)
        if (reference is None or top1 is None or drop_allowed is None
                or entry.get("top1") is None):
            return None
        fp32_top1 = top1.value
        within = fp32_top1 - float(entry["top1"]) <= drop_allowed
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
                    f"({-drop:+.2f} points, tolerance {drop_allowed:g})")
    return Int8Comparison(result, recipe, ratio, faster, checked)


def int8_pairs(data: PostTrainData, dataset: str | None = None) -> list[tuple[str, str]]:
    """(device, runtime) with an entry (timed or skipped) of an int8 result of ``dataset``
    (every dataset when None): this machine's first, then each imported device's."""
    pairs = list(dict.fromkeys(
        (device, runtime) for r in data.of(dataset, method=METHOD)
        for device, bench in r.benches.items() for runtime in sources.runtimes_present(bench)))
    devices = list(dict.fromkeys([LOCAL_DEVICE, *(device for device, _ in pairs)]))
    return sorted(pairs, key=lambda pair: devices.index(pair[0]))


def int8_checks(data: PostTrainData, dataset: str, device: str, runtime: str, lookup: Lookup
                ) -> list[Int8Comparison]:
    found = []
    for result in data.of(dataset, method=METHOD):
        comparison = int8_check(result, device, runtime, lookup)
        if comparison is not None:
            found.append(comparison)
    return found


def never_ran(data: PostTrainData, dataset: str, device: str, runtime: str) -> bool:
    """Whether no int8 file of ``dataset`` ran in this runtime of this device (eager)."""
    return all(sources.not_measured(r.benches.get(device, {}).get(runtime, {"skipped": ""}))
               for r in data.of(dataset, method=METHOD))


def int8_finding(data: PostTrainData, table: pd.DataFrame) -> list[MethodFinding]:
    """Finding 6 per dataset, device and runtime that ran an int8 file; ``table`` (the
    tidy table) holds the imported devices' fp32 timings."""
    lookup = Lookup(table)
    verdicts = []
    for dataset in data.datasets(METHOD):
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
    return [MethodFinding(FINDING, STATEMENT, verdicts)] if verdicts else []


def quantize_leaves(data: PostTrainData, table: pd.DataFrame, low_compute: tuple[str, ...]
                    ) -> list[Leaf]:
    """A "quantize" leaf per device and runtime where int8 is measured faster and within
    tolerance, naming the networks where it is: under the low-compute latency need for the
    devices of ``low_compute`` (``report.low_compute_devices``), else the high-compute one,
    as the fp32 leaves of the same device."""
    lookup = Lookup(table)
    leaves = []
    for device, runtime in int8_pairs(data):
        checks = [c for d in data.datasets(METHOD)
                  for c in int8_checks(data, d, device, runtime, lookup)]
        good = [c for c in checks if c.faster.holds and c.within.holds]
        if not good:
            continue
        names = ", ".join(f"{c.result.base} ({c.recipe}, x{c.ratio:.2f})" for c in good)
        scope = "every network" if len(good) == len(checks) else f"{len(good)}/{len(checks)} networks"
        need = "latency_low" if device in low_compute else "latency_high"
        leaves.append(Leaf(need, f"{device} / {runtime}", f"quantize to int8 ({scope})",
                           f"int8 vs fp32 latency: {names}"))
    return leaves


def recipe_tables(data: PostTrainData, dataset: str) -> list[tuple[str, pd.DataFrame]]:
    """Every int8 recipe tried, per network and runtime: median latency, ratio, top-1."""
    records = []
    for result in data.of(dataset, method=METHOD):
        for runtime in sources.runtimes_present(result.bench):
            entry = result.bench[runtime]
            if "recipes" not in entry:
                continue
            records += recipe_records(result.base, runtime, entry)
    if not records:
        return []
    title = f"{dataset}: quantization recipes tried per runtime, on this machine ({LOCAL_DEVICE})"
    return [(title, pd.DataFrame(records))]


def recipe_records(network: str, runtime: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per recipe of one runtime's entry, set against the fp32 file timed with it."""
    fp32 = entry["fp32"]
    records = []
    for name, recipe in entry["recipes"].items():
        failed = "error" in recipe
        records.append({
            "network": network, "runtime": runtime, "recipe": name,
            "chosen": "yes" if name == entry["recipe"] else "",
            "median ms": None if failed else f"{recipe['median_ms']:.3f}",
            "fp32 median ms": f"{fp32['median_ms']:.3f}",
            "int8 / fp32": None if failed else f"{recipe['median_ms'] / fp32['median_ms']:.2f}",
            "top-1 %": None if failed else f"{recipe['top1']:.2f}",
            "fp32 top-1 %": f"{fp32['top1']:.2f}",
            "file": fmt_bytes(Measurement(float(recipe["bytes"]))),
            "error": recipe.get("error", ""),
        })
    return records
