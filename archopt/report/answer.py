"""What to deploy on each device: every deployable variant measured there, their
accuracy-latency Pareto frontier, and the answers to the questions a developer asks.

A **variant** is one deployable file in one runtime on one device: a study network
(architecture technique and width, fp32) or a post-training result (a quantized or
pruned network, ...) of one. Its accuracy is the one its runtime's outputs reach on the device's benchmarked
images (``bench_top1``/``bench_top5`` of the tidy table, the dataset's primary metric),
so every accuracy compared on one device comes from the same images, with its 95% Wilson
interval; its latency is the mean single-image latency with its 95% interval.

The answers, per device and dataset:

* **fastest within tolerance**: the lowest mean latency among the variants whose accuracy
  is at most ``report.accuracy_tolerance`` points below the reference (the most accurate
  base network, fp32, measured on the device);
* **smallest within tolerance**: the smallest deployable file among the same variants;
* **most accurate under a budget**: per latency budget of ``report.latency_budgets_ms``
  for the device, the highest accuracy among the variants whose mean latency fits.

A runner-up whose interval overlaps the winner's (latency for the first, accuracy for the
third) is a tie and is named as one; file sizes are exact, so only equal sizes tie.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from archopt.datasets import reported_datasets
from archopt.models import parse_name
from archopt.posttrain import SEPARATOR
from archopt.report.analysis import Lookup, Measurement, compare_latency
from archopt.report.table import ARCHOPT, PRIMARY_ACCURACY
from archopt.techniques import BASE

FP32 = "fp32"  # the precision of a study network as trained
SCHEMA = "archopt.recommendations/1"
QUESTIONS = {
    "fastest_within_tolerance": "Fastest within the accuracy tolerance",
    "smallest_within_tolerance": "Smallest deployable file within the accuracy tolerance",
    "most_accurate_under_budget": "Most accurate under a latency budget",
}


@dataclass(frozen=True)
class Variant:
    """One deployable file in one runtime on one device, with what was measured there."""

    dataset: str
    device: str
    runtime: str
    model: str  # the deployable network: a study network or ``{network}+{method}``
    base: str  # the study network it comes from
    technique: str
    scaling: str
    width_factor: float | None
    precision: str  # fp32, or the post-training method's label
    accuracy: Measurement  # primary metric on the benchmarked images (n = images)
    latency: Measurement  # mean ms, 95% interval
    file_bytes: float | None
    warning: str = ""  # noisy / unreliable timings

    @property
    def label(self) -> str:
        return f"{self.model} in {self.runtime}"

    def accuracy_text(self) -> str:
        low, high = self.accuracy.interval
        return f"{self.accuracy.value:.2f}% [{low:.2f}, {high:.2f}]"

    def latency_text(self) -> str:
        low, high = self.latency.interval
        return f"{self.latency.value:.3f} ms [{low:.3f}, {high:.3f}]"


@dataclass(frozen=True)
class Answer:
    """The variant answering one question, its ties, and the numbers behind it."""

    question: str  # a key of QUESTIONS
    choice: Variant | None
    ties: tuple[Variant, ...] = ()
    evidence: str = ""
    budget_ms: float | None = None

    @property
    def title(self) -> str:
        title = QUESTIONS[self.question]
        return f"{title} ({self.budget_ms:g} ms)" if self.budget_ms is not None else title


@dataclass(frozen=True)
class DeviceAnswer:
    """Everything the report says about deploying one dataset's networks on one device."""

    device: str
    dataset: str
    imported: bool
    images: int | None  # the benchmarked images every accuracy here comes from
    tolerance: float
    reference: Variant | None
    variants: tuple[Variant, ...]
    frontier: tuple[Variant, ...]
    answers: tuple[Answer, ...] = field(default_factory=tuple)

    @property
    def metric(self) -> str:
        return PRIMARY_ACCURACY[self.dataset]

    @property
    def floor(self) -> float | None:
        """The lowest accuracy within the tolerance of the reference."""
        return None if self.reference is None else self.reference.accuracy.value - self.tolerance

    def answer(self, question: str) -> Answer:
        return next(a for a in self.answers if a.question == question)


def base_network(model: str) -> str:
    """The study network a deployable file comes from (``{network}+{spec}`` -> ``{network}``)."""
    return model.split(SEPARATOR, 1)[0]


def deployable_variants(lookup: Lookup, dataset: str, device: str,
                        precisions: Mapping[str, str]) -> list[Variant]:
    """Every (network, runtime) with a mean latency and an accuracy on ``device``'s
    benchmarked images; ``precisions``: post-training result -> its method's label."""
    table = lookup.table
    metric = f"bench_{PRIMARY_ACCURACY[dataset]}"
    rows = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["device"] == device) & (table["metric"] == "latency_ms")
                 & table["value"].notna()]
    variants = []
    for row in rows.itertuples(index=False):
        accuracy = lookup.get(ARCHOPT, dataset, row.model, metric, device, row.runtime)
        if accuracy is None:
            continue
        base = base_network(row.model)
        info = parse_name(base)
        size = lookup.get(ARCHOPT, dataset, row.model, "onnx_bytes")
        iqr = lookup.get(ARCHOPT, dataset, row.model, "latency_iqr_ms", device, row.runtime)
        variants.append(Variant(
            dataset=dataset, device=device, runtime=row.runtime, model=row.model, base=base,
            technique=info.technique, scaling=info.scaling, width_factor=info.factor,
            precision=precisions.get(row.model, FP32), accuracy=accuracy,
            latency=lookup.latency(ARCHOPT, dataset, row.model, device, row.runtime),
            file_bytes=None if size is None else size.value,
            warning=iqr.note.removeprefix("warning=") if iqr is not None else ""))
    return sorted(variants, key=lambda v: v.latency.value)


def pareto_frontier(variants: Sequence[Variant]) -> list[Variant]:
    """The variants no other is both faster and at least as accurate as (point values),
    fastest first."""
    frontier: list[Variant] = []
    for variant in sorted(variants, key=lambda v: (v.latency.value, -v.accuracy.value)):
        if not frontier or variant.accuracy.value > frontier[-1].accuracy.value:
            frontier.append(variant)
    return frontier


def reference_of(variants: Sequence[Variant]) -> Variant | None:
    """The most accurate base network in fp32: what an optimized variant must stay near."""
    bases = [v for v in variants if v.technique == BASE and v.scaling == "none"
             and v.precision == FP32]
    return max(bases, key=lambda v: (v.accuracy.value, -v.latency.value), default=None)


def accuracies_tie(a: Measurement, b: Measurement) -> bool:
    a_low, a_high = a.interval
    b_low, b_high = b.interval
    return not (a_high < b_low or b_high < a_low)


def fastest_within(variants: Sequence[Variant], floor: float, reference: Variant,
                   tolerance: float) -> Answer:
    eligible = [v for v in variants if v.accuracy.value >= floor]
    rule = (f"reference {reference.label}, {reference.accuracy_text()}; tolerance "
            f"{tolerance:g} points: accuracy at least {floor:.2f}%; {len(eligible)} of "
            f"{len(variants)} variants qualify")
    if not eligible:
        return Answer("fastest_within_tolerance", None, evidence=rule)
    choice = min(eligible, key=lambda v: v.latency.value)
    ties = tuple(v for v in eligible if v is not choice
                 and compare_latency(v.latency, choice.latency) == "tie")
    faster = [v for v in variants if v.latency.value < choice.latency.value]
    evidence = f"{rule}; {choice.label}: {choice.latency_text()}, {choice.accuracy_text()}"
    if faster:
        evidence += (f"; {len(faster)} faster variant(s) lose more accuracy (fastest: "
                     f"{faster[0].label}, {faster[0].accuracy_text()})")
    return Answer("fastest_within_tolerance", choice, ties, evidence)


def smallest_within(variants: Sequence[Variant], floor: float, tolerance: float) -> Answer:
    eligible = [v for v in variants if v.accuracy.value >= floor and v.file_bytes is not None]
    if not eligible:
        return Answer("smallest_within_tolerance", None,
                      evidence=f"no variant with a known file size within {tolerance:g} points")
    # The same file in several runtimes: the fastest of its runtimes within the tolerance.
    choice = min(eligible, key=lambda v: (v.file_bytes, v.latency.value))
    ties = tuple(v for v in eligible if v.model != choice.model
                 and v.file_bytes == choice.file_bytes)
    runtimes = ", ".join(v.runtime for v in eligible if v.model == choice.model)
    evidence = (f"{choice.model}: {choice.file_bytes:,.0f} bytes, within the tolerance in "
                f"{runtimes}; {len({v.model for v in eligible})} file(s) qualify")
    return Answer("smallest_within_tolerance", choice, ties, evidence)


def most_accurate_under(variants: Sequence[Variant], budget_ms: float) -> Answer:
    eligible = [v for v in variants if v.latency.value <= budget_ms]
    if not eligible:
        fastest = min(variants, key=lambda v: v.latency.value)
        return Answer("most_accurate_under_budget", None, budget_ms=budget_ms,
                      evidence=f"no variant fits: the fastest, {fastest.label}, takes "
                               f"{fastest.latency_text()}")
    choice = max(eligible, key=lambda v: (v.accuracy.value, -v.latency.value))
    ties = tuple(v for v in eligible if v is not choice
                 and accuracies_tie(v.accuracy, choice.accuracy))
    evidence = (f"{len(eligible)} of {len(variants)} variants take at most {budget_ms:g} ms; "
                f"{choice.label}: {choice.accuracy_text()}, {choice.latency_text()}")
    return Answer("most_accurate_under_budget", choice, ties, evidence, budget_ms)


def budgets_of(config: Mapping[str, Any], device: str) -> list[float]:
    """``report.latency_budgets_ms`` of ``device``: one number or a list (none: [])."""
    value = (config.get("report", {}).get("latency_budgets_ms") or {}).get(device, [])
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def device_answer(lookup: Lookup, dataset: str, device: str, imported: bool,
                  tolerance: float, budgets: Sequence[float],
                  precisions: Mapping[str, str]) -> DeviceAnswer:
    variants = deployable_variants(lookup, dataset, device, precisions)
    reference = reference_of(variants)
    counts = {int(v.accuracy.n) for v in variants if not math.isnan(v.accuracy.n)}
    answer = DeviceAnswer(device, dataset, imported, counts.pop() if len(counts) == 1 else None,
                          tolerance, reference, tuple(variants),
                          tuple(pareto_frontier(variants)))
    if reference is None:
        return answer
    floor = reference.accuracy.value - tolerance
    answers = [fastest_within(variants, floor, reference, tolerance),
               smallest_within(variants, floor, tolerance),
               *(most_accurate_under(variants, budget) for budget in budgets)]
    return dataclasses.replace(answer, answers=tuple(answers))


def measured_devices(table: pd.DataFrame) -> list[str]:
    """Devices with a measured latency, in table order (the bench devices, then imported)."""
    rows = table[(table["source"] == ARCHOPT) & (table["metric"] == "latency_ms")
                 & table["value"].notna() & (table["device"] != "")]
    return list(dict.fromkeys(rows["device"]))


def what_to_deploy(table: pd.DataFrame, config: Mapping[str, Any], tolerance: float,
                   imported: set[str], precisions: Mapping[str, str]) -> list[DeviceAnswer]:
    """One :class:`DeviceAnswer` per measured device and reported dataset; ``table`` holds
    the study's and the post-training results' rows (results.csv)."""
    lookup = Lookup(table)
    datasets = reported_datasets(table.loc[table["source"] == ARCHOPT, "dataset"])
    found = []
    for device in measured_devices(table):
        for dataset in datasets:
            answer = device_answer(lookup, dataset, device, device in imported, tolerance,
                                   budgets_of(config, device), precisions)
            if answer.variants:
                found.append(answer)
    return found


def deployment_runtimes(answers: Sequence[DeviceAnswer]) -> dict[str, str]:
    """device -> the runtime to deploy in: that of its fastest variant within the
    tolerance (its first dataset's), else of its fastest variant."""
    runtimes: dict[str, str] = {}
    for a in answers:
        fastest = [x.choice for x in a.answers
                   if x.question == "fastest_within_tolerance" and x.choice is not None]
        if fastest and a.device not in runtimes:
            runtimes[a.device] = fastest[0].runtime
    for a in answers:
        runtimes.setdefault(a.device, a.variants[0].runtime)  # variants: fastest first
    return runtimes


# --- recommendations.json ---------------------------------------------------------------


def interval_json(m: Measurement) -> list[float] | None:
    return None if math.isnan(m.ci_low) else [m.ci_low, m.ci_high]


def variant_json(v: Variant) -> dict[str, Any]:
    return {
        "model": v.model, "base": v.base, "technique": v.technique, "scaling": v.scaling,
        "width_factor": v.width_factor, "precision": v.precision, "runtime": v.runtime,
        "accuracy": {"value": v.accuracy.value, "ci95": interval_json(v.accuracy),
                     "images": None if math.isnan(v.accuracy.n) else int(v.accuracy.n)},
        "latency_ms": {"mean": v.latency.value, "ci95": interval_json(v.latency)},
        "file_bytes": None if v.file_bytes is None else int(v.file_bytes),
        "timing_warning": v.warning or None,
    }


def answer_json(a: Answer) -> dict[str, Any]:
    return {"question": a.question, "budget_ms": a.budget_ms,
            "choice": None if a.choice is None else variant_json(a.choice),
            "ties": [variant_json(v) for v in a.ties], "evidence": a.evidence}


def recommendations_json(answers: Sequence[DeviceAnswer], tolerance: float) -> dict[str, Any]:
    """The answer section as data (``results/report/recommendations.json``)."""
    return {
        "schema": SCHEMA,
        "accuracy_tolerance": tolerance,
        "devices": [{
            "device": a.device, "dataset": a.dataset, "imported": a.imported,
            "accuracy_metric": a.metric, "accuracy_images": a.images,
            "accuracy_floor": a.floor,
            "reference": None if a.reference is None else variant_json(a.reference),
            "answers": [answer_json(answer) for answer in a.answers],
            "frontier": [variant_json(v) for v in a.frontier],
            "variants": [variant_json(v) for v in a.variants],
        } for a in answers],
    }
