"""The report's figures, drawn from the tidy table with matplotlib.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot (no global
state, no display needed); panels with nothing measured say so instead of staying blank.
archopt's numbers are filled markers or bars; the dissertation's are hollow black
diamonds labelled "paper".
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D

from archopt.report.analysis import (
    Lookup,
    classification_datasets,
    models_of,
    scenario_groups,
    scenarios,
    technique_color,
    technique_label,
    technique_order,
)
from archopt.report.table import ARCHOPT, PAPER, PRIMARY_ACCURACY
from archopt.report.tables import ACCURACY_LABELS, DEVICE_LABELS, archopt_runtimes, paired_slots

SCALING_MARKERS = {"none": "o", "expand": "^", "reduce_channels": "v", "reduce_block": "s"}
SCALING_LABELS = {"none": "as designed", "expand": "expanded", "reduce_channels": "fewer channels",
                  "reduce_block": "bottleneck blocks"}
RUNTIME_SHADES = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")
PAPER_STYLE = {"marker": "D", "markerfacecolor": "none", "markeredgecolor": "black",
               "linestyle": "none", "markersize": 6}
DPI = 100
SLOT_SPAN = 0.72  # share of a network group's x-range its technique markers spread over


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def say_not_measured(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11,
            color="#a00000", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def pareto_front(points: pd.DataFrame, x: str, y: str) -> list:
    """Index labels of the points no other point beats on both lower ``x`` and higher ``y``."""
    front, best = [], -math.inf
    for label, point in points.sort_values([x, y], ascending=[True, False]).iterrows():
        if point[y] > best:
            front.append(label)
            best = point[y]
    return front


def _grid(rows: int, cols: int, width: float, row_height: float) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(width, max(row_height * rows, 2.5)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(max(rows, 1), max(cols, 1), squeeze=False))
    return figure, axes


def slot_offset(role: str, order: Sequence[str]) -> float:
    """x offset of a technique's marker inside its group, centred, for any number of them."""
    spacing = min(0.18, SLOT_SPAN / len(order))
    return (order.index(role) - (len(order) - 1) / 2) * spacing


def technique_handles(order: Sequence[str]) -> list[Line2D]:
    return [Line2D([], [], marker="o", linestyle="none", color=technique_color(t),
                   label=technique_label(t)) for t in order]


def accuracy_figure(table: pd.DataFrame) -> Figure:
    """Test accuracy of each base network and its version by each technique (95% CI)."""
    datasets = classification_datasets(table)
    figure, axes = _grid(len(datasets), 1, 10, 3.6)
    lookup = Lookup(table)
    order = technique_order()
    if not datasets:
        say_not_measured(axes[0, 0], "no classification results")
    for ax, dataset in zip(axes[:, 0], datasets):
        slots = paired_slots(table, dataset, "direct")
        groups = list(dict.fromkeys(group for group, *_ in slots))
        metric = PRIMARY_ACCURACY[dataset]
        for group, role, ours, theirs in slots:
            x = groups.index(group) + slot_offset(role, order)
            m = lookup.get(ARCHOPT, dataset, ours, metric)
            if m is not None:
                low, high = m.interval
                ax.errorbar(x, m.value, yerr=[[m.value - low], [high - m.value]], fmt="o",
                            color=technique_color(role), capsize=3)
            p = lookup.get(PAPER, dataset, theirs, metric)
            if p is not None:
                ax.plot(x, p.value, **PAPER_STYLE)
        ax.set_xticks(range(len(groups)), [g.replace("resnet", "ResNet").replace(
            "squeezenet", "SqueezeNet") for g in groups])
        ax.set_ylabel(f"test {ACCURACY_LABELS[metric]}")
        ax.set_title(f"{dataset}: accuracy per network and technique (bars: 95% CI)")
        ax.grid(axis="y", alpha=0.3)
    handles = technique_handles(order)
    handles.append(Line2D([], [], label="paper", **PAPER_STYLE))
    figure.legend(handles=handles, loc="outside right upper")
    return figure


def paper_twins(table: pd.DataFrame, dataset: str) -> dict[str, str]:
    """archopt model -> the paper's network in the same table slot."""
    twins = {}
    for scenario in scenarios():
        for _, _, ours, theirs in paired_slots(table, dataset, scenario):
            if ours and theirs:
                twins.setdefault(ours, theirs)
    return twins


def skipped_reason(table: pd.DataFrame, dataset: str, device: str) -> str:
    rows = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["device"] == device) & (table["metric"] == "latency_ms")]
    notes = [n for n in rows["note"].dropna().unique() if str(n).startswith(("skipped", "failed"))]
    return f"{dataset} {DEVICE_LABELS.get(device, device)}" + (f" ({notes[0]})" if notes else "")


def has_latency(table: pd.DataFrame, dataset: str, device: str) -> bool:
    rows = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["device"] == device) & (table["metric"] == "latency_ms")]
    return bool(rows["value"].notna().any())


def note_unmeasured(figure: Figure, missing: list[str]) -> None:
    """Name the devices without measurements above the panels (no empty panels)."""
    if missing:
        figure.suptitle("Not measured: " + "; ".join(missing), color="#a00000", fontsize=10)


def paper_label(device: str) -> str:
    if device == "cpu":
        return "paper (PyTorch 2019; one conv per block on the GPU)"
    return "paper (PyTorch 2019)"


def latency_devices(table: pd.DataFrame) -> list[str]:
    """CPU and GPU (named when unmeasured), then every other device with latency rows
    (an imported target device)."""
    rows = table[(table["source"] == ARCHOPT) & (table["metric"] == "latency_ms")]
    return list(dict.fromkeys(["cpu", "cuda", *rows["device"].dropna()]))


def latency_figure(table: pd.DataFrame, devices: Sequence[str] | None = None) -> Figure:
    """Mean single-image latency ± std per network, one bar per runtime, per device."""
    devices = devices or latency_devices(table)
    datasets = classification_datasets(table)
    lookup = Lookup(table)
    panels = [(d, v) for d in datasets for v in devices if has_latency(table, d, v)]
    n_models = max([len(models_of(table, ARCHOPT, d)) for d in datasets] + [1])
    figure, axes = _grid(len(panels), 1, max(10, 0.45 * n_models + 3), 3.6)
    if not panels:
        say_not_measured(axes[0, 0], "latency not measured")
    for ax, (dataset, device) in zip(axes[:, 0], panels):
        runtimes = [r for d, r in archopt_runtimes(table, dataset) if d == device]
        models = list(models_of(table, ARCHOPT, dataset)["model"])
        width = 0.8 / max(len(runtimes), 1)
        for i, runtime in enumerate(runtimes):
            xs, ys, errors = [], [], []
            for j, model in enumerate(models):
                m = lookup.latency(ARCHOPT, dataset, model, device, runtime)
                if m is not None:
                    xs.append(j + (i - (len(runtimes) - 1) / 2) * width)
                    ys.append(m.value)
                    errors.append(0 if math.isnan(m.std) else m.std)
            ax.bar(xs, ys, width, yerr=errors, capsize=2, color=RUNTIME_SHADES[i % 4],
                   label=f"archopt {runtime}")
        twins = paper_twins(table, dataset)
        paper = [(j, lookup.latency(PAPER, dataset, twins.get(m), device, "eager"))
                 for j, m in enumerate(models)]
        paper = [(j, p.value) for j, p in paper if p is not None]
        if paper:
            ax.plot(*zip(*paper), label=paper_label(device), **PAPER_STYLE)
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("ms per image")
        ax.set_title(f"{dataset}: {DEVICE_LABELS.get(device, device)} latency, batch 1 "
                     "(mean ± std)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    note_unmeasured(figure, [skipped_reason(table, d, v) for d in datasets for v in devices
                             if not has_latency(table, d, v)])
    return figure


def _scatter_models(ax: Axes, lookup: Lookup, models: pd.DataFrame, dataset: str,
                    x_of: Callable[[str], float | None]) -> pd.DataFrame:
    """Plot archopt's networks coloured by technique, shaped by scaling; returns the points."""
    points = []
    for model in models.itertuples():
        x, y = x_of(model.model), lookup.accuracy(ARCHOPT, dataset, model.model)
        if x is None or y is None:
            continue
        ax.plot(x, y.value, marker=SCALING_MARKERS.get(model.scaling, "o"),
                color=technique_color(model.technique), linestyle="none", markersize=7)
        points.append({"model": model.model, "x": x, "y": y.value})
    return pd.DataFrame(points, columns=["model", "x", "y"])


def _draw_front(ax: Axes, points: pd.DataFrame) -> None:
    if points.empty:
        return
    front = points.loc[pareto_front(points, "x", "y")]
    ax.step(front["x"], front["y"], where="post", color="black", linewidth=1, alpha=0.6,
            label="Pareto front")
    for point in front.itertuples():
        ax.annotate(point.model, (point.x, point.y), textcoords="offset points", xytext=(4, 4),
                    fontsize=7)


def _scatter_legend(figure: Figure) -> None:
    handles = technique_handles(technique_order())
    handles += [Line2D([], [], marker=SCALING_MARKERS[s], linestyle="none", color="black",
                       markerfacecolor="white", label=SCALING_LABELS[s]) for s in SCALING_MARKERS]
    handles += [Line2D([], [], color="black", alpha=0.6, label="Pareto front (archopt)"),
                Line2D([], [], label="paper", **PAPER_STYLE)]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8)


def pareto_params_figure(table: pd.DataFrame) -> Figure:
    """Accuracy against parameter count, Pareto front (fewer params, higher accuracy) marked."""
    datasets = classification_datasets(table)
    figure, axes = _grid(len(datasets), 1, 10, 4.2)
    lookup = Lookup(table)
    if not datasets:
        say_not_measured(axes[0, 0], "no classification results")
    for ax, dataset in zip(axes[:, 0], datasets):
        def params_of(model: str, dataset: str = dataset) -> float | None:
            m = lookup.get(ARCHOPT, dataset, model, "params")
            return None if m is None else m.value

        points = _scatter_models(ax, lookup, models_of(table, ARCHOPT, dataset), dataset, params_of)
        _draw_front(ax, points)
        for model in models_of(table, PAPER, dataset)["model"]:
            acc, params = lookup.accuracy(PAPER, dataset, model), lookup.get(PAPER, dataset, model,
                                                                            "params")
            if acc is not None and params is not None:
                ax.plot(params.value, acc.value, **{**PAPER_STYLE, "markersize": 4})
        ax.set_xscale("log")
        ax.set_xlabel("parameters (log scale)")
        ax.set_ylabel(f"test {ACCURACY_LABELS[PRIMARY_ACCURACY[dataset]]}")
        ax.set_title(f"{dataset}: accuracy vs parameters")
        ax.grid(alpha=0.3)
        if points.empty:
            say_not_measured(ax, f"{dataset}: archopt accuracy not measured")
    _scatter_legend(figure)
    return figure


def pareto_latency_figure(table: pd.DataFrame) -> Figure:
    """Accuracy against latency per device and runtime, Pareto front marked."""
    datasets = classification_datasets(table)
    lookup = Lookup(table)
    measured = [(d, device, runtime) for d in datasets
                for device, runtime in archopt_runtimes(table, d) if has_latency(table, d, device)]
    cols = 2
    figure, axes = _grid(math.ceil(max(len(measured), 1) / cols), cols, 12, 4.0)
    for ax in axes.flat[len(measured):]:
        say_not_measured(ax, "no further latency measured" if measured else "latency not measured")
    for ax, (dataset, device, runtime) in zip(axes.flat, measured):
        def latency_of(model: str, d=dataset, v=device, r=runtime) -> float | None:
            m = lookup.latency(ARCHOPT, d, model, v, r)
            return None if m is None else m.value

        models = models_of(table, ARCHOPT, dataset)
        points = _scatter_models(ax, lookup, models, dataset, latency_of)
        _draw_front(ax, points)
        ax.set_xlabel("ms per image (mean)")
        ax.set_ylabel(f"test {ACCURACY_LABELS[PRIMARY_ACCURACY[dataset]]}")
        ax.set_title(f"{dataset}: accuracy vs {DEVICE_LABELS.get(device, device)} latency, "
                     f"{runtime}")
        ax.grid(alpha=0.3)
    _scatter_legend(figure)
    return figure


def latency_ratios(table: pd.DataFrame, source: str, device: str, runtime: str
                   ) -> dict[str, list[float]]:
    """technique -> latency / base latency, one value per direct-application network."""
    lookup = Lookup(table)
    ratios: dict[str, list[float]] = {}
    for dataset in classification_datasets(table):
        for group in scenario_groups(models_of(table, source, dataset), "direct"):
            base = lookup.latency(source, dataset, group.anchor, device, runtime)
            for role, model in group.others().items():
                m = lookup.latency(source, dataset, model, device, runtime)
                if base is not None and m is not None:
                    ratios.setdefault(role, []).append(m.value / base.value)
    return ratios


def geometric_mean(values: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def latency_ratio_figure(table: pd.DataFrame, devices: Sequence[str] | None = None) -> Figure:
    """Latency of each technique relative to its base network, per device and runtime."""
    devices = devices or latency_devices(table)
    datasets = classification_datasets(table)
    measured = [v for v in devices if any(has_latency(table, d, v) for d in datasets)]
    figure, axes = _grid(1, len(measured), 6 * max(len(measured), 1), 4.2)
    if not measured:
        say_not_measured(axes[0, 0], "latency not measured")
    techniques = technique_order()[1:]
    for ax, device in zip(axes[0], measured):
        runtimes = list(dict.fromkeys(r for d in datasets for v, r in archopt_runtimes(table, d)
                                      if v == device))
        width = 0.8 / max(len(runtimes), 1)
        for i, runtime in enumerate(runtimes):
            ratios = latency_ratios(table, ARCHOPT, device, runtime)
            for j, technique in enumerate(techniques):
                values = ratios.get(technique)
                if not values:
                    continue
                x = j + (i - (len(runtimes) - 1) / 2) * width
                ax.bar(x, geometric_mean(values), width, color=RUNTIME_SHADES[i % 4],
                       label=f"archopt {runtime}" if j == 0 else None)
                ax.plot([x] * len(values), values, "k.", markersize=4)
        paper = latency_ratios(table, PAPER, device, "eager")
        points = [(j, geometric_mean(paper[t])) for j, t in enumerate(techniques) if paper.get(t)]
        if points:
            ax.plot(*zip(*points), label=paper_label(device), **PAPER_STYLE)
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_xticks(range(len(techniques)), [technique_label(t) for t in techniques])
        ax.set_ylabel("latency / base latency")
        ax.set_title(f"{DEVICE_LABELS.get(device, device)}: geometric mean over networks "
                     "(dots: each network)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    note_unmeasured(figure, [skipped_reason(table, d, v) for d in datasets for v in devices
                             if v not in measured])
    return figure


def gan_samples_figure(sample_dirs: Mapping[str, str | os.PathLike], rows: int = 4) -> Figure:
    """Like the dissertation's Figure 28: one validation input per row; columns input,
    real map, then each generator's map (the same seeded pairs for every variant)."""
    folders = {model: Path(folder) for model, folder in sample_dirs.items()}
    stems = sorted(
        set.intersection(*({p.name[: -len("_input.png")] for p in f.glob("*_input.png")}
                           for f in folders.values())) if folders else set(),
        key=lambda stem: (len(stem), stem),
    )[:rows]
    if not stems:
        figure = Figure(figsize=(8, 2), layout="constrained")
        ax = figure.subplots()
        say_not_measured(ax, "Pix2Pix not run: no generator samples")
        return figure
    first = next(iter(folders.values()))
    columns = [("input (satellite)", first, "input"), ("real map", first, "real")] + [
        (model, folder, "fake") for model, folder in folders.items()
    ]
    figure, axes = _grid(len(stems), len(columns), 2.0 * len(columns), 2.1)
    for r, stem in enumerate(stems):
        for c, (title, folder, kind) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(imread(folder / f"{stem}_{kind}.png"))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"pair {stem}", fontsize=9)
    return figure
