"""Assemble the report from its inputs and write every output atomically."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from archopt.io import atomic_path, write_json_atomic, write_text_atomic
from archopt.report.answer import recommendations_json
from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.findings import findings_frame
from archopt.report.html import render_html
from archopt.report.posttrain import with_finding_rows
from archopt.report.study import Study
from archopt.report.table import ReportInputs

LOG = logging.getLogger("archopt.report")

FIGURE_FILES = tuple(f.name for f in REPORT_FIGURES)  # every PNG the report writes


@dataclass(frozen=True)
class ReportOutputs:
    html: str | os.PathLike
    results: str | os.PathLike
    findings: str | os.PathLike
    figures: Mapping[str, str | os.PathLike]  # FIGURE_FILES' names -> PNG
    recommendations: str | os.PathLike  # the answer section as JSON


def write_png(path: str | os.PathLike, png: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)


def build_report(inputs: ReportInputs, outputs: ReportOutputs, config: Mapping[str, Any],
                 paper_notes: str | os.PathLike) -> pd.DataFrame:
    """Read the inputs, write results.csv, recommendations.json, findings.csv, the figures
    and index.html; returns the study's tidy table."""
    study = Study(inputs, config, Path(paper_notes).read_text(),
                  datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    LOG.info("tidy table: %d rows from %d summaries and %d bench files", len(study.table),
             len(inputs.summaries), len(inputs.bench))
    with atomic_path(outputs.results) as tmp:
        study.combined.to_csv(tmp, index=False)
    write_json_atomic(outputs.recommendations,
                      recommendations_json(study.answers, study.tolerance))
    with atomic_path(outputs.findings) as tmp:
        with_finding_rows(findings_frame(study.verdicts), study.posttrain_findings).to_csv(
            tmp, index=False)
    for name, png in study.figures.items():
        LOG.info("writing figure %s", name)
        write_png(outputs.figures[name], png)
    write_text_atomic(outputs.html, render_html(study))
    LOG.info("wrote %s", outputs.html)
    return study.table
