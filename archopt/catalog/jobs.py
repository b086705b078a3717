"""Snakemake glue for the ``catalog`` rule (called by ``workflow/scripts/catalog.py``)."""

from __future__ import annotations

from typing import Any

from archopt.catalog import catalog_rows, rows_to_csv
from archopt.io import write_text_atomic
from archopt.workflow import start_job


def catalog_job(snakemake: Any) -> None:
    """Write ``results/catalog/{dataset}.csv``: the configured networks' sizes and costs."""
    logger = start_job(snakemake, "catalog").logger
    dataset = snakemake.wildcards.dataset
    names = list(snakemake.params.networks)
    logger.info("profiling %d networks for %s", len(names), dataset)
    rows = catalog_rows(names, dataset)
    write_text_atomic(snakemake.output[0], rows_to_csv(rows))
    logger.info("wrote %s", snakemake.output[0])
