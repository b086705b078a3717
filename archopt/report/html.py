"""The self-contained HTML report: inline CSS, images as base64 data URIs, no scripts."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from archopt.report.findings import FINDINGS, Verdict
from archopt.report.provisional import MARK as PROVISIONAL_MARK
from archopt.report.table import METRICS
from archopt.report.tables import NOT_MEASURED

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
    flowchart_text: str
    tables: list[tuple[str, str, pd.DataFrame]]  # (dataset, title, table)
    gan_table: pd.DataFrame
    gan_status: str
    search_tables: list[tuple[str, pd.DataFrame]]
    figures: list[ReportFigure]
    methodology: list[str]
    deviations: list[str]
    paper_inconsistencies_html: str
    generated: str = ""
    runtimes_html: str = ""  # archopt.report.runtimes.runtime_section
    posttrain_html: str = ""  # archopt.report.posttrain.posttrain_html
    gan_samples_png: bytes | None = None
    provisional_banner: str = ""  # empty when every accuracy finished the protocol
    provisional: list[tuple[str, str, str]] = field(default_factory=list)  # dataset, model, why
    # dataset -> HTML above its tables: the runtimes a device has no column for
    table_notes: dict[str, str] = field(default_factory=dict)


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


def badge(verdict: str, provisional: bool = False) -> str:
    mark = (f" <span class='provisional' title='rests on provisional accuracies'>{PROVISIONAL_MARK}"
            "</span>") if provisional else ""
    return f'<span class="verdict {verdict.replace(" ", "-")}">{esc(verdict)}</span>{mark}'


def verdict_rows(verdicts: list[Verdict]) -> str:
    rows = []
    for v in verdicts:
        evidence = "".join(f"<li>{esc(line)}</li>" for line in v.evidence)
        rows.append(f"<tr><td>{esc(v.scope)}</td><td>{badge(v.verdict, v.provisional)}</td>"
                    f"<td class='text'><ul class='evidence'>{evidence}</ul></td></tr>")
    return ("<table class='data'><tr><th>dataset, device / runtime</th><th>verdict</th>"
            "<th>the numbers that decide it</th></tr>" + "".join(rows) + "</table>")


def cell_badge(verdict: Verdict | None) -> str:
    return "" if verdict is None else badge(verdict.verdict, verdict.provisional)


def provisional_notice(content: ReportContent) -> str:
    if not content.provisional_banner:
        return ""
    items = "".join(f"<li>{esc(dataset)} {esc(model)}: {esc(why)}</li>"
                    for dataset, model, why in content.provisional)
    return (f"<div class='banner'><strong>{esc(content.provisional_banner)}</strong>"
            f"<details><summary>which networks</summary><ul>{items}</ul></details></div>")


def verdict_overview(verdicts: list[Verdict]) -> str:
    """One row per finding, one column per source and scope, a badge in each cell."""
    columns = list(dict.fromkeys((v.source, v.scope) for v in verdicts))
    cells = {(v.finding, v.source, v.scope): v for v in verdicts}
    sources = list(dict.fromkeys(source for source, _ in columns))
    head = "".join(
        f"<th colspan='{sum(s == source for s, _ in columns)}'>"
        f"{'archopt' if source == 'archopt' else 'the paper&#39;s numbers'}</th>"
        for source in sources)
    scopes = "".join(f"<th>{esc(scope)}</th>" for _, scope in columns)
    rows = []
    for number, statement in FINDINGS.items():
        badges = "".join(
            f"<td class='c'>{cell_badge(cells.get((number, *column)))}"
            "</td>"
            for column in columns)
        rows.append(f"<tr><td class='text'>{number}. {esc(statement)}</td>{badges}</tr>")
    return (f"<div class='scroll'><table class='data'><tr><th rowspan='2'>finding</th>{head}</tr>"
            f"<tr>{scopes}</tr>{''.join(rows)}</table></div>")


def findings_section(content: ReportContent) -> str:
    parts = [f"<p>Each finding of the dissertation is re-tested on archopt's measurements, per "
             f"dataset, device and runtime, and, for comparison, on the paper's own numbers with "
             f"the same rules. Accuracy tolerance: {content.tolerance:g} percentage points. "
             "Latency differences count only where the 95% intervals do not overlap.</p>",
             provisional_notice(content), verdict_overview(content.verdicts)]
    for number, statement in FINDINGS.items():
        ours = [v for v in content.verdicts if v.finding == number and v.source == "archopt"]
        theirs = [v for v in content.verdicts if v.finding == number and v.source == "paper"]
        parts.append(f"<h3>Finding {number}: {esc(statement)}</h3>")
        parts.append("<h4>archopt's measurements</h4>" + verdict_rows(ours))
        parts.append("<details><summary class='paper'>The same rules on the paper's numbers"
                     "</summary>" + verdict_rows(theirs) + "</details>")
    return "".join(parts)


def setup_section(content: ReportContent) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td class='text'>{esc(v)}</td></tr>"
                   for k, v in content.setup)
    missing = "".join(f"<li>{esc(item)}</li>" for item in content.not_measured) or \
        "<li>everything the configuration asks for was measured</li>"
    return (f"{provisional_notice(content)}<table class='data'>{rows}</table>"
            f"<h3>What was not measured</h3><ul>{missing}</ul>")


def tables_section(content: ReportContent) -> str:
    parts = ["<p>archopt's numbers next to the dissertation's (columns labelled "
             "<span class='paper'>paper</span>). Accuracy with its 95% Wilson interval; latency "
             "as mean ± standard deviation over single-image runs; E_P x 1000 = accuracy (%) / "
             "parameters x 1000; storage = size of the selected checkpoint file. The paper's "
             "CIFAR-100 accuracies are top-5, so that is the first accuracy column there.</p>"]
    for dataset in dict.fromkeys(d for d, _, _ in content.tables):
        parts.append(f"<h3>{esc(dataset)}</h3>" + content.table_notes.get(dataset, ""))
        for _, title, frame in (t for t in content.tables if t[0] == dataset):
            parts.append(f"<h4>{esc(title)}</h4>" + data_table(frame))
    parts.append("<h3>maps: Pix2Pix generators (paper Table 13)</h3>")
    parts.append(f"<p class='not-run'>{esc(content.gan_status)}</p>" if content.gan_status else "")
    parts.append(data_table(content.gan_table))
    if content.gan_samples_png is not None:
        parts.append("<figure id='fig-gan-samples'><h4>Generated maps (like the paper's Figure 28)"
                     f"</h4><img src='{png_uri(content.gan_samples_png)}' alt='Pix2Pix samples'>"
                     "<figcaption>Rows: validation inputs (the same seeded pairs for every "
                     "variant); columns: satellite input, real map, each generator's map."
                     "</figcaption></figure>")
    for dataset, frame in content.search_tables:
        parts.append(f"<h3>Equal-budget search, {esc(dataset)}</h3>"
                     "<p>Width factors found by archopt's search against each budget, with the "
                     "paper's names and factors where it has them.</p>"
                     + data_table(frame, missing=""))
    return "".join(parts)


def figures_section(content: ReportContent) -> str:
    return "".join(
        f"<figure id='fig-{esc(f.name)}'><h3>{esc(f.title)}</h3>"
        f"<img src='{png_uri(f.png)}' alt='{esc(f.title)}'>"
        f"<figcaption>{esc(f.caption)}</figcaption></figure>"
        for f in content.figures
    )


def flowchart_section(content: ReportContent) -> str:
    return ("<p>The dissertation's decision chart (its Figure 29), with every leaf recomputed "
            "from archopt's measurements; the paper's answer is shown beside it.</p>"
            f"<figure><img src='{png_uri(content.flowchart_png)}' alt='decision flowchart'>"
            "</figure><h3>As text</h3>"
            f"<pre>{esc(content.flowchart_text)}</pre>")


def methodology_section(content: ReportContent) -> str:
    items = "".join(f"<li>{inline_markdown(m)}</li>" for m in content.methodology)
    deviations = "".join(f"<li>{inline_markdown(d)}</li>" for d in content.deviations)
    glossary = "".join(f"<tr><th>{esc(name)}</th><td class='text'>{esc(meaning)}</td></tr>"
                       for name, meaning in METRICS.items())
    return (f"<ul>{items}</ul><h3>Deviations from the dissertation</h3><ul>{deviations}</ul>"
            "<h3>Inconsistencies in the dissertation</h3><p>From "
            "<code>resources/paper/param_counts.md</code>:</p>"
            f"{content.paper_inconsistencies_html}"
            "<h3>Metrics in results.csv</h3>"
            f"<table class='data'><tr><th>metric</th><th>meaning</th></tr>{glossary}</table>")


SECTIONS = (
    ("setup", "Setup", setup_section),
    ("findings", "Findings", findings_section),
    ("flowchart", "Decision flowchart", flowchart_section),
    ("tables", "Tables", tables_section),
    ("runtimes", "Runtimes", lambda content: content.runtimes_html),
    ("posttrain", "Post-training", lambda content: content.posttrain_html),
    ("figures", "Figures", figures_section),
    ("methodology", "Methodology", methodology_section),
)


def render_html(content: ReportContent) -> str:
    """The whole report as one HTML document."""
    nav = "".join(f"<li><a href='#{key}'>{title}</a></li>" for key, title, _ in SECTIONS)
    body = "".join(f"<section id='{key}'><h2>{title}</h2>{render(content)}</section>"
                   for key, title, render in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>archopt report: CNN architecture-optimization techniques</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>archopt report: DSC, Shift and Shuffle re-measured</h1>"
        f"<p>Generated {esc(content.generated)}. Numbers labelled <span class='paper'>paper</span> "
        "are the 2019 dissertation's, never archopt's measurements.</p>"
        f"<nav><ol>{nav}</ol></nav>{body}</body></html>\n"
    )
