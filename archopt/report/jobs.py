"""Snakemake glue for the ``report`` rule (called by ``workflow/scripts/report.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archopt.report.build import FIGURE_FILES, ReportOutputs, build_report
from archopt.report.table import ReportInputs
from archopt.workflow import start_job


def existing(paths: list[str]) -> list[str]:
    return [path for path in paths if Path(path).exists()]


def report_job(snakemake: Any) -> None:
    logger = start_job(snakemake, "report").logger
    settings = dict(snakemake.params.settings)
    # Perceptual-study votes come from people, not from the DAG: read when present.
    study = existing([snakemake.params.study_results])
    inputs = ReportInputs(
        paper=snakemake.input.paper,
        catalogs=list(snakemake.input.catalogs),
        searches=list(snakemake.input.searches),
        summaries=list(snakemake.input.summaries),
        bench=list(snakemake.input.bench),
        gan_summaries=list(snakemake.input.gan_summaries),
        gan_samples={Path(folder).parent.name: folder for folder in snakemake.input.gan_samples},
        study_results=study[0] if study else None,
        runtimes=tuple(settings["bench"]["runtimes"]),
        posttrain=list(getattr(snakemake.input, "posttrain", [])),
        posttrain_bench=list(getattr(snakemake.input, "posttrain_bench", [])),
    )
    outputs = ReportOutputs(
        html=snakemake.output.html,
        results=snakemake.output.results,
        findings=snakemake.output.findings,
        recommendations=snakemake.output.recommendations,
        figures={name: getattr(snakemake.output, name) for name in FIGURE_FILES},
    )
    logger.info("building the report from %d summaries and %d bench files",
                len(inputs.summaries), len(inputs.bench))
    build_report(inputs, outputs, settings, snakemake.input.paper_notes)
