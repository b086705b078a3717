"""Assemble the report from its inputs and write every output atomically."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from archopt import __version__
from archopt.io import atomic_path, write_json_atomic, write_text_atomic
from archopt.paths import GAN_DATASET, dataset_source
from archopt.report import figures as fig
from archopt.report import sources
from archopt.report.analysis import Lookup, models_of, scenario_title, scenarios
from archopt.report.answer import (
    DeviceAnswer,
    budgets_of,
    deployment_runtimes,
    measured_devices,
    recommendations_json,
    what_to_deploy,
)
from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.findings import DEFAULT_TOLERANCE, findings, findings_frame
from archopt.report.flowchart import (
    draw_flowchart,
    flowchart_leaves,
    flowchart_text,
    one_per_device,
)
from archopt.report.html import (
    ReportContent,
    ReportFigure,
    markdown_lists,
    markdown_section,
    render_html,
)
from archopt.report.posttrain import (
    PostTrainData,
    int8_verdicts,
    posttrain_data,
    quantize_leaves,
    read_posttrain,
    with_finding_rows,
    with_posttrain_rows,
)
from archopt.report.provisional import (
    banner,
    classifier_reasons,
    generator_reasons,
    mark_cells,
    mark_verdicts,
)
from archopt.report.runtimes import macs_latency_figure, runtimes_data
from archopt.report.table import (
    ARCHOPT,
    PAPER,
    ReportInputs,
    build_table,
    not_run_note,
    runtimes_not_run,
)
from archopt.report.tables import gan_table, not_run_notes, scenario_table

LOG = logging.getLogger("archopt.report")

# How to draw each figure of the Figures section (the others: flowchart, gan_samples).
DRAW: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "accuracy": fig.accuracy_figure,
    "latency": fig.latency_figure,
    "pareto_params": fig.pareto_params_figure,
    "pareto_latency": fig.pareto_latency_figure,
    "latency_ratio": fig.latency_ratio_figure,
}
FLOWCHART = "flowchart"
GAN_SAMPLES = "gan_samples"
FIGURE_FILES = tuple(f.name for f in REPORT_FIGURES)  # every PNG the report writes
SEARCH_DISPLAY = ("kind", "depth", "technique", "target_params", "model", "factor", "params",
                  "rel_gap", "paper_model", "paper_factor", "paper_params")


@dataclass(frozen=True)
class ReportOutputs:
    html: str | os.PathLike
    results: str | os.PathLike
    findings: str | os.PathLike
    figures: Mapping[str, str | os.PathLike]  # FIGURE_FILES' names -> PNG
    recommendations: str | os.PathLike  # the answer section as JSON


def bench_environments(paths: Sequence[str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """device (as its bench files name it) -> the ``env`` object of the first file for it."""
    envs: dict[str, dict[str, Any]] = {}
    for path in paths:
        bench = sources.read_bench(path)
        device = sources.bench_identity(bench)[2]
        env = bench.get("env")
        if device not in envs and isinstance(env, dict) and env:
            envs[device] = env
    return envs


def imported_devices(paths: Sequence[str | os.PathLike]) -> set[str]:
    """The devices whose bench files were imported from ``run_bench.py`` results."""
    found = set()
    for path in paths:
        bench = sources.read_bench(path)
        if sources.is_imported(bench):
            found.add(sources.bench_identity(bench)[2])
    return found


def environment_note(env: Mapping[str, Any]) -> str:
    """``Measured on AMD EPYC 7B13, 1 thread(s).`` from a bench file's ``env``."""
    parts = [str(env[key]) for key in ("cpu_model", "gpu") if env.get(key)]
    if env.get("threads") is not None:
        parts.append(f"{env['threads']} thread(s)")
    return f"Measured on {', '.join(parts)}." if parts else ""


def answer_data(table: pd.DataFrame, inputs: ReportInputs, posttrain: PostTrainData,
                config: Mapping[str, Any]) -> tuple[list[DeviceAnswer], dict[str, Any]]:
    """The answer per device (from the study's and the post-training results) and what
    its template (templates/answer.html) is given."""
    tolerance = tolerance_of(config)
    bench_files = [*inputs.bench, *inputs.posttrain_bench]
    precisions = {r.model: str(r.summary.get("method_label", r.method)) for r in posttrain.results}
    answers = what_to_deploy(table, config, tolerance, imported_devices(bench_files), precisions)
    envs = bench_environments(bench_files)
    return answers, {
        "answers": answers, "tolerance": tolerance,
        "environments": {device: environment_note(env) for device, env in envs.items()},
        "budgets_configured": {a.device: bool(budgets_of(config, a.device)) for a in answers},
    }


@dataclass(frozen=True)
class DeviceRow:
    """A device of the Devices section: where it ran and how clean its timings are."""

    device: str
    imported: bool
    environment: str
    runtimes: list[str]
    cells: int  # measured latencies (network x runtime)
    noisy: int
    unreliable: int


def device_rows(table: pd.DataFrame, inputs: ReportInputs) -> list[DeviceRow]:
    """Every device with a measured latency of a study network, from the tidy table
    (without the post-training rows) and the bench files."""
    bench_files = [*inputs.bench, *inputs.posttrain_bench]
    imported, envs = imported_devices(bench_files), bench_environments(bench_files)
    ours = table[(table["source"] == ARCHOPT) & (table["device"] != "")]
    rows = []
    for device in measured_devices(table):
        mine = ours[ours["device"] == device]
        latency = mine[(mine["metric"] == "latency_ms") & mine["value"].notna()]
        warnings = mine.loc[mine["metric"] == "latency_iqr_ms", "note"].fillna("")
        rows.append(DeviceRow(device, device in imported, environment_note(envs.get(device, {})),
                              list(dict.fromkeys(latency["runtime"])), len(latency),
                              int((warnings == "warning=noisy").sum()),
                              int((warnings == "warning=unreliable").sum())))
    return rows


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[str]:
    items = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            items += flatten(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={value}")
    return items


def training_devices(table: pd.DataFrame) -> str:
    notes = table.loc[(table["source"] == ARCHOPT) & (table["metric"] == "train_seconds"), "note"]
    devices = sorted({n.removeprefix("device=") for n in notes.dropna() if n.startswith("device=")})
    return ", ".join(devices) or "not recorded"


def setup_rows(config: Mapping[str, Any], table: pd.DataFrame, envs: Mapping[str, Mapping]
               ) -> list[tuple[str, str]]:
    train, bench = config.get("train", {}), config.get("bench", {})
    rows = [
        ("archopt version", __version__),
        ("preset", str(config.get("preset", "paper"))),
        ("datasets studied", ", ".join(config.get("studies", [])) or "none"),
        ("data sources", "; ".join(f"{name}: {dataset_source(config, name)['url']}"
                                   for name in used_datasets(config))),
        ("networks", "every network of the dissertation" if config.get("networks") is None
         else ", ".join(config["networks"])),
        ("training grid", f"lr {train.get('grid', {}).get('lr')} x batch size "
                          f"{train.get('grid', {}).get('batch_size')}, seeds {train.get('seeds')}"),
        ("training length", f"at most {train.get('max_epochs')} epochs"),
        ("training images", "all left after the validation split" if train.get("train_subset")
         is None else f"first {train['train_subset']} left after the validation split"),
        ("validation split", f"last {train.get('val_size')} images of the official training set"),
        ("training device", training_devices(table)),
        ("benchmark devices", ", ".join(bench.get("devices", [])) or "none"),
        ("benchmark runtimes", ", ".join(bench.get("runtimes", []))),
        ("benchmark images", "whole test set" if bench.get("images") is None
         else f"first {bench['images']} test images"),
        ("benchmark CPU threads", str(bench.get("threads", "default"))),
        ("accuracy tolerance", f"{tolerance_of(config):g} percentage points"),
    ]
    for device, env in envs.items():
        rows.append((f"{device} environment", ", ".join(flatten(env))))
    return rows


def used_datasets(config: Mapping[str, Any]) -> list[str]:
    """The datasets the configured study downloads."""
    gan = config.get("gan", {}).get("variants")
    return [*config.get("studies", []), *([GAN_DATASET] if gan else [])]


def tolerance_of(config: Mapping[str, Any]) -> float:
    return float(config.get("report", {}).get("accuracy_tolerance", DEFAULT_TOLERANCE))


def not_measured(table: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """Plain-language list of everything asked for (or in the paper) that has no number."""
    items = []
    lookup = Lookup(table)
    ours = set(table.loc[table["source"] == ARCHOPT, "dataset"])
    for dataset in sorted(set(table.loc[table["source"] == PAPER, "dataset"]) - ours - {GAN_DATASET}):
        items.append(f"{dataset}: not part of this study (the paper's numbers are in results.csv)")
    for dataset in sorted(ours - {GAN_DATASET}):
        models = models_of(table, ARCHOPT, dataset)["model"]
        untrained = [m for m in models if lookup.accuracy(ARCHOPT, dataset, m) is None]
        if untrained:
            items.append(f"{dataset}: no test accuracy for {', '.join(untrained)}")
        latency = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                        & (table["metric"] == "latency_ms") & table["value"].isna()]
        for (device, runtime), rows in latency.groupby(["device", "runtime"]):
            notes = "; ".join(sorted(set(rows["note"].dropna()) - {""}))
            items.append(f"{dataset}, {device} / {runtime}: latency not measured for "
                         f"{len(rows)} network(s)" + (f" ({notes})" if notes else ""))
        for device, (ran, missing) in runtimes_not_run(table, dataset).items():
            items.append(f"{dataset}: {not_run_note(device, ran, missing)}")
    if not config.get("bench", {}).get("devices", ["cpu"]):
        items.append("latency: no benchmark device configured")
    measured = set(table.loc[(table["source"] == ARCHOPT) & table["value"].notna(), "metric"])
    if "pixel_acc" not in measured:
        items.append("maps / Pix2Pix (Table 13, finding 5): not run")
    if "perceptual_error" not in measured:
        items.append("perceptual real-vs-fake study: not run")
    return items


def gan_status(table: pd.DataFrame) -> str:
    ours = table[(table["source"] == ARCHOPT) & (table["dataset"] == GAN_DATASET)]
    status = []
    if not (ours["metric"] == "pixel_acc").any():
        status.append("GAN training not run: no results/gan/maps/{model}/summary.json yet; only "
                      "the paper's values are shown.")
    if not (ours["metric"] == "perceptual_error").any():
        status.append("Perceptual study not run: no results/study/results.csv yet.")
    return " ".join(status)


def search_display(search: pd.DataFrame) -> pd.DataFrame:
    return search[[c for c in SEARCH_DISPLAY if c in search.columns]]


def shift_implementations(table: pd.DataFrame) -> str:
    notes = table.loc[(table["source"] == ARCHOPT) & (table["metric"] == "latency_ms"), "note"]
    impls = sorted({n.removeprefix("shift_impl=") for n in notes.dropna()
                    if n.startswith("shift_impl=")})
    return ", ".join(impls) or "not recorded"


def methodology(config: Mapping[str, Any], table: pd.DataFrame) -> list[str]:
    train, bench = config.get("train", {}), config.get("bench", {})
    images = "the whole test set" if bench.get("images") is None else \
        f"the first {bench['images']} test images"
    return [
        f"**Validation split.** The last {train.get('val_size')} images of the official training "
        "set are held out; each network keeps the grid run and the epoch with the best "
        "validation accuracy, and the test set is only used for the reported accuracy.",
        "**Accuracy.** Test top-1 and top-5 with 95% Wilson intervals. CIFAR-100 is compared on "
        "top-5, the dissertation's metric there (its Table 4 header says top-1 by mistake).",
        f"**Latency.** One image at a time (batch 1) over {images}, "
        f"{bench.get('threads', 'default')} CPU thread(s), after warm-up; mean ± standard "
        "deviation, and the 95% interval of the mean for comparisons. Runtimes: "
        f"{', '.join(bench.get('runtimes', []))}, each on the benchmarked device.",
        f"**Shift on CPU.** The channel shift runs on the CPU (implementation: "
        f"{shift_implementations(table)}; `conv`, `slice` and `pad` give identical outputs). The "
        "dissertation only had a CUDA kernel: its \"CPU\" numbers offload one convolution per "
        "block to the GPU, so its CPU column is not pure CPU.",
        "**Efficiency and size.** E_P x 1000 = accuracy (%) / parameters x 1000 (the paper's "
        "E_P column); storage = bytes of the selected checkpoint; MACs count convolutions and "
        "linear layers for one image (the shift counts zero).",
        f"**Verdicts.** A latency difference counts where the 95% intervals are disjoint; "
        f"accuracy claims use a tolerance of {tolerance_of(config):g} points (config key "
        "`report.accuracy_tolerance`). The paper's latency intervals are derived from its "
        "standard deviations over the 10,000 test images.",
    ]


def deviations(config: Mapping[str, Any], searches: Mapping[str, pd.DataFrame]) -> list[str]:
    train, bench = config.get("train", {}), config.get("bench", {})
    items = [
        "Model selection on a validation split instead of the test set.",
        "Latency on pure CPU (no GPU offload) and with current PyTorch / ONNX Runtime on "
        "different hardware: absolute times are not comparable with the paper's, ratios are.",
        "Paper values are taken from the first table that prints a network: Table 5's ResNet20 "
        "count (271,762, a typo for 272,762) and Table 12's repeated ResNet56-Shuffle accuracy "
        "(87.10, Table 4 has 85.85) are not used.",
    ]
    reduced = []
    if train.get("train_subset") is not None:
        reduced.append(f"training on the first {train['train_subset']} images")
    if train.get("max_epochs", 200) < 200:
        reduced.append(f"at most {train['max_epochs']} epochs instead of 200")
    grid = train.get("grid", {})
    if len(grid.get("lr", [])) * len(grid.get("batch_size", [])) < 6:
        reduced.append(f"a grid of lr {grid.get('lr')} x batch {grid.get('batch_size')} instead "
                       "of 3 x 2")
    if bench.get("images") is not None:
        reduced.append(f"latency over {bench['images']} test images")
    if reduced:
        items.append(f"Reduced study (preset {config.get('preset')}): " + ", ".join(reduced)
                     + ". Accuracies are far below the paper's and only indicate the method.")
    for dataset, search in searches.items():
        if "paper_params" in search.columns:
            # Compare architectures, not names: several rates give the same widths, so the
            # search may print another name for the paper's own network.
            named = search[search["paper_params"].notna()]
            differ = named[named["paper_params"].astype("int64") != named["params"].astype("int64")]
            if len(differ):
                pairs = ", ".join(f"{r.model} (paper {r.paper_model})" for r in differ.itertuples())
                items.append(f"{dataset}: the budget search picks other widths than the paper "
                             f"for {pairs}.")
    return items


def scenario_tables(table: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    tables = []
    for dataset in fig.classification_datasets(table):
        for scenario in scenarios():
            frame = scenario_table(table, dataset, scenario)
            if not frame.empty:
                tables.append((dataset, scenario_title(scenario), frame))
    return tables


def write_png(path: str | os.PathLike, png: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)


def provisional_reasons(
    inputs: ReportInputs, config: Mapping[str, Any]
) -> dict[tuple[str, str], str]:
    summaries = [sources.read_summary(path) for path in inputs.summaries]
    gan_summaries = [sources.read_gan_summary(path) for path in inputs.gan_summaries]
    return classifier_reasons(summaries, config.get("train", {})) | generator_reasons(
        gan_summaries, config.get("gan", {})
    )


def build_report(inputs: ReportInputs, outputs: ReportOutputs, config: Mapping[str, Any],
                 paper_notes: str | os.PathLike) -> pd.DataFrame:
    """Read the inputs, write results.csv, recommendations.json, findings.csv, the figures
    and index.html."""
    tolerance = tolerance_of(config)
    table = build_table(inputs)
    LOG.info("tidy table: %d rows from %d summaries and %d bench files", len(table),
             len(inputs.summaries), len(inputs.bench))
    posttrain = read_posttrain(inputs.posttrain, inputs.posttrain_bench)
    combined = with_posttrain_rows(table, posttrain)
    with atomic_path(outputs.results) as tmp:
        combined.to_csv(tmp, index=False)
    answers, answer = answer_data(combined, inputs, posttrain, config)
    write_json_atomic(outputs.recommendations, recommendations_json(answers, tolerance))
    reasons = provisional_reasons(inputs, config)
    verdicts = mark_verdicts(findings(table, tolerance), reasons)
    posttrain_verdicts = int8_verdicts(posttrain, table)
    with atomic_path(outputs.findings) as tmp:
        with_finding_rows(findings_frame(verdicts), posttrain_verdicts).to_csv(tmp, index=False)
    pngs = {}
    for name, draw in DRAW.items():
        LOG.info("drawing figure %s", name)
        pngs[name] = fig.figure_png(draw(table))
    low_compute = tuple(config.get("report", {}).get("low_compute_devices", ["cpu"]))
    quantize = quantize_leaves(posttrain, table, low_compute)
    every_runtime = flowchart_leaves(table, tolerance, low_compute=low_compute) + quantize
    runtimes = deployment_runtimes(answers)
    leaves = one_per_device(
        flowchart_leaves(table, tolerance, low_compute=low_compute, runtimes=runtimes)
        + quantize, runtimes)
    pngs[FLOWCHART] = fig.figure_png(draw_flowchart(leaves))
    pngs[GAN_SAMPLES] = fig.figure_png(fig.gan_samples_figure(inputs.gan_samples))
    for name, png in pngs.items():
        write_png(outputs.figures[name], png)
    searches = {Path(p).stem: sources.read_search(p) for p in inputs.searches}
    content = ReportContent(
        answer=answer,
        devices=device_rows(table, inputs),
        setup=setup_rows(config, table, bench_environments(inputs.bench)),
        not_measured=not_measured(table, config),
        verdicts=verdicts,
        tolerance=tolerance,
        flowchart_png=pngs[FLOWCHART],
        flowchart_text=flowchart_text(leaves),
        flowchart_runtimes_text=flowchart_text(every_runtime),
        tables=[(dataset, title, mark_cells(frame, dataset, reasons))
                for dataset, title, frame in scenario_tables(table)],
        table_notes={dataset: not_run_notes(table, dataset)
                     for dataset in fig.classification_datasets(table)},
        gan_table=mark_cells(gan_table(table), GAN_DATASET, reasons),
        gan_status=gan_status(table),
        gan_samples_png=pngs[GAN_SAMPLES] if inputs.gan_samples else None,
        search_tables=[(d, search_display(s)) for d, s in searches.items()],
        figures=[ReportFigure(f.name, f.title, f.caption, pngs[f.name])
                 for f in REPORT_FIGURES if f.section == "figures"],
        runtimes=runtimes_data(table, tolerance, fig.figure_png(macs_latency_figure(table))),
        posttrain=posttrain_data(table, posttrain, posttrain_verdicts),
        methodology=methodology(config, table),
        deviations=deviations(config, searches),
        paper_inconsistencies_html=markdown_lists(
            markdown_section(Path(paper_notes).read_text(), "Inconsistencies")),
        generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        provisional_banner=banner(reasons),
        provisional=[(dataset, model, why) for (dataset, model), why in sorted(reasons.items())],
    )
    write_text_atomic(outputs.html, render_html(content))
    LOG.info("wrote %s", outputs.html)
    return table
