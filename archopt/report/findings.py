"""The study's five findings, re-tested on a tidy results table.

Each finding is split into parts (e.g. "best accuracy per parameter" and "does not lower
latency"); each part is checked once per comparison group (a network family, a depth,
a budget). The verdict, per source, dataset, device and runtime:

* ``confirmed``: every check of every part holds;
* ``refuted``: no check holds;
* ``mixed``: some hold, some do not (the evidence says which);
* ``not measured``: some part has no check at all (e.g. no GPU, no GAN run).

Latency claims of a *difference* ("slower", "lowers latency") need disjoint 95% intervals;
claims of *no difference* or of being the lowest hold on a tie, as in the dissertation,
which compared confidence intervals. Accuracy claims use ``tolerance`` percentage points
(the dissertation's 5) on the dataset's primary accuracy (top-1 for CIFAR-10, top-5 for
CIFAR-100 as in the dissertation, pixel accuracy for maps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from archopt.paths import GAN_DATASET, is_paired
from archopt.report.analysis import (
    Group,
    Lookup,
    Measurement,
    compare_latency,
    datasets_of,
    latency_pairs,
    models_of,
    scenario_groups,
    scenarios,
)
from archopt.report.table import ARCHOPT, PAPER

DEFAULT_TOLERANCE = 5.0
VERDICTS = ("confirmed", "refuted", "mixed", "not measured")
FINDINGS = {
    1: "Shuffle gives the best accuracy per parameter but does not lower latency.",
    2: "Shift gives the lowest latency among the techniques.",
    3: "DSC reduces parameters but does not lower latency.",
    4: "Equal-budget: expanded optimized nets match base accuracy within ~4 points but are "
       "slower; reduced base nets are the fastest.",
    5: "Pix2Pix: Shift keeps quality (pixel accuracy ~ base); Shuffle loses the most.",
}
CLASSIFICATION_FINDINGS = (1, 2, 3, 4)

# --- The dissertation's other statements the report quotes, as data -------------------
# What its decision flowchart (Figure 29) answers at each leaf (archopt.report.flowchart).
PAPER_FLOWCHART = {
    "latency_high": "not indicated",
    "latency_low": "Shift",
    "size": "Shift, then DSC, then Shuffle",
    "size_latency": "only Shift",
}
# technique -> how the dissertation ran its layers, where that changes what its numbers mean.
PAPER_IMPLEMENTATIONS = {
    "shift": "The dissertation only had a CUDA kernel: its \"CPU\" numbers offload one "
             "convolution per block to the GPU, so its CPU column is not pure CPU.",
}
# dataset -> why the report compares it on its primary metric.
PAPER_METRICS = {
    "cifar100": "the dissertation's metric there (its Table 4 header says top-1 by mistake)",
}
PAPER_VALUES_NOT_USED = (
    "Paper values are taken from the first table that prints a network: Table 5's ResNet20 "
    "count (271,762, a typo for 272,762) and Table 12's repeated ResNet56-Shuffle accuracy "
    "(87.10, Table 4 has 85.85) are not used."
)


@dataclass(frozen=True)
class Check:
    holds: bool
    evidence: str


@dataclass(frozen=True)
class Part:
    claim: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Verdict:
    finding: int
    source: str
    dataset: str
    device: str
    runtime: str
    verdict: str
    evidence: tuple[str, ...]
    provisional: bool = False  # rests on accuracies of runs that did not finish the protocol

    @property
    def scope(self) -> str:
        """Where the verdict applies, e.g. ``cifar10, cpu / onnxruntime``."""
        where = [self.dataset] if self.dataset else []
        if self.device:
            where.append(f"{self.device} / {self.runtime}")
        return ", ".join(where) or "-"


@dataclass(frozen=True)
class Context:
    """What one evaluation looks at: one source, dataset, device and runtime."""

    lookup: Lookup
    source: str
    dataset: str
    device: str
    runtime: str
    tolerance: float

    def groups(self, scenario: str) -> list[Group]:
        if not self.dataset:
            return []
        return scenario_groups(models_of(self.lookup.table, self.source, self.dataset), scenario)

    def accuracy(self, model: str | None) -> Measurement | None:
        return self.lookup.accuracy(self.source, self.dataset, model)

    def latency(self, model: str | None) -> Measurement | None:
        if not self.device:
            return None
        return self.lookup.latency(self.source, self.dataset, model, self.device, self.runtime)

    def value(self, model: str | None, metric: str) -> Measurement | None:
        return self.lookup.get(self.source, self.dataset, model, metric)


def ms(m: Measurement) -> str:
    low, high = m.interval
    return f"{m.value:.2f} ms [{low:.2f}, {high:.2f}]"


def verdict_of(parts: list[Part]) -> str:
    if any(not part.checks for part in parts):
        return "not measured"
    holds = [check.holds for part in parts for check in part.checks]
    if all(holds):
        return "confirmed"
    return "refuted" if not any(holds) else "mixed"


def evidence_of(parts: list[Part]) -> tuple[str, ...]:
    lines = []
    for part in parts:
        if not part.checks:
            lines.append(f"{part.claim}: not measured")
        for check in part.checks:
            lines.append(f"{part.claim}: {check.evidence} -> {'holds' if check.holds else 'fails'}")
    return tuple(lines)


def latency_check(ctx: Context, group: Group, role: str, versus_role: str,
                  holds_if: Callable[[str], bool]) -> Check | None:
    """Compare the latency of two slots of a group; None where either is not measured."""
    a, b = ctx.latency(group.slots.get(role)), ctx.latency(group.slots.get(versus_role))
    if a is None or b is None:
        return None
    outcome = compare_latency(a, b)
    return Check(holds_if(outcome), f"{group.name}: {group.slots[role]} {ms(a)} vs "
                                    f"{group.slots[versus_role]} {ms(b)} ({outcome})")


def present(checks: list[Check | None]) -> tuple[Check, ...]:
    return tuple(c for c in checks if c is not None)


def finding_1(ctx: Context) -> list[Part]:
    groups = [g for g in ctx.groups("direct") if "shuffle" in g.slots]
    efficiency = []
    for group in groups:
        values = {role: ctx.value(model, "ep_e3") for role, model in group.slots.items()}
        shuffle = values.pop("shuffle")
        others = {role: v for role, v in values.items() if v is not None}
        if shuffle is None or not others:
            continue
        best = max(others, key=lambda role: others[role].value)
        efficiency.append(Check(shuffle.value >= others[best].value,
                                f"{group.name}: E_P x1000 shuffle {shuffle.value:.2f} vs best "
                                f"other {others[best].value:.2f} ({best})"))
    latency = [latency_check(ctx, g, "shuffle", "base", lambda o: o != "faster") for g in groups]
    return [Part("best accuracy per parameter", tuple(efficiency)),
            Part("does not lower latency vs base", present(latency))]


def finding_2(ctx: Context) -> list[Part]:
    checks = []
    for group in ctx.groups("direct"):
        shift = ctx.latency(group.slots.get("shift"))
        rivals = {role: ctx.latency(group.slots.get(role)) for role in ("dsc", "shuffle")}
        rivals = {role: m for role, m in rivals.items() if m is not None}
        if shift is None or not rivals:
            continue
        slower_than = [role for role, m in rivals.items() if compare_latency(shift, m) == "slower"]
        others = ", ".join(f"{role} {ms(m)}" for role, m in rivals.items())
        checks.append(Check(not slower_than, f"{group.name}: shift {ms(shift)}; {others}"
                            + (f" (shift slower than {', '.join(slower_than)})" if slower_than
                               else "")))
    return [Part("lowest latency among DSC/Shift/Shuffle", tuple(checks))]


def finding_3(ctx: Context) -> list[Part]:
    groups = [g for g in ctx.groups("direct") if "dsc" in g.slots and "base" in g.slots]
    params = []
    for group in groups:
        dsc = ctx.value(group.slots["dsc"], "params")
        base = ctx.value(group.slots["base"], "params")
        if dsc is not None and base is not None:
            params.append(Check(dsc.value < base.value, f"{group.name}: dsc {dsc.value:,.0f} vs "
                                                         f"base {base.value:,.0f} parameters"))
    latency = [latency_check(ctx, g, "dsc", "base", lambda o: o != "faster") for g in groups]
    return [Part("fewer parameters than base", tuple(params)),
            Part("does not lower latency vs base", present(latency))]


def finding_4(ctx: Context) -> list[Part]:
    accuracy, slower = [], []
    for group in ctx.groups("expanded"):
        base = ctx.accuracy(group.anchor)
        for role, model in group.others().items():
            acc = ctx.accuracy(model)
            if acc is not None and base is not None:
                delta = acc.value - base.value
                accuracy.append(Check(delta >= -ctx.tolerance,
                                      f"{model} {acc.value:.2f}% vs {group.anchor} "
                                      f"{base.value:.2f}% ({delta:+.2f} points, tolerance "
                                      f"{ctx.tolerance:g})"))
            slower.append(latency_check(ctx, group, role, "base", lambda o: o == "slower"))
    fastest = []
    for scenario in [s for s in scenarios() if s.startswith("reduced_")]:
        for group in ctx.groups(scenario):
            reduced = {m: ctx.latency(m) for m in group.others().values()}
            reduced = {m: v for m, v in reduced.items() if v is not None}
            anchor = ctx.latency(group.anchor)
            if not reduced or anchor is None:
                continue
            best = min(reduced, key=lambda m: reduced[m].value)
            outcome = compare_latency(reduced[best], anchor)
            fastest.append(Check(outcome != "slower", f"{best} {ms(reduced[best])} vs "
                                                      f"{group.anchor} {ms(anchor)} ({outcome})"))
    return [Part("expanded nets match base accuracy", tuple(accuracy)),
            Part("expanded nets are slower than base", present(slower)),
            Part("reduced base nets are the fastest at equal size", tuple(fastest))]


def finding_5(ctx: Context) -> list[Part]:
    models = models_of(ctx.lookup.table, ctx.source, GAN_DATASET)
    slots = {m.technique: m.model for m in models.itertuples() if m.family == "pix2pix"}
    acc = {t: ctx.lookup.accuracy(ctx.source, GAN_DATASET, model) for t, model in slots.items()}
    acc = {t: m for t, m in acc.items() if m is not None}
    keeps, loses = [], []
    if "shift" in acc and "base" in acc:
        delta = acc["shift"].value - acc["base"].value
        keeps.append(Check(delta >= -ctx.tolerance,
                           f"shift {acc['shift'].value:.2f}% vs base {acc['base'].value:.2f}% "
                           f"({delta:+.2f} points, tolerance {ctx.tolerance:g})"))
    if "shuffle" in acc and len(acc) > 1:
        worst = min(acc, key=lambda t: acc[t].value)
        listing = ", ".join(f"{t} {m.value:.2f}%" for t, m in acc.items())
        loses.append(Check(acc["shuffle"].value <= acc[worst].value, listing))
    return [Part("Shift keeps pixel accuracy", tuple(keeps)),
            Part("Shuffle loses the most", tuple(loses))]


FINDING_CHECKS: dict[int, Callable[[Context], list[Part]]] = {
    1: finding_1, 2: finding_2, 3: finding_3, 4: finding_4, 5: finding_5,
}


def evaluate(finding: int, ctx: Context) -> Verdict:
    parts = FINDING_CHECKS[finding](ctx)
    return Verdict(finding, ctx.source, ctx.dataset, ctx.device, ctx.runtime, verdict_of(parts),
                   evidence_of(parts))


def findings(table: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE,
             sources: tuple[str, ...] = (ARCHOPT, PAPER)) -> list[Verdict]:
    """Every finding's verdict per source, dataset, device and runtime (a pure function)."""
    lookup = Lookup(table)
    verdicts = []
    for source in sources:
        datasets = [d for d in datasets_of(table, source) if not is_paired(d)] or [""]
        for finding in CLASSIFICATION_FINDINGS:
            for dataset in datasets:
                for device, runtime in latency_pairs(table, source, dataset) or [("", "")]:
                    ctx = Context(lookup, source, dataset, device, runtime, tolerance)
                    verdicts.append(evaluate(finding, ctx))
        verdicts.append(evaluate(5, Context(lookup, source, GAN_DATASET, "", "", tolerance)))
    return verdicts


def findings_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdicts as a table (evidence lines joined by ' | ')."""
    return pd.DataFrame(
        [{"finding": v.finding, "statement": FINDINGS[v.finding], "source": v.source,
          "dataset": v.dataset, "device": v.device, "runtime": v.runtime, "verdict": v.verdict,
          "provisional": v.provisional, "evidence": " | ".join(v.evidence)} for v in verdicts],
        columns=["finding", "statement", "source", "dataset", "device", "runtime", "verdict",
                 "provisional", "evidence"],
    )

