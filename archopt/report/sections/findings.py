"""Each finding of the dissertation re-tested (archopt.report.findings)."""

from __future__ import annotations

from typing import Any

from archopt.report.findings import FINDINGS
from archopt.report.study import Study

KEY = "findings"
TITLE = "Findings"


def data(study: Study) -> dict[str, Any]:
    """The overview's columns (source, scope), its header spans and cells, and each
    finding's verdicts by source."""
    verdicts = study.verdicts
    columns = list(dict.fromkeys((v.source, v.scope) for v in verdicts))
    sources = list(dict.fromkeys(source for source, _ in columns))
    return {
        "tolerance": study.tolerance, "statements": FINDINGS, "columns": columns,
        "sources": [(source, sum(s == source for s, _ in columns)) for source in sources],
        "cells": {(v.finding, v.source, v.scope): v for v in verdicts},
        "by_finding": {number: {source: [v for v in verdicts if v.finding == number
                                         and v.source == source] for source in ("archopt", "paper")}
                       for number in FINDINGS},
    }
