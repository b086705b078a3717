"""Looking numbers up in the tidy table, comparing latencies, and the paper's scenarios.

The dissertation's tables follow three scenarios, which the tables, findings and
figures all share:

* ``direct`` (Tables 1-4): each base network next to its version by every registered
  technique; one group per family and depth (``squeezenet``, ``resnet20``, ...).
* ``expanded`` (Tables 5-6): each base ResNet next to its optimized versions widened to
  the base's parameter count; one group per depth.
* ``reduced_<technique>`` (Tables 7-12), one per registered technique with a ResNet
  hook: each optimized ResNet next to the base ResNet shrunk to its size (fewer
  channels, or bottlenecks).

A group has an ``anchor`` (the network the others are compared with) and slots named
by ``role``: the technique in ``direct``/``expanded``, the scaling in ``reduced_*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from archopt.datasets import reported_datasets
from archopt.report.table import ARCHOPT, PAPER, PRIMARY_ACCURACY
from archopt.techniques import BASE, BASE_COLOR, BASE_LABEL, get_technique, technique_names

REDUCED_ROLES = ("none", "reduce_channels", "reduce_block")
SCENARIO_TITLES = {"direct": "Direct application", "expanded": "Optimized nets expanded to the base's size"}
# The dissertation's tables of each scenario (its reduced ones are each technique's
# ``paper_tables``): a dataset it measured names them in its titles, a plugin's does not.
SCENARIO_PAPER_TABLES = {"direct": (1, 4), "expanded": (5, 6)}
SCALING_ROLE_LABELS = {"none": "optimized net", "reduce_channels": "fewer channels",
                       "reduce_block": "bottleneck blocks"}


# Techniques come from the registry on every call, so a plugin registered after this
# module was imported still gets its place, label and colour.
def technique_order() -> tuple[str, ...]:
    """``base`` then every registered technique, in registration order."""
    return (BASE, *technique_names())


def technique_label(technique: str) -> str:
    """The technique's label; a technique no longer registered shows its name."""
    if technique == BASE:
        return BASE_LABEL
    return get_technique(technique).label if technique in technique_names() else technique


def technique_color(technique: str) -> str:
    if technique == BASE:
        return BASE_COLOR
    return get_technique(technique).color if technique in technique_names() else "black"


def scenarios() -> tuple[str, ...]:
    """direct, expanded, then one reduced scenario per technique the search covers."""
    return ("direct", "expanded", *(f"reduced_{t}" for t in technique_names("resnet")))


def scenario_title(scenario: str, in_paper: bool = True) -> str:
    """The scenario's table title; ``in_paper``: with the dissertation's table numbers."""
    if scenario in SCENARIO_TITLES:
        title, tables = SCENARIO_TITLES[scenario], SCENARIO_PAPER_TABLES[scenario]
    else:
        technique = scenario.removeprefix("reduced_")
        title = f"Base nets reduced to the {technique_label(technique)} net's size"
        tables = get_technique(technique).paper_tables if technique in technique_names() else ()
    if tables and in_paper:
        title += f" (paper Tables {min(tables)}-{max(tables)})"
    return title


def role_label(role: str) -> str:
    """A table slot's label: a technique's, or the scaling of a reduced net."""
    return SCALING_ROLE_LABELS.get(role) or technique_label(role)


@dataclass(frozen=True)
class Measurement:
    """One number of the tidy table, with its spread (NaN where unknown)."""

    value: float
    std: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: float = math.nan
    note: str = ""

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval, or the point itself where none was recorded."""
        if math.isnan(self.ci_low) or math.isnan(self.ci_high):
            return self.value, self.value
        return self.ci_low, self.ci_high


class Lookup:
    """Fast access to the tidy table by (source, dataset, model, metric, device, runtime)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self._rows: dict[tuple, Measurement] = {}
        columns = ["source", "dataset", "model", "metric", "device", "runtime", "value", "std",
                   "ci_low", "ci_high", "n", "note"]
        for record in table[columns].itertuples(index=False):
            key = tuple(record[:6])
            note = "" if pd.isna(record.note) else str(record.note)
            self._rows[key] = Measurement(record.value, record.std, record.ci_low,
                                          record.ci_high, record.n, note)

    def get(self, source: str, dataset: str, model: str | None, metric: str, device: str = "",
            runtime: str = "") -> Measurement | None:
        """The measurement, or None where it is absent or was not measured."""
        if model is None:
            return None
        found = self._rows.get((source, dataset, model, metric, device, runtime))
        return found if found is not None and found.measured else None

    def accuracy(self, source: str, dataset: str, model: str | None) -> Measurement | None:
        return self.get(source, dataset, model, PRIMARY_ACCURACY[dataset])

    def latency(self, source: str, dataset: str, model: str | None, device: str,
                runtime: str) -> Measurement | None:
        return self.get(source, dataset, model, "latency_ms", device, runtime)


def compare_latency(a: Measurement, b: Measurement) -> str:
    """``faster``/``slower`` when the 95% intervals are disjoint, else ``tie``.

    The dissertation compared 95% confidence intervals; a difference inside them is not
    evidence either way.
    """
    a_low, a_high = a.interval
    b_low, b_high = b.interval
    if a_high < b_low:
        return "faster"
    if a_low > b_high:
        return "slower"
    return "tie"


def models_of(table: pd.DataFrame, source: str, dataset: str) -> pd.DataFrame:
    """One row of attributes per network of ``source`` on ``dataset``, in table order."""
    rows = table[(table["source"] == source) & (table["dataset"] == dataset)]
    return rows.drop_duplicates("model")[
        ["model", "paper_name", "family", "depth", "technique", "scaling", "width_factor",
         "budget_of"]
    ].reset_index(drop=True)


@dataclass(frozen=True)
class Group:
    """Networks compared with each other in one table block; ``slots``: role -> model."""

    scenario: str
    name: str
    anchor_role: str
    slots: dict[str, str]

    @property
    def anchor(self) -> str | None:
        return self.slots.get(self.anchor_role)

    def others(self) -> dict[str, str]:
        return {role: model for role, model in self.slots.items() if role != self.anchor_role}


def _family_key(model: pd.Series) -> str:
    return model["family"] if pd.isna(model["depth"]) else f"{model['family']}{int(model['depth'])}"


def direct_groups(models: pd.DataFrame) -> list[Group]:
    plain = models[(models["scaling"] == "none") & (models["family"] != "pix2pix")]
    groups: dict[str, dict[str, str]] = {}
    for _, model in plain.iterrows():
        groups.setdefault(_family_key(model), {})[model["technique"]] = model["model"]
    return [Group("direct", name, "base", _ordered(slots, technique_order()))
            for name, slots in groups.items()]


def expanded_groups(models: pd.DataFrame) -> list[Group]:
    expanded = models[models["scaling"] == "expand"]
    groups = []
    for depth in dict.fromkeys(expanded["depth"]):
        slots = {"base": f"resnet{depth}"} if f"resnet{depth}" in set(models["model"]) else {}
        for _, model in expanded[expanded["depth"] == depth].iterrows():
            slots.setdefault(model["technique"], model["model"])
        groups.append(Group("expanded", f"resnet{depth}", "base", _ordered(slots, technique_order())))
    return groups


def reduced_groups(models: pd.DataFrame, technique: str) -> list[Group]:
    reduced = models[models["scaling"].isin(REDUCED_ROLES[1:])]
    groups = []
    for depth in dict.fromkeys(models.loc[models["family"] == "resnet", "depth"]):
        anchor = f"resnet{depth}-{technique}"
        members = reduced[reduced["budget_of"].fillna("").str.split("|").apply(
            lambda targets, anchor=anchor: anchor in targets)]
        if members.empty:
            continue
        slots = {"none": anchor} if anchor in set(models["model"]) else {}
        for _, model in members.iterrows():
            slots.setdefault(model["scaling"], model["model"])
        groups.append(Group(f"reduced_{technique}", f"resnet{depth}", "none",
                            _ordered(slots, REDUCED_ROLES)))
    return groups


def _ordered(slots: dict[str, str], order: tuple[str, ...]) -> dict[str, str]:
    return {role: slots[role] for role in order if role in slots}


def scenario_groups(models: pd.DataFrame, scenario: str) -> list[Group]:
    """The groups of one scenario among ``models`` (see :func:`models_of`)."""
    if scenario == "direct":
        return direct_groups(models)
    if scenario == "expanded":
        return expanded_groups(models)
    if scenario.startswith("reduced_"):
        return reduced_groups(models, scenario.removeprefix("reduced_"))
    raise ValueError(f"unknown scenario {scenario!r}: expected one of {scenarios()}")


def latency_pairs(table: pd.DataFrame, source: str, dataset: str | None = None
                  ) -> list[tuple[str, str]]:
    """(device, runtime) pairs with latency rows (measured or skipped) for ``source``."""
    rows = table[(table["source"] == source) & (table["metric"] == "latency_ms")]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    return sorted(set(zip(rows["device"], rows["runtime"])))


def datasets_of(table: pd.DataFrame, source: str | None = None) -> list[str]:
    """The registered classification datasets with rows (of ``source``) in ``table``, in
    registration order: shipped or a plugin's, the ones the report compares networks on."""
    rows = table if source is None else table[table["source"] == source]
    return reported_datasets(rows["dataset"])


def classification_datasets(table: pd.DataFrame) -> list[str]:
    """The datasets the report gives its tables, figures and answers: those archopt
    measured or, where it measured none yet, the paper's."""
    return datasets_of(table, ARCHOPT) or datasets_of(table, PAPER)
