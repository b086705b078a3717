"""The one list of the report's figures: the ``report`` rule declares a PNG output per
entry (with the entry's caption for Snakemake's own report), and the HTML shows them in
this order under the same captions. Light on purpose: the workflow imports it while it
is parsed. The captions are the files ``captions/{name}.rst`` of this package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CAPTIONS = Path(__file__).with_name("captions")


@dataclass(frozen=True)
class FigureSpec:
    name: str  # the PNG's stem and the rule's output name
    title: str
    section: str  # the report section that shows it

    @property
    def caption_file(self) -> Path:
        return CAPTIONS / f"{self.name}.rst"

    @property
    def caption(self) -> str:
        return " ".join(self.caption_file.read_text().split())


REPORT_FIGURES = (
    FigureSpec("accuracy", "Accuracy per network and technique", "figures"),
    FigureSpec("latency", "Single-image latency per runtime, CPU and GPU", "figures"),
    FigureSpec("pareto_params", "Accuracy vs parameters", "figures"),
    FigureSpec("pareto_latency", "Accuracy vs latency", "figures"),
    FigureSpec("latency_ratio", "Latency relative to the base network", "figures"),
    FigureSpec("flowchart", "Decision flowchart", "flowchart"),
    FigureSpec("gan_samples", "Generated images (like the paper's Figure 28)", "gan"),
)
