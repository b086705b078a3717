"""What to deploy on each device (archopt.report.answer): the report's first section."""

from __future__ import annotations

from typing import Any

from archopt.report.answer import budgets_of
from archopt.report.study import Study

KEY = "answer"
TITLE = "What to deploy"


def data(study: Study) -> dict[str, Any]:
    answers = study.answers
    return {
        "answers": answers, "tolerance": study.tolerance,
        "environments": {device: run.note for device, run in study.runs.items()},
        "budgets_configured": {a.device: bool(budgets_of(study.config, a.device))
                               for a in answers},
    }
