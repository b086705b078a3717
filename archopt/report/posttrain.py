"""Post-training results in the report: architecture vs post-training, and what each
method adds.

Reads every ``results/posttrain/{dataset}/{model}+{method}/summary.json`` with its bench
files (the ``cpu.json`` the stage writes, and each external device's imported
``{device}.json``), matched by the dataset and network their JSON names, and sets them
against the study's own networks:

* **architecture vs post-training** (per dataset): every studied network, each followed
  by its post-training results: accuracy with its 95% Wilson interval (from the outputs
  of the runtime that runs the deployable file), parameters, bytes of the deployable file
  (``model.onnx``; for the study's networks their fp32 export), latency per device and
  runtime (mean ± std), and the method's verdict against the network it was made from;
* **each method's own part**, from the method's report hooks
  (:class:`archopt.posttrain.PostTrainMethod`): its words for what it did (``describe``),
  its verdict, its columns and notes in results.csv, its tables, findings and flowchart
  leaves. This module names no method: a plugin's method takes part as a shipped one does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from archopt.models import parse_name
from archopt.posttrain import Outcome, PostTrainMethod, get_posttrain_method, list_posttrain_methods
from archopt.report import sources
from archopt.report.analysis import Lookup, Measurement, models_of
from archopt.report.findings import Verdict
from archopt.report.flowchart import Leaf
from archopt.report.table import (
    ARCHOPT,
    ATTRIBUTE_COLUMNS,
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

LOCAL_DEVICE = "cpu"  # the post-training stage times on this machine's CPU (its cpu.json)
LOW_COMPUTE = ("cpu",)  # report.low_compute_devices' default
# The base network's attributes a result's rows keep: a method's columns may not change them.
IDENTITY_COLUMNS = ("source", "dataset", "model", "family", "depth", "technique", "scaling")
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

    def registered_method(self) -> PostTrainMethod | None:
        """The method that made it; None where its plugin is not loaded here (the report
        then shows what the summary says, without the method's own parts)."""
        if self.method not in list_posttrain_methods():
            return None
        return get_posttrain_method(self.method)

    def label(self) -> str:
        """What was done, in words (the method's ``describe``)."""
        method = self.registered_method()
        if method is None:
            return str(self.summary.get("method_label", self.method))
        return method.describe(self.summary)


@dataclass
class PostTrainData:
    results: list[PostTrainResult] = field(default_factory=list)

    def of(self, dataset: str | None = None, base: str | None = None,
           method: str | None = None) -> list[PostTrainResult]:
        """The results of ``dataset``, made from ``base`` by ``method`` (None: any)."""
        return [r for r in self.results
                if (dataset is None or r.dataset == dataset)
                and (base is None or r.base == base) and (method is None or r.method == method)]

    def datasets(self, method: str | None = None) -> list[str]:
        """The datasets with results (of ``method``; None: any), in reading order."""
        return list(dict.fromkeys(r.dataset for r in self.of(method=method)))

    def methods(self) -> list[PostTrainMethod]:
        """The registered methods with results, in registration order (the report's)."""
        present = {r.method for r in self.results}
        return [get_posttrain_method(name) for name in list_posttrain_methods()
                if name in present]


@dataclass(frozen=True)
class MethodFinding:
    """A finding a method states about its results (its ``findings`` hook): its number
    in findings.csv, its statement, and a verdict per dataset, device and runtime."""

    number: int
    statement: str
    verdicts: list[Verdict]


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
    method = result.registered_method()
    for device, bench in result.benches.items():
        for runtime in sources.runtimes_present(bench):
            entry = bench[runtime]
            note = method.latency_note(summary, entry) if method else ""
            rows += runtime_rows(entry, device, runtime, f"{where} on {device}", note,
                                 sources.number(bench, "images", f"{where} on {device}"))
    info = parse_name(result.base)
    attributes = {"source": ARCHOPT, "dataset": result.dataset, "model": result.model,
                  "paper_name": "", "family": info.family, "depth": info.depth,
                  "technique": info.technique, "scaling": result.method, "width_factor": None,
                  "budget_of": ""} | method_columns(method, summary)
    return [attributes | row for row in rows]


def method_columns(method: PostTrainMethod | None, summary: dict[str, Any]) -> dict[str, Any]:
    """The method's own results.csv attributes of a result (its ``report_columns``),
    refused where they are not attribute columns or would change the base network's."""
    if method is None:
        return {}
    columns = dict(method.report_columns(summary))
    allowed = set(ATTRIBUTE_COLUMNS) - set(IDENTITY_COLUMNS)
    wrong = sorted(set(columns) - allowed)
    if wrong:
        raise ValueError(f"{method!r}: report_columns gave {wrong}; a method may fill only "
                         f"{sorted(allowed)}")
    return columns


def runtime_rows(entry: dict[str, Any], device: str, runtime: str, where: str,
                 note: str = "", images: float | None = None) -> list[dict[str, Any]]:
    if sources.not_measured(entry):
        return [measurement("latency_ms", None, device=device, runtime=runtime,
                            note=sources.not_measured(entry))]
    mean = sources.number(entry, "mean_ms", where)
    rows = [measurement("latency_ms", mean, device=device, runtime=runtime,
                        std=sources.number(entry, "std_ms", where),
                        ci=sources.interval(entry, "ci95_ms", where, centre=mean),
                        n=sources.number(entry, "n", where), note=note)]
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
    method = result.registered_method()
    if method is None:
        return ""

    # Like with like: both networks' outputs in the deployment runtime on the same images.
    accuracy = f"bench_{PRIMARY_ACCURACY[result.dataset]}"
    runtime = deployed_runtime().name

    def outcome(model: str) -> Outcome:
        values = [lookup.get(ARCHOPT, result.dataset, model, accuracy, LOCAL_DEVICE, runtime)]
        values += [lookup.get(ARCHOPT, result.dataset, model, metric)
                   for metric in ("params", "onnx_bytes")]
        return Outcome(*(None if v is None else float(v.value) for v in values))

    return method.verdict(outcome(result.model), outcome(result.base))


def posttrain_findings(data: PostTrainData, table: pd.DataFrame) -> list[MethodFinding]:
    """Every method's findings on its results (its ``findings`` hook), in registration
    order; ``table`` (the tidy table) holds the study's own networks, every device's."""
    return [finding for method in data.methods() for finding in method.findings(data, table)]


def with_finding_rows(frame: pd.DataFrame, findings: list[MethodFinding]) -> pd.DataFrame:
    """findings.csv's frame followed by the methods' verdicts."""
    rows = pd.DataFrame(
        [{"finding": f.number, "statement": f.statement, "source": v.source,
          "dataset": v.dataset, "device": v.device, "runtime": v.runtime, "verdict": v.verdict,
          "provisional": v.provisional, "evidence": " | ".join(v.evidence)}
         for f in findings for v in f.verdicts], columns=frame.columns)
    return frame if rows.empty else pd.concat([frame, rows], ignore_index=True)


def posttrain_leaves(data: PostTrainData, table: pd.DataFrame,
                     low_compute: tuple[str, ...] = LOW_COMPUTE) -> list[Leaf]:
    """Every method's flowchart leaves (its ``flowchart_leaves`` hook): ``low_compute`` is
    ``report.low_compute_devices``, the devices whose leaves go under the low-compute needs."""
    return [leaf for method in data.methods()
            for leaf in method.flowchart_leaves(data, table, low_compute)]


def method_tables(table: pd.DataFrame, data: PostTrainData, dataset: str
                  ) -> list[tuple[str, pd.DataFrame]]:
    """The methods' own (title, table) pairs of ``dataset`` (their ``report_tables``)."""
    return [pair for method in data.methods()
            for pair in method.report_tables(table, data, dataset)]


@dataclass(frozen=True)
class PostTrainPanel:
    """One dataset's post-training tables."""

    dataset: str
    not_run: list[str]  # the runtimes a device has no column for, in words
    versus: pd.DataFrame  # every studied network followed by its post-training results
    tables: list[tuple[str, pd.DataFrame]]  # (title, table) the methods add


def posttrain_data(table: pd.DataFrame, data: PostTrainData, findings: list[MethodFinding]
                   ) -> dict[str, Any]:
    """What the "Post-training" section shows (templates/posttrain.html); ``findings``
    are :func:`posttrain_findings`'."""
    combined = with_posttrain_rows(table, data)
    panels = [PostTrainPanel(dataset, not_run_notes(combined, dataset),
                             architecture_vs_posttrain(table, data, dataset),
                             method_tables(table, data, dataset))
              for dataset in data.datasets()]
    return {"ran": bool(data.results), "panels": panels, "findings": findings}
