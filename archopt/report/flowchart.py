"""The dissertation's decision flowchart (its Figure 29), regenerated from measurements.

The chart's questions stay the paper's; each leaf names the technique archopt's own
numbers support, per device and runtime, with the numbers that decide it. A technique
profile pools every direct-application comparison (network family x dataset) with the
same rules as the findings:

* **size**: techniques that shrink every network and lose at most ``tolerance`` points
  of accuracy on average, least loss first; "keeping latency" also demands that the
  technique is significantly slower than its base in no network;
* **latency**: techniques significantly faster than their base in every network measured
  (and within the accuracy tolerance), the lowest geometric-mean latency ratio first;
  none means "not indicated", as the paper concluded for GPUs.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from archopt.paths import is_paired
from archopt.report.analysis import (
    Lookup,
    compare_latency,
    datasets_of,
    latency_pairs,
    models_of,
    scenario_groups,
    technique_label,
    technique_order,
)
from archopt.report.findings import DEFAULT_TOLERANCE, PAPER_FLOWCHART
from archopt.report.table import ARCHOPT

NEEDS = {
    "latency_high": "Latency fails on a high-compute platform (GPU)",
    "latency_low": "Latency fails on a low-compute platform (CPU)",
    "size": "Size fails",
    "size_latency": "Size fails and latency must be kept",
}
# Which devices are low-compute is config key ``report.low_compute_devices``; every other
# device measured (cuda, an imported phone the config does not list) is high-compute.
LOW_COMPUTE_DEVICES = ("cpu",)


def need_devices(devices: list[str], low_compute: tuple[str, ...]) -> dict[str, list[str]]:
    """The devices each latency leaf uses; an unmeasured class names its usual device."""
    return {"latency_high": [d for d in devices if d not in low_compute] or ["cuda"],
            "latency_low": [d for d in devices if d in low_compute] or [low_compute[0]]}


@dataclass(frozen=True)
class Profile:
    """How one technique compares with its base networks, pooled over networks."""

    technique: str
    networks: int = 0
    smaller: int = 0
    params_ratio: float = math.nan
    accuracy_change: float = math.nan
    latency_ratio: float = math.nan
    measured: int = 0
    faster: int = 0
    slower: int = 0

    @property
    def label(self) -> str:
        return technique_label(self.technique)

    def latency_text(self) -> str:
        return (f"{self.label} x{self.latency_ratio:.2f} base latency (faster in "
                f"{self.faster}/{self.measured}, slower in {self.slower}/{self.measured})")

    def size_text(self) -> str:
        return (f"{self.label}: params x{self.params_ratio:.2f}, accuracy "
                f"{self.accuracy_change:+.1f} pts")


@dataclass(frozen=True)
class Leaf:
    need: str
    scope: str  # "cpu / eager, onnxruntime"; "" where no device matters
    choice: str
    numbers: str

    @property
    def paper(self) -> str:
        return PAPER_FLOWCHART[self.need]


def profile(lookup: Lookup, source: str, technique: str, device: str = "", runtime: str = ""
            ) -> Profile:
    """Pool every direct-application network that has ``technique`` and a base."""
    params, accuracy, latency = [], [], []
    faster = slower = 0
    for dataset in [d for d in datasets_of(lookup.table, source) if not is_paired(d)]:
        for group in scenario_groups(models_of(lookup.table, source, dataset), "direct"):
            model, base = group.slots.get(technique), group.anchor
            if model is None or base is None:
                continue
            p, p0 = (lookup.get(source, dataset, m, "params") for m in (model, base))
            if p is not None and p0 is not None:
                params.append(p.value / p0.value)
            a, a0 = lookup.accuracy(source, dataset, model), lookup.accuracy(source, dataset, base)
            if a is not None and a0 is not None:
                accuracy.append(a.value - a0.value)
            t, t0 = (lookup.latency(source, dataset, m, device, runtime) for m in (model, base))
            if device and t is not None and t0 is not None:
                latency.append(t.value / t0.value)
                outcome = compare_latency(t, t0)
                faster += outcome == "faster"
                slower += outcome == "slower"
    return Profile(
        technique, networks=len(params), smaller=sum(r < 1 for r in params),
        params_ratio=float(np.exp(np.mean(np.log(params)))) if params else math.nan,
        accuracy_change=float(np.mean(accuracy)) if accuracy else math.nan,
        latency_ratio=float(np.exp(np.mean(np.log(latency)))) if latency else math.nan,
        measured=len(latency), faster=faster, slower=slower,
    )


def size_candidates(profiles: list[Profile], tolerance: float) -> list[Profile]:
    """Techniques that shrink every network within the accuracy tolerance, least loss first."""
    fit = [p for p in profiles if p.networks and p.smaller == p.networks
           and not math.isnan(p.accuracy_change) and p.accuracy_change >= -tolerance]
    return sorted(fit, key=lambda p: -p.accuracy_change)


def size_leaf(profiles: list[Profile], tolerance: float) -> Leaf:
    if not any(not math.isnan(p.accuracy_change) for p in profiles):
        return Leaf("size", "", "not measured", "no accuracy of a technique and its base")
    chosen = size_candidates(profiles, tolerance)
    rejected = [p for p in profiles if p not in chosen and p.networks]
    numbers = "; ".join(p.size_text() for p in chosen + rejected)
    if not chosen:
        return Leaf("size", "", f"none within {tolerance:g} points", numbers)
    return Leaf("size", "", ", then ".join(p.label for p in chosen), numbers)


def size_latency_leaf(profiles: list[Profile], tolerance: float, scope: str) -> Leaf:
    if not any(p.measured for p in profiles):
        return Leaf("size_latency", scope, "not measured", "no latency of a technique and its base")
    kept = [p for p in size_candidates(profiles, tolerance) if p.measured and p.slower == 0]
    numbers = "; ".join(p.latency_text() for p in profiles if p.measured)
    choice = "only " + ", ".join(p.label for p in kept) if len(kept) == 1 else (
        ", then ".join(p.label for p in kept) or "none keeps latency")
    return Leaf("size_latency", scope, choice, numbers)


def latency_leaf(need: str, profiles: list[Profile], tolerance: float, scope: str) -> Leaf:
    measured = [p for p in profiles if p.measured]
    if not measured:
        return Leaf(need, scope, "not measured", "no latency of a technique and its base")
    fit = [p for p in measured if p.faster == p.measured
           and not (p.accuracy_change < -tolerance)]
    numbers = "; ".join(p.latency_text() for p in sorted(measured, key=lambda p: p.latency_ratio))
    if not fit:
        return Leaf(need, scope, "not indicated", numbers)
    return Leaf(need, scope, min(fit, key=lambda p: p.latency_ratio).label, numbers)


def merge_runtimes(leaves: list[Leaf]) -> list[Leaf]:
    """One leaf per device and choice: runtimes that agree are listed together."""
    merged: dict[tuple[str, str, str], list[Leaf]] = {}
    for leaf in leaves:
        device = leaf.scope.split(" / ")[0]
        merged.setdefault((leaf.need, device, leaf.choice), []).append(leaf)
    result = []
    for (need, device, choice), same in merged.items():
        runtimes = [leaf.scope.split(" / ")[1] for leaf in same if " / " in leaf.scope]
        scope = f"{device} / {', '.join(runtimes)}" if runtimes else device
        if len({leaf.numbers for leaf in same}) == 1:
            numbers = same[0].numbers
        else:
            numbers = " | ".join(f"{leaf.scope.split(' / ')[-1]}: {leaf.numbers}" for leaf in same)
        result.append(Leaf(need, scope, choice, numbers))
    return result


def flowchart_leaves(table: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE,
                     source: str = ARCHOPT,
                     low_compute: tuple[str, ...] = LOW_COMPUTE_DEVICES,
                     runtimes: Mapping[str, str] | None = None) -> list[Leaf]:
    """Every leaf of the chart, from ``source``'s numbers in the tidy table; the latency
    leaves get one column entry per device of their class (``low_compute`` or not), in
    every runtime of the device, or only in ``runtimes[device]`` where given."""
    lookup = Lookup(table)
    techniques = technique_order()[1:]
    static = [profile(lookup, source, t) for t in techniques]
    leaves = [size_leaf(static, tolerance)]
    pairs = [p for p in latency_pairs(table, source)
             if p[0] and (runtimes or {}).get(p[0], p[1]) == p[1]]
    measured = list(dict.fromkeys(device for device, _ in pairs))
    for need, devices in need_devices(measured, low_compute).items():
        device_pairs = [p for p in pairs if p[0] in devices] or [(devices[0], "")]
        for device_, runtime in device_pairs:
            scope = f"{device_} / {runtime}" if runtime else device_
            profiles = [profile(lookup, source, t, device_, runtime) for t in techniques]
            leaves.append(latency_leaf(need, profiles, tolerance, scope))
    for device, runtime in pairs:
        profiles = [profile(lookup, source, t, device, runtime) for t in techniques]
        leaves.append(size_latency_leaf(profiles, tolerance, f"{device} / {runtime}"))
    if not pairs:
        leaves.append(size_latency_leaf(static, tolerance, ""))
    return merge_runtimes(leaves)


def one_per_device(leaves: list[Leaf], runtimes: Mapping[str, str]) -> list[Leaf]:
    """The chart's answer per device: its leaves in the runtime ``runtimes`` names for it
    (the runtime of its fastest deployable variant), the answers of one need and device
    joined into one leaf (an architecture, then quantizing, say)."""
    chosen: dict[tuple[str, str], list[Leaf]] = {}
    for leaf in leaves:
        device, _, listed = leaf.scope.partition(" / ")
        runtime = runtimes.get(device)
        if listed and runtime is not None:
            if runtime not in listed.split(", "):
                continue
            leaf = Leaf(leaf.need, f"{device} / {runtime}", leaf.choice, leaf.numbers)
        chosen.setdefault((leaf.need, leaf.scope), []).append(leaf)
    return [Leaf(need, scope, "; then ".join(leaf.choice for leaf in same),
                 " | ".join(leaf.numbers for leaf in same))
            for (need, scope), same in chosen.items()]


@dataclass(frozen=True)
class Flowchart:
    """The chart the report shows (one answer per device) and its per-runtime detail."""

    leaves: list[Leaf]
    every_runtime: list[Leaf]


def device_flowchart(table: pd.DataFrame, tolerance: float, low_compute: tuple[str, ...],
                     extra: list[Leaf], runtimes: Mapping[str, str]) -> Flowchart:
    """The chart from the study's rows, with ``extra`` leaves (post-training answers)
    appended; each device answers in ``runtimes[device]``, the runtime it deploys in."""
    every_runtime = flowchart_leaves(table, tolerance, low_compute=low_compute) + extra
    chosen = flowchart_leaves(table, tolerance, low_compute=low_compute, runtimes=runtimes)
    return Flowchart(one_per_device(chosen + extra, runtimes), every_runtime)


def flowchart_text(leaves: list[Leaf]) -> str:
    """The chart as indented text (the HTML shows it under the image)."""
    lines = ["1. Does the network already meet the project's requirements on the target "
             "platform?", "   - Yes: do not optimize.", "   - No: which requirement fails?"]
    for need, title in NEEDS.items():
        lines.append(f"     - {title}:")
        for leaf in (leaf for leaf in leaves if leaf.need == need):
            scope = f"[{leaf.scope}] " if leaf.scope else ""
            lines.append(f"       - {scope}archopt: {leaf.choice} (paper: {leaf.paper})")
            lines.append(f"         numbers: {leaf.numbers}")
    return "\n".join(lines)


LINE_INCHES = 0.15  # one line of 8.5 pt text with matplotlib's default spacing, rounded up
FONT_SIZE = 8.5


def _box(ax, x: float, top: float, text: str, width: float, color: str) -> float:
    """Draw a box whose top centre is (x, top); returns the y of its bottom edge.

    y is measured in text lines (see LINE_INCHES), so a box fits its text at any height.
    """
    height = text.count("\n") + 1.8
    ax.add_patch(FancyBboxPatch((x - width / 2, top - height), width, height,
                                boxstyle="square,pad=0", facecolor=color,
                                edgecolor="#333333", linewidth=1))
    ax.text(x, top - height / 2, text, ha="center", va="center", fontsize=FONT_SIZE)
    return top - height


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str = "") -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "->", "color": "#333333", "linewidth": 1})
    if label:
        ax.text((start[0] + end[0]) / 2 + 0.005, (start[1] + end[1]) / 2, label,
                fontsize=FONT_SIZE, style="italic", va="bottom")


def leaf_text(leaf: Leaf, width: int) -> str:
    scope = f"[{leaf.scope}] " if leaf.scope else ""
    lines = [f"{scope}archopt: {leaf.choice}", f"paper: {leaf.paper}"]
    lines += [chunk.strip() for chunk in leaf.numbers.replace(" | ", "; ").split(";")
              if chunk.strip()]
    return "\n".join(textwrap.fill(line, width) for line in lines)


def draw_flowchart(leaves: list[Leaf]) -> Figure:
    """The chart as an image: questions on top, one column of leaves per failing need."""
    figure = Figure(figsize=(16, 4))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    bottom = _box(ax, 0.35, 0, "Does the network already meet the project's\nrequirements "
                  "on the target platform?", 0.3, "#e8eef7")
    _box(ax, 0.8, 0, "Do not optimize", 0.16, "#e6f4e6")
    _arrow(ax, (0.5, bottom / 2), (0.72, bottom / 2), "yes")
    question = bottom - 2
    _arrow(ax, (0.35, bottom), (0.35, question), "no")
    split = _box(ax, 0.35, question, "Which requirement fails?", 0.2, "#e8eef7")
    lowest = split
    columns = list(NEEDS)
    for x, need in zip(np.linspace(0.125, 0.875, len(columns)), columns):
        _arrow(ax, (0.35, split), (x, split - 2.5))
        y = _box(ax, x, split - 2.5, textwrap.fill(NEEDS[need], 34), 0.23, "#fdf0d5")
        for leaf in (leaf for leaf in leaves if leaf.need == need):
            _arrow(ax, (x, y), (x, y - 1))
            y = _box(ax, x, y - 1, leaf_text(leaf, 46), 0.235, "#ffffff")
        lowest = min(lowest, y)
    ax.set_xlim(0, 1)
    ax.set_ylim(lowest - 0.5, 0.5)
    figure.set_size_inches(16, (1 - lowest) * LINE_INCHES)
    return figure
