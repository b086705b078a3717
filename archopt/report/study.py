"""What every section of the report reads: one object, made once per report.

:class:`Study` holds the report's inputs and the configuration; what several sections
(or a section and an output file) share is computed on first use and kept: the tidy
table, the bench files, the answer per device, the verdicts, the flowchart, the figures.
Each section's own numbers are its data function's (:mod:`archopt.report.sections`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from archopt.report import figures as fig
from archopt.report import sources
from archopt.report.answer import DeviceAnswer, deployment_runtimes, what_to_deploy
from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.findings import DEFAULT_TOLERANCE, Verdict, findings
from archopt.report.flowchart import (
    LOW_COMPUTE_DEVICES,
    Flowchart,
    device_flowchart,
    draw_flowchart,
)
from archopt.report.posttrain import (
    MethodFinding,
    PostTrainData,
    posttrain_findings,
    posttrain_leaves,
    read_posttrain,
    with_posttrain_rows,
)
from archopt.report.provisional import classifier_reasons, generator_reasons, mark_verdicts
from archopt.report.runs import DeviceRun, device_runs
from archopt.report.table import ReportInputs, build_table

# How to draw each figure of the figure list that is drawn from the tidy table alone.
TABLE_FIGURES: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "accuracy": fig.accuracy_figure,
    "latency": fig.latency_figure,
    "pareto_params": fig.pareto_params_figure,
    "pareto_latency": fig.pareto_latency_figure,
    "latency_ratio": fig.latency_ratio_figure,
}


@dataclass(frozen=True)
class Study:
    """The report's inputs, its configuration (the rule's ``settings``) and what the
    sections share, each computed once."""

    inputs: ReportInputs
    config: Mapping[str, Any]
    paper_notes: str = ""  # the text of resources/paper/param_counts.md
    generated: str = ""  # when the report was made, as the page says it

    @property
    def tolerance(self) -> float:
        """``report.accuracy_tolerance``: accuracy points a variant may lose."""
        return float(self.config.get("report", {}).get("accuracy_tolerance", DEFAULT_TOLERANCE))

    @property
    def low_compute(self) -> tuple[str, ...]:
        """``report.low_compute_devices``: the devices of the flowchart's CPU leaf."""
        return tuple(self.config.get("report", {}).get("low_compute_devices",
                                                       LOW_COMPUTE_DEVICES))

    @cached_property
    def table(self) -> pd.DataFrame:
        """The tidy table of the study's results beside the paper's."""
        return build_table(self.inputs)

    @cached_property
    def posttrain(self) -> PostTrainData:
        return read_posttrain(self.inputs.posttrain, self.inputs.posttrain_bench)

    @cached_property
    def combined(self) -> pd.DataFrame:
        """The tidy table with the post-training results' rows (results.csv)."""
        return with_posttrain_rows(self.table, self.posttrain)

    @cached_property
    def benches(self) -> list[dict[str, Any]]:
        """Every bench file, the study's networks' then the post-training results'."""
        return [sources.read_bench(path)
                for path in [*self.inputs.bench, *self.inputs.posttrain_bench]]

    @cached_property
    def runs(self) -> dict[str, DeviceRun]:
        """device -> what its bench files record (threads, protocol, versions)."""
        return device_runs(self.benches)

    @cached_property
    def provisional(self) -> dict[tuple[str, str], str]:
        """(dataset, network) -> why its accuracy is provisional."""
        summaries = [sources.read_summary(path) for path in self.inputs.summaries]
        gan_summaries = [sources.read_gan_summary(path) for path in self.inputs.gan_summaries]
        return (classifier_reasons(summaries, self.config.get("train", {}))
                | generator_reasons(gan_summaries, self.config.get("gan", {})))

    @cached_property
    def answers(self) -> list[DeviceAnswer]:
        """What to deploy, per device and dataset, over every deployable variant."""
        imported = {run.device for run in self.runs.values() if run.imported}
        precisions = {r.model: str(r.summary.get("method_label", r.method))
                      for r in self.posttrain.results}
        return what_to_deploy(self.combined, self.config, self.tolerance, imported, precisions)

    @cached_property
    def verdicts(self) -> list[Verdict]:
        """The dissertation's findings re-tested, provisional ones marked."""
        return mark_verdicts(findings(self.table, self.tolerance), self.provisional)

    @cached_property
    def posttrain_findings(self) -> list[MethodFinding]:
        """The post-training methods' own findings on their results."""
        return posttrain_findings(self.posttrain, self.table)

    @cached_property
    def flowchart(self) -> Flowchart:
        """The decision chart, each device answering in the runtime it deploys in."""
        extra = posttrain_leaves(self.posttrain, self.table, self.low_compute)
        return device_flowchart(self.table, self.tolerance, self.low_compute, extra,
                                deployment_runtimes(self.answers))

    @cached_property
    def searches(self) -> dict[str, pd.DataFrame]:
        """dataset -> its equal-budget search results."""
        return {Path(path).stem: sources.read_search(path) for path in self.inputs.searches}

    @cached_property
    def figures(self) -> dict[str, bytes]:
        """The PNG of every entry of the figure list, by name."""
        drawings: dict[str, Callable[[], Figure]] = {
            **{name: (lambda draw=draw: draw(self.table)) for name, draw in TABLE_FIGURES.items()},
            "flowchart": lambda: draw_flowchart(self.flowchart.leaves),
            "gan_samples": lambda: fig.gan_samples_figure(self.inputs.gan_samples),
        }
        return {spec.name: fig.figure_png(drawings[spec.name]()) for spec in REPORT_FIGURES}
