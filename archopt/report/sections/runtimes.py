"""Every network in every runtime (archopt.report.runtimes)."""

from __future__ import annotations

from typing import Any

from archopt.report.figures import figure_png
from archopt.report.runtimes import macs_latency_figure, runtimes_data
from archopt.report.study import Study

KEY = "runtimes"
TITLE = "Runtimes"


def data(study: Study) -> dict[str, Any]:
    return runtimes_data(study.table, study.tolerance,
                         figure_png(macs_latency_figure(study.table)))
