"""Paper-style tables: archopt's numbers next to the dissertation's, labelled "paper".

Each table is a DataFrame of display strings with two-level columns (quantity, source),
one row per slot of a scenario group (see :mod:`archopt.report.analysis`); an empty
cell means "not measured".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from archopt.paths import GAN_DATASET
from archopt.report.analysis import (
    REDUCED_ROLES,
    Group,
    Lookup,
    Measurement,
    latency_pairs,
    models_of,
    role_label,
    scenario_groups,
    technique_order,
)
from archopt.report.table import (
    ARCHOPT,
    PAPER,
    PRIMARY_ACCURACY,
    not_run_note,
    runtimes_not_run,
)

NOT_MEASURED = "not measured"
NOT_RUN = "not run"
ACCURACY_LABELS = {"top1": "top-1 %", "top5": "top-5 %", "pixel_acc": "pixel accuracy %"}
DEVICE_LABELS = {"cpu": "CPU", "cuda": "GPU"}


def fmt_interval(m: Measurement | None, digits: int = 2) -> str | None:
    """``86.47 [85.80, 87.13]``; the bare value where no interval is known."""
    if m is None:
        return None
    if math.isnan(m.ci_low):
        return f"{m.value:.{digits}f}"
    return f"{m.value:.{digits}f} [{m.ci_low:.{digits}f}, {m.ci_high:.{digits}f}]"


def fmt_spread(m: Measurement | None) -> str | None:
    """``2.94 ± 0.10`` (mean ± standard deviation)."""
    if m is None:
        return None
    return f"{m.value:.2f}" if math.isnan(m.std) else f"{m.value:.2f} ± {m.std:.2f}"


def fmt_count(m: Measurement | None) -> str | None:
    return None if m is None else f"{m.value:,.0f}"


def fmt_bytes(m: Measurement | None) -> str | None:
    if m is None:
        return None
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if m.value >= size:
            return f"{m.value / size:.1f} {unit}"
    return f"{m.value:.0f} B"


def fmt_number(m: Measurement | None, digits: int = 2) -> str | None:
    return None if m is None else f"{m.value:.{digits}f}"


def not_run_notes(table: pd.DataFrame, dataset: str, devices: list[str] | None = None
                  ) -> list[str]:
    """One note per device (of ``devices``; every one when None) naming the runtimes it
    has no latency column for on ``dataset``."""
    gaps = runtimes_not_run(table, dataset)
    return [not_run_note(DEVICE_LABELS.get(device, device), ran, missing)
            for device, (ran, missing) in gaps.items() if devices is None or device in devices]


def paired_slots(table: pd.DataFrame, dataset: str, scenario: str
                 ) -> list[tuple[str, str, str | None, str | None]]:
    """(group, role, archopt model, paper model) for every slot either source fills."""
    slots: dict[str, dict[tuple[str, str], str]] = {}
    for source in (ARCHOPT, PAPER):
        groups: list[Group] = scenario_groups(models_of(table, source, dataset), scenario)
        slots[source] = {(g.name, role): model for g in groups for role, model in g.slots.items()}
    keys = list(dict.fromkeys([*slots[ARCHOPT], *slots[PAPER]]))
    group_order = list(dict.fromkeys(group for group, _ in keys))
    role_order = (*technique_order(), *REDUCED_ROLES)
    keys.sort(key=lambda k: (group_order.index(k[0]), role_order.index(k[1])))
    return [(group, role, slots[ARCHOPT].get((group, role)), slots[PAPER].get((group, role)))
            for group, role in keys]


def archopt_runtimes(table: pd.DataFrame, dataset: str) -> list[tuple[str, str]]:
    rows = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                 & (table["metric"] == "latency_ms")]
    return list(dict.fromkeys(zip(rows["device"], rows["runtime"])))


def paper_name(table: pd.DataFrame, dataset: str, model: str | None) -> str | None:
    if model is None:
        return None
    rows = table[(table["source"] == PAPER) & (table["dataset"] == dataset)
                 & (table["model"] == model)]
    return rows["paper_name"].iloc[0] if len(rows) else model


def side_by_side(row: dict, lookup: Lookup, dataset: str, ours: str | None, theirs: str | None,
                 label: str, metric: str, fmt: Callable[[Measurement | None], str | None]) -> None:
    """Fill the ``(label, "archopt")`` and ``(label, "paper")`` cells of a table row."""
    row[(label, "archopt")] = fmt(lookup.get(ARCHOPT, dataset, ours, metric))
    row[(label, "paper")] = fmt(lookup.get(PAPER, dataset, theirs, metric))


def two_level(records: list[dict]) -> pd.DataFrame:
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame(records)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def scenario_table(table: pd.DataFrame, dataset: str, scenario: str) -> pd.DataFrame:
    """One of the paper's Tables 1-12 for ``dataset``, with archopt's numbers beside."""
    lookup = Lookup(table)
    primary = PRIMARY_ACCURACY[dataset]
    secondary = "top1" if primary == "top5" else None
    pairs = archopt_runtimes(table, dataset)
    devices = list(dict.fromkeys([d for d, _ in pairs] + ["cpu", "cuda"]))
    records = []
    for group, role, ours, theirs in paired_slots(table, dataset, scenario):
        row: dict[tuple[str, str], str | None] = {
            ("network", "group"): group,
            ("network", "role"): role_label(role),
            ("network", "archopt"): ours or NOT_RUN,
            ("network", "paper"): paper_name(table, dataset, theirs),
        }
        cells = (row, lookup, dataset, ours, theirs)
        side_by_side(*cells, f"{ACCURACY_LABELS[primary]} [95% CI]", primary, fmt_interval)
        if secondary:
            row[(f"{ACCURACY_LABELS[secondary]} [95% CI]", "archopt")] = fmt_interval(
                lookup.get(ARCHOPT, dataset, ours, secondary))
        side_by_side(*cells, "parameters", "params", fmt_count)
        side_by_side(*cells, "E_P x 1000", "ep_e3", fmt_number)
        row[("MACs / image", "archopt")] = fmt_count(lookup.get(ARCHOPT, dataset, ours, "macs"))
        row[("storage", "archopt")] = fmt_bytes(
            lookup.get(ARCHOPT, dataset, ours, "storage_bytes"))
        for device in devices:
            label = f"{DEVICE_LABELS.get(device, device)} latency ms (mean ± std)"
            for runtime in (r for d, r in pairs if d == device):
                row[(label, f"archopt {runtime}")] = fmt_spread(
                    lookup.latency(ARCHOPT, dataset, ours, device, runtime))
            row[(label, "paper")] = fmt_spread(
                lookup.latency(PAPER, dataset, theirs, device, "eager"))
        records.append(row)
    return two_level(records)


def gan_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table 13 (the paired-image dataset): pixel accuracy, generator size and perceptual
    error."""
    lookup = Lookup(table)
    models = {}
    for source in (ARCHOPT, PAPER):
        for m in models_of(table, source, GAN_DATASET).itertuples():
            models.setdefault(m.technique, {})[source] = m.model
    records = []
    for names in models.values():
        ours, theirs = names.get(ARCHOPT), names.get(PAPER)
        row = {("network", "archopt"): ours or NOT_RUN,
               ("network", "paper"): paper_name(table, GAN_DATASET, theirs)}
        cells = (row, lookup, GAN_DATASET, ours, theirs)
        side_by_side(*cells, "pixel accuracy % [95% CI]", "pixel_acc", fmt_interval)
        side_by_side(*cells, "generator parameters", "params", fmt_count)
        side_by_side(*cells, "perceptual error", "perceptual_error", fmt_number)
        for label, metric in (("L1", "l1"), ("PSNR dB", "psnr"), ("SSIM", "ssim")):
            row[(label, "archopt")] = fmt_number(lookup.get(ARCHOPT, GAN_DATASET, ours, metric), 3)
        for device, runtime in latency_pairs(table, ARCHOPT, GAN_DATASET):
            row[(f"{device} ms ({runtime})", "archopt")] = fmt_spread(
                lookup.latency(ARCHOPT, GAN_DATASET, ours, device, runtime))
        records.append(row)
    return two_level(records)
