"""The self-contained HTML report, one Jinja template per section (``templates/``): inline
CSS, images as base64 data URIs, and one inline script (templates/filter.js) filtering and
sorting the variant tables."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from archopt.report.analysis import Measurement, technique_label
from archopt.report.figure_list import REPORT_FIGURES
from archopt.report.findings import FINDINGS, Verdict
from archopt.report.provisional import MARK as PROVISIONAL_MARK
from archopt.report.table import METRICS
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
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
ul.answers li { margin: .3em 0; }
table.data caption { text-align: left; caption-side: top; padding: .2em 0; }
"""


@dataclass(frozen=True)
class ReportFigure:
    name: str
    title: str
    caption: str
    png: bytes


@dataclass
class ReportContent:
    """Everything the HTML shows, already computed."""

    setup: list[tuple[str, str]]
    not_measured: list[str]
    verdicts: list[Verdict]
    tolerance: float
    flowchart_png: bytes
    flowchart_text: str  # one answer per device, in the runtime it deploys in
    tables: list[tuple[str, str, pd.DataFrame]]  # (dataset, title, table)
    gan_table: pd.DataFrame
    gan_status: str
    search_tables: list[tuple[str, pd.DataFrame]]
    figures: list[ReportFigure]
    methodology: list[str]
    deviations: list[str]
    paper_inconsistencies_html: str
    generated: str = ""
    flowchart_runtimes_text: str = ""  # the same chart in every runtime of every device
    # What the templates of the sections with their own data function are given.
    answer: dict[str, Any] = field(default_factory=dict)  # archopt.report.build.answer_data
    runtimes: dict[str, Any] = field(default_factory=dict)  # report.runtimes.runtimes_data
    posttrain: dict[str, Any] = field(default_factory=dict)  # report.posttrain.posttrain_data
    devices: list[Any] = field(default_factory=list)  # archopt.report.build.DeviceRow
    gan_samples_png: bytes | None = None
    provisional_banner: str = ""  # empty when every accuracy finished the protocol
    provisional: list[tuple[str, str, str]] = field(default_factory=list)  # dataset, model, why
    # dataset -> the runtimes a device has no column for, in words (above its tables)
    table_notes: dict[str, list[str]] = field(default_factory=dict)


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


def markdown_section(markdown: str, heading_word: str) -> str:
    """The body of the first ``## `` section whose heading contains ``heading_word``."""
    match = re.search(rf"^## [^\n]*{heading_word}[^\n]*\n(.*?)(?=^## |\Z)", markdown,
                      flags=re.M | re.S | re.I)
    return match.group(1) if match else ""


def data_table(frame: pd.DataFrame, missing: str = NOT_MEASURED) -> str:
    """A DataFrame as an HTML table; empty cells read ``missing`` (greyed out)."""
    if frame.empty:
        return f"<p>{missing}</p>"
    table = frame.astype(object).where(frame.notna(), missing).to_html(
        index=False, border=0, classes="data", escape=True)
    table = table.replace(f"<td>{missing}</td>", f"<td class='missing'>{missing}</td>")
    return f'<div class="scroll">{table}</div>'


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def findings_data(verdicts: list[Verdict]) -> dict[str, Any]:
    """The overview's columns (source, scope), its header spans and cells, and each
    finding's verdicts by source (templates/findings.html)."""
    columns = list(dict.fromkeys((v.source, v.scope) for v in verdicts))
    sources = list(dict.fromkeys(source for source, _ in columns))
    return {
        "statements": FINDINGS, "columns": columns,
        "sources": [(source, sum(s == source for s, _ in columns)) for source in sources],
        "cells": {(v.finding, v.source, v.scope): v for v in verdicts},
        "by_finding": {number: {source: [v for v in verdicts if v.finding == number
                                         and v.source == source] for source in ("archopt", "paper")}
                       for number in FINDINGS},
    }


@dataclass(frozen=True)
class Section:
    """One section of the page: its anchor, its title, and what its template
    (``templates/{key}.html``) is given besides the content (``c``)."""

    key: str
    title: str
    data: Callable[[ReportContent], dict[str, Any]] = lambda content: {}


# The page, in order; every section is a template.
SECTIONS = (
    Section("answer", "What to deploy", lambda c: c.answer),
    Section("setup", "Setup"),
    Section("findings", "Findings", lambda c: findings_data(c.verdicts)),
    Section("flowchart", "Decision flowchart"),
    Section("tables", "Tables"),
    Section("runtimes", "Runtimes", lambda c: c.runtimes),
    Section("posttrain", "Post-training", lambda c: c.posttrain),
    Section("devices", "Devices"),
    Section("gan", "Pix2Pix generators (paper Table 13)"),
    Section("figures", "Figures"),
    Section("methodology", "Methodology", lambda c: {"metrics": METRICS}),
)


def script() -> str:
    """The page's only script: filtering and sorting of the variant tables."""
    return TEMPLATES.loader.get_source(TEMPLATES, "filter.js")[0]


def render_html(content: ReportContent) -> str:
    """The whole report as one HTML document."""
    sections = [(s.key, s.title, markupsafe.Markup(render_template(
        f"{s.key}.html", c=content, **s.data(content)))) for s in SECTIONS]
    return render_template("page.html", c=content, sections=sections,
                           css=markupsafe.Markup(CSS), script=markupsafe.Markup(script()))
