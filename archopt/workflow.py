"""Entry points for ``workflow/scripts``: each unpacks the ``snakemake`` object and calls archopt.

Keeping this glue in the package keeps the scripts one line long and lets tests import it.
"""

from __future__ import annotations

import logging
from typing import Any

from archopt.catalog import catalog_rows, rows_to_csv
from archopt.io import write_text_atomic


def job_logger(snakemake: Any, name: str) -> logging.Logger:
    """A logger writing to the rule's ``log:`` file (and stderr)."""
    logger = logging.getLogger(f"archopt.{name}")
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if snakemake.log:
        handlers.append(logging.FileHandler(str(snakemake.log[0])))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def catalog_job(snakemake: Any) -> None:
    logger = job_logger(snakemake, "catalog")
    dataset = snakemake.wildcards.dataset
    names = list(snakemake.params.networks)
    logger.info("profiling %d networks for %s", len(names), dataset)
    rows = catalog_rows(names, dataset)
    write_text_atomic(snakemake.output[0], rows_to_csv(rows))
    logger.info("wrote %s", snakemake.output[0])
