"""The study report: a tidy table of every result next to the dissertation's, the five
findings re-tested, the decision flowchart regenerated, figures and a self-contained HTML.

Entry points: :func:`build_table` (inputs -> tidy DataFrame), :func:`read_results`
(``results/report/results.csv`` back), :func:`findings`, :func:`flowchart_leaves` and
:func:`build_report` (everything, as the ``report`` rule runs it).
"""

from archopt.report.build import ReportOutputs, build_report
from archopt.report.findings import findings, findings_frame
from archopt.report.flowchart import flowchart_leaves, flowchart_text
from archopt.report.table import ReportInputs, build_table, read_results

__all__ = [
    "ReportInputs",
    "ReportOutputs",
    "build_report",
    "build_table",
    "findings",
    "findings_frame",
    "flowchart_leaves",
    "flowchart_text",
    "read_results",
]
