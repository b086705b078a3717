"""Which accuracies are provisional: runs that stopped before converging, or that
trained on a subset.

The plateau schedule ends a run once its learning rate has dropped ``max_plateaus``
times; a run that stopped at ``train.max_epochs`` instead never reached that point. Its
accuracy (and every accuracy-based verdict built on it) says little about the network.
Latency does not depend on training, so latency findings stand either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from archopt.paths import GAN_DATASET
from archopt.report.findings import Verdict
from archopt.report.table import ARCHOPT

ACCURACY_FINDINGS = (1, 4, 5)  # the findings whose claims compare accuracies
MARK = "†"


def selected_stop_reason(summary: Mapping[str, Any]) -> str | None:
    """The stop reason of the grid run the summary selected."""
    chosen = (summary.get("lr"), summary.get("batch_size"), summary.get("seed"))
    for row in summary.get("grid", []):
        if (row.get("lr"), row.get("batch_size"), row.get("seed")) == chosen:
            return row.get("stop_reason")
    return None


def classifier_reasons(
    summaries: Sequence[Mapping[str, Any]], train: Mapping[str, Any]
) -> dict[tuple[str, str], str]:
    """``(dataset, model) -> why its accuracy is provisional`` for classifiers."""
    reasons = {}
    for summary in summaries:
        why = []
        if selected_stop_reason(summary) == "max_epochs":
            why.append(
                f"stopped at max_epochs ({summary.get('epochs')}) before its schedule's "
                "plateaus: not converged"
            )
        if train.get("train_subset") is not None:
            why.append(f"trained on the first {train['train_subset']} training images")
        if why:
            reasons[(summary["dataset"], summary["model"])] = "; ".join(why)
    return reasons


def generator_reasons(
    gan_summaries: Sequence[Mapping[str, Any]], gan: Mapping[str, Any]
) -> dict[tuple[str, str], str]:
    """Generators trained on a subset of the pairs (their schedule has a fixed length)."""
    if gan.get("train_subset") is None:
        return {}
    why = f"trained on the first {gan['train_subset']} training pairs"
    return {(GAN_DATASET, summary["model"]): why for summary in gan_summaries}


def banner(reasons: Mapping[tuple[str, str], str]) -> str:
    """The page's one warning (the networks and why are folded below it); empty when
    every accuracy is final."""
    if not reasons:
        return ""
    return (
        f"Provisional accuracy: {len(reasons)} network(s) did not train to the end of the "
        f"study's protocol. Their accuracies and the accuracy-based verdicts (findings "
        f"{', '.join(map(str, ACCURACY_FINDINGS))}) are marked {MARK}; latencies stand."
    )


def mark_verdicts(
    verdicts: Sequence[Verdict], reasons: Mapping[tuple[str, str], str]
) -> list[Verdict]:
    """archopt's accuracy-based verdicts on a dataset with provisional networks, marked."""
    datasets = {dataset for dataset, _ in reasons}
    return [
        dataclasses.replace(verdict, provisional=True)
        if verdict.source == ARCHOPT
        and verdict.finding in ACCURACY_FINDINGS
        and verdict.dataset in datasets
        else verdict
        for verdict in verdicts
    ]


def accuracy_column(column: tuple[str, str]) -> bool:
    """archopt's accuracy cells (labels in percent) and E_P, which divides accuracy."""
    label, source = column
    return source == ARCHOPT and ("%" in label or label.startswith("E_P"))


def mark_cells(
    frame: pd.DataFrame, dataset: str, reasons: Mapping[tuple[str, str], str]
) -> pd.DataFrame:
    """A copy of a report table with archopt's accuracy-based cells of provisional
    networks marked."""
    if frame.empty or ("network", ARCHOPT) not in frame.columns:
        return frame
    marked = frame.copy()
    rows = marked[("network", ARCHOPT)].map(lambda model: (dataset, model) in reasons)
    for column in filter(accuracy_column, marked.columns):
        marked.loc[rows & marked[column].notna(), column] = (
            marked.loc[rows & marked[column].notna(), column].astype(str) + f" {MARK}"
        )
    return marked
