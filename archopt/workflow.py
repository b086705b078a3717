"""Entry points for ``workflow/scripts``: each unpacks the ``snakemake`` object and calls archopt.

Keeping this glue in the package keeps the scripts one line long and lets tests import it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from archopt.catalog import catalog_rows, rows_to_csv
from archopt.config import load_configured_plugins
from archopt.io import write_text_atomic


def job_logger(snakemake: Any, name: str) -> logging.Logger:
    """A logger writing to the rule's ``log:`` file (and stderr).

    Every job starts here, so this is also where a job imports the config's ``plugins``:
    a job runs in a fresh interpreter that has not parsed the Snakefile.
    """
    load_configured_plugins(snakemake.config)
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


ATTEMPT_MARKER = "=== attempt"


def carry_attempt_logs(logger: logging.Logger, resume_dir: Path) -> logging.Handler:
    """Keep the log lines of killed attempts of a resumable job.

    Snakemake empties a job's ``log:`` file before every attempt, so the lines of a killed
    attempt would be lost on resume. A copy of the log in the job's resume folder (which
    Snakemake leaves alone) is written back at the top of the new log, and every attempt
    starts with an ``=== attempt N`` line. Returns the copy's handler: remove it (and the
    folder) when the job is done.
    """
    copy = resume_dir / "attempts.log"
    earlier = copy.read_text() if copy.is_file() else ""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write(earlier)
    resume_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(copy)
    handler.setFormatter(logger.handlers[0].formatter)
    logger.addHandler(handler)
    attempt = earlier.count(ATTEMPT_MARKER) + 1
    logger.info("%s %d%s", ATTEMPT_MARKER, attempt, " (resumed)" if attempt > 1 else "")
    return handler


def catalog_job(snakemake: Any) -> None:
    logger = job_logger(snakemake, "catalog")
    dataset = snakemake.wildcards.dataset
    names = list(snakemake.params.networks)
    logger.info("profiling %d networks for %s", len(names), dataset)
    rows = catalog_rows(names, dataset)
    write_text_atomic(snakemake.output[0], rows_to_csv(rows))
    logger.info("wrote %s", snakemake.output[0])
