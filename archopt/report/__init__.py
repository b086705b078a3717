"""The study report: what to deploy per device, a tidy table of every result next to the
dissertation's, the findings re-tested, the decision flowchart regenerated, figures and a
self-contained HTML.

Entry points: :func:`build_table` (inputs -> tidy DataFrame), :func:`read_results`
(``results/report/results.csv`` back), :func:`findings`, :func:`flowchart_leaves` and
:func:`build_report` (everything, as the ``report`` rule runs it). They are imported on
first use, so that the workflow can read :mod:`archopt.report.figure_list` while it is
parsed without loading pandas and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReportInputs": "archopt.report.table",
    "ReportOutputs": "archopt.report.build",
    "build_report": "archopt.report.build",
    "build_table": "archopt.report.table",
    "findings": "archopt.report.findings",
    "findings_frame": "archopt.report.findings",
    "flowchart_leaves": "archopt.report.flowchart",
    "flowchart_text": "archopt.report.flowchart",
    "read_results": "archopt.report.table",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'archopt.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
