"""How every job starts (:func:`start_job`) and keeps its log across resumed attempts.

Each stage's job functions live in its package's ``jobs`` module (``archopt.bench.jobs``,
``archopt.search.jobs``, ...), called by a one-line ``workflow/scripts`` file: keeping the
glue in the package lets tests import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from archopt.config import load_configured_plugins

Settings = TypeVar("Settings")


@dataclass(frozen=True)
class JobStart(Generic[Settings]):
    """What a job starts with: its log and its stage's typed settings (None for a stage
    without any)."""

    logger: logging.Logger
    settings: Settings


def start_job(
    snakemake: Any, name: str, settings: Callable[[Any], Settings] | None = None
) -> JobStart[Settings]:
    """Start a job: open its log, import the config's ``plugins`` and build its settings.

    Every job function starts here. The plugins are imported before anything else reads
    a registry: a job runs in a fresh interpreter that has not parsed the Snakefile.
    ``settings(snakemake)`` builds the stage's typed settings from the rule's ``params``
    (what Snakemake reruns the job on), e.g. :func:`archopt.bench.settings.job_bench_settings`.
    A bad plugin or setting is written to the job's log before it ends the job.
    """
    logger = open_job_log(snakemake, name)
    try:
        load_configured_plugins(snakemake.config)
        built = settings(snakemake) if settings is not None else None
    except Exception as error:
        logger.error("%s", error)
        raise
    return JobStart(logger, built)


def open_job_log(snakemake: Any, name: str) -> logging.Logger:
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
