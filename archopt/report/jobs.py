"""Snakemake glue for the ``report`` rule (called by ``workflow/scripts/report.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archopt.gan.jobs import GAN_DIR
from archopt.report.build import FIGURE_FILES, ReportOutputs, build_report
from archopt.report.table import ReportInputs
from archopt.study import study_networks
from archopt.workflow import job_logger

# The config sections the report shows (its ``params``: a change reruns the report).
REPORT_SETTINGS = ("preset", "studies", "networks", "datasets", "train", "gan", "bench", "report")


def report_input_files(config: Mapping[str, Any], catalog_datasets: Sequence[str]
                       ) -> dict[str, str | list[str]]:
    """The report rule's inputs: every result the configured study produces, by kind."""
    studied = {dataset: study_networks(config, dataset) for dataset in config["studies"]}
    gans = study_networks(config, "maps")
    benched = studied | ({"maps": gans} if gans else {})  # generators are benchmarked too
    return {
        "paper": "resources/paper/thesis_tables.csv",
        "paper_notes": "resources/paper/param_counts.md",
        "catalogs": [f"results/models/{dataset}/catalog.csv" for dataset in catalog_datasets],
        "searches": [f"results/search/{dataset}.csv" for dataset in config["studies"]],
        "summaries": [f"results/models/{dataset}/{model}/summary.json"
                      for dataset, models in studied.items() for model in models],
        "bench": [f"results/bench/{dataset}/{model}/{device}.json"
                  for dataset, models in benched.items() for model in models
                  for device in config["bench"]["devices"]],
        "gan_summaries": [f"{GAN_DIR.format(model=m)}/summary.json" for m in gans],
        "gan_samples": [f"{GAN_DIR.format(model=m)}/samples" for m in gans],
    }


def existing(paths: list[str]) -> list[str]:
    return [path for path in paths if Path(path).exists()]


def report_job(snakemake: Any) -> None:
    logger = job_logger(snakemake, "report")
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
    )
    outputs = ReportOutputs(
        html=snakemake.output.html,
        results=snakemake.output.results,
        findings=snakemake.output.findings,
        figures={name: getattr(snakemake.output, name) for name in FIGURE_FILES},
    )
    logger.info("building the report from %d summaries and %d bench files",
                len(inputs.summaries), len(inputs.bench))
    build_report(inputs, outputs, settings, snakemake.input.paper_notes)
