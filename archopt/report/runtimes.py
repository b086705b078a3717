"""How much the conclusions depend on the inference runtime, and what MACs predict.

Everything here reads archopt's own bench rows of the tidy table (the paper measured one
runtime): per device the latency of every network in every runtime, the fastest
(runtime, network) per accuracy level, the "runtime sensitivity" of the dissertation's
latency findings, and MACs against measured latency (Spearman's rank correlation, and
milliseconds per million MACs per technique).

Latency here is the median per query (robust to the spikes of a shared machine); the
findings keep their own rule (mean with its 95% interval, disjoint intervals = a
difference), so the sensitivity table says exactly what the Findings section says,
runtime by runtime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from archopt.report.analysis import (
    Lookup,
    datasets_of,
    latency_pairs,
    models_of,
    technique_color,
    technique_label,
    technique_order,
)
from archopt.report.findings import CLASSIFICATION_FINDINGS, FINDING_CHECKS, FINDINGS, Context
from archopt.report.table import ARCHOPT, PRIMARY_ACCURACY
from archopt.report.tables import DEVICE_LABELS, not_run_notes

REFERENCE_RUNTIME = "eager"  # the dissertation's framework: a flip is a change from it
MEDIAN = "latency_median_ms"


def devices_and_runtimes(table: pd.DataFrame, dataset: str) -> dict[str, list[str]]:
    """device -> runtimes with latency rows, measured or skipped, in table order."""
    pairs: dict[str, list[str]] = {}
    for device, runtime in latency_pairs(table, ARCHOPT, dataset):
        pairs.setdefault(device, []).append(runtime)
    return pairs


def median_ms(lookup: Lookup, dataset: str, model: str, device: str, runtime: str
              ) -> float | None:
    found = lookup.get(ARCHOPT, dataset, model, MEDIAN, device, runtime)
    return None if found is None else found.value


def spread_note(lookup: Lookup, dataset: str, model: str, device: str, runtime: str) -> str:
    """`` (noisy)``/`` (unreliable)`` from the bench JSON's IQR warning, else nothing."""
    iqr = lookup.get(ARCHOPT, dataset, model, "latency_iqr_ms", device, runtime)
    warning = iqr.note.removeprefix("warning=") if iqr is not None and iqr.note else ""
    return f" ({warning})" if warning else ""


def latency_matrix(table: pd.DataFrame, dataset: str, device: str, runtimes: list[str]
                   ) -> pd.DataFrame:
    """One row per network, one median-latency column per runtime, and the fastest."""
    lookup = Lookup(table)
    records = []
    for model in models_of(table, ARCHOPT, dataset)["model"]:
        row: dict[str, str | None] = {"network": model}
        medians = {}
        for runtime in runtimes:
            value = median_ms(lookup, dataset, model, device, runtime)
            if value is not None:
                medians[runtime] = value
                row[f"{runtime} ms"] = f"{value:.3f}" + spread_note(
                    lookup, dataset, model, device, runtime)
            else:
                row[f"{runtime} ms"] = None
        row["fastest runtime"] = min(medians, key=medians.__getitem__) if medians else None
        records.append(row)
    return pd.DataFrame(records)


def fastest_per_accuracy(table: pd.DataFrame, dataset: str, device: str) -> pd.DataFrame:
    """For each accuracy a network reaches: the fastest (runtime, network) at least that
    accurate. Levels whose answer is the next higher level's are merged into it."""
    lookup = Lookup(table)
    points = []
    for model in models_of(table, ARCHOPT, dataset)["model"]:
        accuracy = lookup.accuracy(ARCHOPT, dataset, model)
        for _, runtime in [p for p in latency_pairs(table, ARCHOPT, dataset) if p[0] == device]:
            value = median_ms(lookup, dataset, model, device, runtime)
            if accuracy is not None and value is not None:
                points.append((accuracy.value, value, runtime, model))
    records: list[dict[str, str]] = []
    metric = PRIMARY_ACCURACY[dataset]
    for level in sorted({p[0] for p in points}, reverse=True):
        best = min((p for p in points if p[0] >= level), key=lambda p: p[1])
        if records and records[-1]["network"] == best[3] and records[-1]["runtime"] == best[2]:
            continue  # the same answer as the stricter level above
        records.append({f"{metric} at least %": f"{level:.2f}", "runtime": best[2],
                        "network": best[3], "its accuracy %": f"{best[0]:.2f}",
                        "median ms": f"{best[1]:.3f}"})
    return pd.DataFrame(records)


def part_status(holds: list[bool]) -> str:
    if not holds:
        return "not measured"
    return "holds" if all(holds) else "fails" if not any(holds) else "mixed"


def latency_part_indices(lookup: Lookup, dataset: str, finding: int, tolerance: float
                         ) -> list[int]:
    """The parts of a finding that rest on latency: those with no check without a device."""
    parts = FINDING_CHECKS[finding](Context(lookup, ARCHOPT, dataset, "", "", tolerance))
    return [index for index, part in enumerate(parts) if not part.checks]


def runtime_sensitivity(table: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per dataset, device and latency claim of a finding: its status in each runtime,
    whether it holds in every runtime, and the runtimes whose status differs from eager's."""
    lookup = Lookup(table)
    records = []
    for dataset in datasets_of(table, ARCHOPT):
        for device, runtimes in devices_and_runtimes(table, dataset).items():
            for finding in CLASSIFICATION_FINDINGS:
                for index in latency_part_indices(lookup, dataset, finding, tolerance):
                    status, claim = {}, ""
                    for runtime in runtimes:
                        ctx = Context(lookup, ARCHOPT, dataset, device, runtime, tolerance)
                        part = FINDING_CHECKS[finding](ctx)[index]
                        claim = part.claim
                        status[runtime] = part_status([c.holds for c in part.checks])
                    records.append(sensitivity_row(dataset, device, finding, claim, status))
    return pd.DataFrame(records)


def sensitivity_row(dataset: str, device: str, finding: int, claim: str,
                    status: dict[str, str]) -> dict[str, str]:
    measured = {r: s for r, s in status.items() if s != "not measured"}
    reference = REFERENCE_RUNTIME if REFERENCE_RUNTIME in measured else next(iter(measured), "")
    flips = [r for r, s in measured.items() if r != reference and s != measured[reference]]
    every = ("-" if not measured else
             "yes" if all(s == "holds" for s in measured.values()) else "no")
    return {"dataset": dataset, "device": device, "finding": str(finding),
            "claim": claim, **status, "holds in every runtime": every,
            "flipped by (vs " + (reference or "-") + ")": ", ".join(flips) or "none"}


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 pairs."""
    if len(x) < 3:
        return math.nan
    rx, ry = x.rank().to_numpy(), y.rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def macs_latency_points(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, device, runtime, network): MACs, median latency, technique."""
    ours = table[table["source"] == ARCHOPT]
    macs = ours[ours["metric"] == "macs"][["dataset", "model", "value"]].rename(
        columns={"value": "macs"})
    latency = ours[(ours["metric"] == MEDIAN) & ours["value"].notna()][
        ["dataset", "model", "technique", "device", "runtime", "value"]].rename(
        columns={"value": "median_ms"})
    points = latency.merge(macs, on=["dataset", "model"]).dropna(subset=["macs"])
    points = points[points["macs"] > 0]
    return points.assign(ms_per_mmac=points["median_ms"] / (points["macs"] / 1e6))


def macs_correlation(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho between MACs and median latency, per dataset, device and runtime."""
    records = [
        {"dataset": dataset, "device": device, "runtime": runtime, "networks": len(group),
         "Spearman rho (MACs vs latency)": spearman(group["macs"], group["median_ms"])}
        for (dataset, device, runtime), group in macs_latency_points(table).groupby(
            ["dataset", "device", "runtime"], sort=False)
    ]
    return pd.DataFrame(records)


def ms_per_mmac(table: pd.DataFrame) -> pd.DataFrame:
    """Median over networks of milliseconds per million MACs, per technique and runtime."""
    points = macs_latency_points(table)
    return (points.groupby(["dataset", "device", "runtime", "technique"], sort=False)
            ["ms_per_mmac"].median().reset_index())


def macs_latency_figure(table: pd.DataFrame) -> Figure:
    """Milliseconds per million MACs per technique: one panel per (dataset, device), one
    bar group per runtime. Equal bars would mean MACs predict latency across techniques."""
    frame = ms_per_mmac(table)
    panels = list(dict.fromkeys(zip(frame["dataset"], frame["device"])))
    figure = Figure(figsize=(9, max(2.8 * len(panels), 2.8)), layout="constrained")
    axes = figure.subplots(max(len(panels), 1), 1, squeeze=False)[:, 0]
    if not panels:
        axes[0].text(0.5, 0.5, "no latency with MACs measured", ha="center", va="center",
                     transform=axes[0].transAxes, color="#a00000")
        axes[0].set_xticks([])
        axes[0].set_yticks([])
    techniques = [t for t in technique_order() if t in set(frame["technique"])]
    for ax, (dataset, device) in zip(axes, panels):
        rows = frame[(frame["dataset"] == dataset) & (frame["device"] == device)]
        runtimes = list(dict.fromkeys(rows["runtime"]))
        width = 0.8 / max(len(techniques), 1)
        for t_index, technique in enumerate(techniques):
            values = [rows.loc[(rows["runtime"] == r) & (rows["technique"] == technique),
                               "ms_per_mmac"] for r in runtimes]
            heights = [v.iloc[0] if len(v) else np.nan for v in values]
            ax.bar(np.arange(len(runtimes)) + (t_index - (len(techniques) - 1) / 2) * width,
                   heights, width, color=technique_color(technique),
                   label=technique_label(technique))
        ax.set_xticks(range(len(runtimes)), runtimes)
        ax.set_ylabel("ms per million MACs")
        ax.set_title(f"{dataset}, {DEVICE_LABELS.get(device, device)}")
    if panels:
        axes[0].legend(fontsize=8, ncols=len(techniques))
    return figure


def load_first_table(table: pd.DataFrame, dataset: str, device: str, runtimes: list[str]
                     ) -> pd.DataFrame:
    """Median over networks of load (session creation / compilation) and first inference."""
    ours = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["device"] == device)]
    records = []
    for runtime in runtimes:
        rows = ours[ours["runtime"] == runtime]
        load = rows.loc[rows["metric"] == "load_ms", "value"].dropna()
        first = rows.loc[rows["metric"] == "latency_first_ms", "value"].dropna()
        warned = rows.loc[rows["metric"] == "latency_iqr_ms", "note"].fillna("")
        records.append({
            "runtime": runtime,
            "load ms (median over networks)": f"{load.median():.1f}" if len(load) else None,
            "first inference ms (median)": f"{first.median():.3f}" if len(first) else None,
            "networks with noisy / unreliable timings": (
                f"{(warned == 'warning=noisy').sum()} / {(warned == 'warning=unreliable').sum()}"
                if len(warned) else None),
        })
    return pd.DataFrame(records)


@dataclass(frozen=True)
class RuntimePanel:
    """One dataset on one device: its latency matrix, load times and fastest choices."""

    title: str
    not_run: list[str]  # the runtimes the device has no column for, in words
    matrix: pd.DataFrame
    load_first: pd.DataFrame
    fastest: pd.DataFrame


def runtimes_data(table: pd.DataFrame, tolerance: float, figure_png: bytes) -> dict[str, Any]:
    """What the "Runtimes" section shows (templates/runtimes.html)."""
    panels = [
        RuntimePanel(f"{dataset}, {DEVICE_LABELS.get(device, device)}",
                     not_run_notes(table, dataset, [device]),
                     latency_matrix(table, dataset, device, runtimes),
                     load_first_table(table, dataset, device, runtimes),
                     fastest_per_accuracy(table, dataset, device))
        for dataset in datasets_of(table, ARCHOPT)
        for device, runtimes in devices_and_runtimes(table, dataset).items()
    ]
    return {"panels": panels, "sensitivity": runtime_sensitivity(table, tolerance),
            "statements": [(n, FINDINGS[n]) for n in CLASSIFICATION_FINDINGS],
            "correlation": macs_correlation(table).round(3), "figure_png": figure_png,
            "reference": REFERENCE_RUNTIME}
