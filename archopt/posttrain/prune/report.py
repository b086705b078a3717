"""What pruning adds to the report's post-training section: the equal-budget tables.

The dissertation's tables of base nets reduced to an optimized net's size (its Tables
7-12) get the pruned base net as one more row: channel pruning is the other way to reach
the same parameter budget. Imported by the method's report hooks
(:class:`archopt.posttrain.prune.Prune`); the report itself names no method.
"""

from __future__ import annotations

import pandas as pd

from archopt.report.analysis import models_of, role_label, scenario_groups
from archopt.report.posttrain import (
    PostTrainData,
    PostTrainResult,
    combined_lookup,
    latency_columns,
    network_row,
)
from archopt.report.table import ARCHOPT
from archopt.report.tables import two_level

METHOD = "prune"
ROLE = "pruned (Torch-Pruning)"


def budget_network(result: PostTrainResult) -> str | None:
    """The optimized network whose parameter count was the pruning's budget, if any."""
    return result.summary.get("pruning", {}).get("budget_of") or None


def pruned_budget_tables(table: pd.DataFrame, data: PostTrainData, dataset: str
                         ) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) per technique: the reduced-base-net groups plus the pruned base net."""
    lookup = combined_lookup(table, data)
    pruned = {(r.base, budget_network(r)): r for r in data.of(dataset, method=METHOD)}
    tables = []
    for technique in sorted({budget.rsplit("-", 1)[-1] for _, budget in pruned if budget}):
        rows = budget_rows(table, dataset, technique, pruned)
        if rows:
            pairs = latency_columns(lookup, dataset, [model for model, _ in rows])
            tables.append((f"Base nets reduced or pruned to the {technique} net's size",
                           two_level([network_row(lookup, dataset, m, what, pairs)
                                      for m, what in rows])))
    return tables


def budget_rows(table: pd.DataFrame, dataset: str, technique: str,
                pruned: dict[tuple[str, str | None], PostTrainResult]) -> list[tuple[str, str]]:
    """(network, role) rows of one technique's table: each reduced-base-net group with its
    pruned base net, then the pruned nets whose base has no such group."""
    rows = []
    for group in scenario_groups(models_of(table, ARCHOPT, dataset), f"reduced_{technique}"):
        rows += [(model, role_label(role)) for role, model in group.slots.items()]
        result = pruned.get((group.name, f"{group.name}-{technique}"))
        if result is not None:
            rows.append((result.model, ROLE))
    for (base, budget), result in pruned.items():
        if budget == f"{base}-{technique}" and not any(m == result.model for m, _ in rows):
            rows += [(budget, "optimized net"), (result.model, ROLE)]
    return rows
