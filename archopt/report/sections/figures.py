"""The figures of the figure list that belong to no other section."""

from __future__ import annotations

from typing import Any

from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.study import Study

KEY = "figures"
TITLE = "Figures"


def data(study: Study) -> dict[str, Any]:
    return {"figures": [(spec, study.figures[spec.name]) for spec in REPORT_FIGURES
                        if spec.section == KEY]}
