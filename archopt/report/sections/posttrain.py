"""Post-training methods applied to the trained networks (archopt.report.posttrain)."""

from __future__ import annotations

from typing import Any

from archopt.report.posttrain import posttrain_data
from archopt.report.study import Study

KEY = "posttrain"
TITLE = "Post-training"


def data(study: Study) -> dict[str, Any]:
    return posttrain_data(study.table, study.posttrain, study.posttrain_findings)
