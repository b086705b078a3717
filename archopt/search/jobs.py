"""Snakemake glue for the ``search`` rule (called by ``workflow/scripts/search.py``)."""

from __future__ import annotations

from typing import Any

from archopt.io import write_text_atomic
from archopt.search import paper_choices, rows_to_csv, search_rows
from archopt.workflow import start_job


def search_job(snakemake: Any) -> None:
    """Snakemake entry point of rule ``search``: write ``results/search/{dataset}.csv``."""
    logger = start_job(snakemake, "search").logger
    dataset, step = snakemake.wildcards.dataset, float(snakemake.params.step)
    output = snakemake.output.table
    records = search_rows(dataset, step, paper_choices(snakemake.input.paper, dataset))
    write_text_atomic(output, rows_to_csv(records))
    for record in records:
        if record["paper_model"] and abs(record["paper_rel_gap"]) < abs(record["rel_gap"]):
            # Only possible when the paper's rate is off the configured grid.
            logger.warning(
                "%s is closer to its budget than %s", record["paper_model"], record["model"]
            )
    logger.info("%d searches on %s (step %s): wrote %s", len(records), dataset, step, output)
