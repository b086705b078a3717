"""The dissertation's tables with archopt's numbers beside (archopt.report.tables), and
the equal-budget search results."""

from __future__ import annotations

from typing import Any

import pandas as pd

from archopt.report.analysis import classification_datasets, scenario_title, scenarios
from archopt.report.provisional import mark_cells
from archopt.report.study import Study
from archopt.report.table import PAPER
from archopt.report.tables import not_run_notes, scenario_table

KEY = "tables"
TITLE = "Tables"
SEARCH_COLUMNS = ("kind", "depth", "technique", "target_params", "model", "factor", "params",
                  "rel_gap", "paper_model", "paper_factor", "paper_params")


def dataset_tables(study: Study, dataset: str) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) of every scenario with rows on ``dataset``, provisional cells marked."""
    in_paper = bool(((study.table["dataset"] == dataset) & (study.table["source"] == PAPER)).any())
    frames = [(scenario_title(s, in_paper), scenario_table(study.table, dataset, s))
              for s in scenarios()]
    return [(title, mark_cells(frame, dataset, study.provisional))
            for title, frame in frames if not frame.empty]


def data(study: Study) -> dict[str, Any]:
    return {
        "datasets": [(dataset, not_run_notes(study.table, dataset), frames)
                     for dataset in classification_datasets(study.table) if (frames := dataset_tables(study, dataset))],
        "searches": [(dataset, search[[c for c in SEARCH_COLUMNS if c in search.columns]])
                     for dataset, search in study.searches.items()],
    }
