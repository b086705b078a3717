"""The dissertation's decision flowchart (its Figure 29), recomputed
(archopt.report.flowchart)."""

from __future__ import annotations

from typing import Any

from archopt.report.flowchart import flowchart_text
from archopt.report.study import Study

KEY = "flowchart"
TITLE = "Decision flowchart"


def data(study: Study) -> dict[str, Any]:
    return {"png": study.figures[KEY], "text": flowchart_text(study.flowchart.leaves),
            "every_runtime": flowchart_text(study.flowchart.every_runtime)}
