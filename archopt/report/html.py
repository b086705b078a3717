"""The self-contained HTML report, one Jinja template per section (``templates/``): inline
CSS, images as base64 data URIs, and one inline script (templates/filter.js) filtering and
sorting the tables."""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from archopt.report.analysis import Measurement, technique_label
from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.provisional import MARK as PROVISIONAL_MARK
from archopt.report.provisional import banner
from archopt.report.sections import (
    answer,
    devices,
    figures,
    findings,
    flowchart,
    gan,
    methodology,
    posttrain,
    runtimes,
    setup,
    tables,
)
from archopt.report.study import Study
from archopt.report.tables import ACCURACY_LABELS, NOT_MEASURED, fmt_bytes

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1.5em; color: #1d1d1d; line-height: 1.45; }
h1 { border-bottom: 3px solid #1f77b4; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav ol { columns: 2; }
table.data { border-collapse: collapse; font-size: 0.82em; margin: .5em 0 1.5em; }
table.data th, table.data td { border: 1px solid #ccc; padding: .25em .5em; text-align: right;
                               white-space: nowrap; }
table.data td.missing { color: #9a9a9a; font-size: .9em; }
table.data td.c { text-align: center; }
table.data td.text { text-align: left; white-space: normal; min-width: 18em; }
table.data th { background: #f0f3f8; text-align: center; }
table.data td:first-child, table.data td:nth-child(2) { text-align: left; }
.scroll { overflow-x: auto; }
.verdict { display: inline-block; padding: .05em .6em; border-radius: .8em; font-weight: bold;
           font-size: .85em; color: white; }
.confirmed { background: #2e7d32; } .refuted { background: #c62828; }
.mixed { background: #ef8f00; } .not-measured { background: #757575; }
.paper { color: #5b3a00; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #444; max-width: 60em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: .85em; }
ul.evidence { font-size: .85em; margin-top: .2em; }
.not-run { color: #a00000; font-weight: bold; }
.note { color: #444; font-size: .9em; }
.banner { background: #fff4d6; border: 2px solid #ef8f00; padding: .6em 1em; margin: 1em 0; }
.provisional { color: #b35c00; font-weight: bold; }
form.filter { background: #f0f3f8; padding: .5em 1em; margin: 1em 0; position: sticky; top: 0; }
form.filter label { margin-right: 1em; white-space: nowrap; }
form.table-filter { position: static; width: fit-content; padding: .3em .8em; margin: .5em 0 .2em;
                    font-size: .9em; }
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
ul.answers li { margin: .3em 0; }
table.data caption { text-align: left; caption-side: top; padding: .2em 0; }
"""


def width_text(variant: Any) -> str:
    """How a variant's width differs from its technique's design (its ``scaling``)."""
    factor = "" if variant.width_factor is None else f" x{variant.width_factor:g}"
    return {"none": "as designed", "expand": f"widened{factor}",
            "reduce_channels": f"fewer channels{factor}",
            "reduce_block": f"bottleneck blocks{factor}"}.get(variant.scaling, variant.scaling)


def size_text(size: float | None) -> str:
    return "not measured" if size is None else fmt_bytes(Measurement(float(size)))


def table_filter(frame: pd.DataFrame, missing: str = NOT_MEASURED) -> markupsafe.Markup:
    return markupsafe.Markup(data_table(frame, missing))


TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("archopt.report"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True,
                               undefined=jinja2.StrictUndefined)
TEMPLATES.filters.update(technique=technique_label, width=width_text, size=size_text,
                         num=lambda x: f"{x:g}", num2=lambda x: f"{x:.2f}",
                         metric=lambda m: ACCURACY_LABELS[m], table=table_filter,
                         png=lambda png: png_uri(png),
                         lists=lambda md: markupsafe.Markup(markdown_lists(md)),
                         md=lambda text: markupsafe.Markup(inline_markdown(text)))
TEMPLATES.globals.update(mark=PROVISIONAL_MARK, figure_spec={f.name: f for f in REPORT_FIGURES})


def render_template(name: str, **context: Any) -> str:
    """A section's HTML from its template (``archopt/report/templates``)."""
    return TEMPLATES.get_template(name).render(**context)


def esc(text: Any) -> str:
    return html.escape(str(text))


def inline_markdown(text: str) -> str:
    """Escape, then render ``**bold**`` and ```code``` spans."""
    text = esc(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def markdown_lists(text: str) -> str:
    """A numbered markdown list with nested ``*`` bullets (param_counts.md's style) as HTML."""
    items: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        top = re.match(r"^\d+\.\s+(.*)", line)
        nested = re.match(r"^\s+[*-]\s+(.*)", line)
        if top:
            items.append((top.group(1), []))
        elif nested and items:
            items[-1][1].append(nested.group(1))
        elif line.strip() and items:
            target = items[-1][1]
            if target:
                target[-1] += " " + line.strip()
            else:
                items[-1] = (items[-1][0] + " " + line.strip(), target)
    parts = ["<ol>"]
    for head, subs in items:
        sub_html = "".join(f"<li>{inline_markdown(s)}</li>" for s in subs)
        parts.append(f"<li>{inline_markdown(head)}" + (f"<ul>{sub_html}</ul>" if subs else "")
                     + "</li>")
    parts.append("</ol>")
    return "".join(parts)


# The columns a big table's filter form offers a select-box for (as the variant filter does).
FILTER_COLUMNS = ("device", "dataset", "technique", "runtime", "precision")
FILTER_MIN_ROWS = 6  # a smaller table is read at a glance; a filter box would only clutter it


def row_filter_form(frame: pd.DataFrame) -> str:
    """The form above a big table (filled and wired by templates/filter.js): a text box
    keeping the rows that contain every typed word, and a select per FILTER_COLUMNS column
    (any level of a grouped header)."""
    selects = []
    for index, column in enumerate(frame.columns):
        levels = column if isinstance(column, tuple) else (column,)
        key = next((str(level) for level in levels if str(level) in FILTER_COLUMNS), None)
        if key:
            selects.append(f'<label>{key} <select data-column="{index}">'
                           '<option value="">any</option></select></label>')
    return ('<form class="filter table-filter" onsubmit="return false"><label>rows containing '
            '<input name="words" type="search" size="24"></label>'
            f'{"".join(selects)}<output></output></form>')


def data_table(frame: pd.DataFrame, missing: str = NOT_MEASURED) -> str:
    """A DataFrame as an HTML table; empty cells read ``missing`` (greyed out). Its column
    headers sort it in the page; a big one gets a filter form above it."""
    if frame.empty:
        return f"<p>{missing}</p>"
    table = frame.astype(object).where(frame.notna(), missing).to_html(
        index=False, border=0, classes="data sortable", escape=True)
    table = table.replace(f"<td>{missing}</td>", f"<td class='missing'>{missing}</td>")
    form = row_filter_form(frame) if len(frame) >= FILTER_MIN_ROWS else ""
    return f'{form}<div class="scroll">{table}</div>'


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# The page, in order: each section module's KEY names its template, templates/{KEY}.html.
SECTIONS = (answer, setup, findings, flowchart, tables, runtimes, posttrain, devices, gan,
            figures, methodology)


def script() -> str:
    """The page's only script: filtering and sorting of the tables."""
    return TEMPLATES.loader.get_source(TEMPLATES, "filter.js")[0]


def render_html(study: Study) -> str:
    """The whole report as one HTML document: each section's template given what its data
    function returns."""
    sections = [(s.KEY, s.TITLE, markupsafe.Markup(render_template(f"{s.KEY}.html",
                                                                   **s.data(study))))
                for s in SECTIONS]
    return render_template("page.html", generated=study.generated, sections=sections,
                           banner=banner(study.provisional),
                           provisional=sorted(study.provisional.items()),
                           css=markupsafe.Markup(CSS), script=markupsafe.Markup(script()))
