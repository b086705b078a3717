"""The report's post-training section takes every method's part from the method's hooks.

A method registered here, as a plugin would be, gets its words, verdict, results.csv
column and note, table, finding and flowchart leaf into the built report; the shipped
int8 method's finding and recipe table come the same way. The report is built by the
real code from hand-made upstream files (tests/report_fixtures.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import (
    BENCH_IMAGES,
    ENV,
    accuracy_of,
    build_fixture_report,
    device_entry,
    latency_of,
    write_int8_result,
    write_json,
)

from archopt.posttrain import PostTrainMethod, get_posttrain_method, register_posttrain_method
from archopt.report.findings import Verdict
from archopt.report.flowchart import Leaf
from archopt.report.posttrain import MethodFinding, method_columns
from archopt.report.table import ARCHOPT

NAME = "halved"
TABLE_TITLE = "halved networks, as their method tabulates them"
STATEMENT = "halving keeps the network useful."
FINDING = 41


class Halved(PostTrainMethod):
    """A method whose every report hook says something recognisable."""

    name, label = NAME, "halved"

    def describe(self, summary):
        return f"halved ({summary['halving']})"

    def verdict(self, result, base):
        return f"halved verdict: {result.accuracy - base.accuracy:+.1f} points"

    def report_columns(self, summary):
        return {"width_factor": 0.5}

    def latency_note(self, summary, entry):
        return f"halving={summary['halving']}"

    def report_tables(self, table, data, dataset):
        rows = [{"network": r.model, "halving": r.summary["halving"]}
                for r in data.of(dataset, method=NAME)]
        return [(TABLE_TITLE, pd.DataFrame(rows))]

    def findings(self, data, table):
        verdicts = [Verdict(FINDING, ARCHOPT, dataset, "cpu", "onnxruntime", "holds",
                            ("every halved network answered",))
                    for dataset in data.datasets(NAME)]
        return [MethodFinding(FINDING, STATEMENT, verdicts)]

    def flowchart_leaves(self, data, table, low_compute):
        return [Leaf("latency_low", "cpu / onnxruntime", "halve the network", "halved: x0.5")]


@pytest.fixture(scope="module")
def halved():
    register_posttrain_method(Halved)
    yield get_posttrain_method(NAME)
    from archopt.posttrain import METHODS

    METHODS.remove(NAME)


def write_halved_result(root: Path, dataset: str, model: str) -> tuple[Path, Path]:
    """summary.json and cpu.json of ``{model}+halved``, in the stage's formats."""
    name = f"{model}+{NAME}"
    folder = root / "results" / "posttrain" / dataset / name
    top1 = accuracy_of(model) - 2.0
    summary = write_json(folder / "summary.json", {
        "model": name, "base_model": model, "method": NAME, "method_label": "halved",
        "spec": NAME, "dataset": dataset, "test_images": BENCH_IMAGES, "test_top1": top1,
        "test_top5": top1 + 20, "params": 500, "storage_bytes": 60000, "halving": "channels"})
    entry = device_entry(latency_of(model, "onnxruntime") * 0.5, top1)
    bench = write_json(folder / "cpu.json", {
        "model": name, "dataset": dataset, "device": "cpu", "images": BENCH_IMAGES,
        "onnxruntime": entry, "env": ENV, "storage": {"onnx_bytes": 60000}})
    return summary, bench


@pytest.fixture(scope="module")
def report(halved, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("posttrain-report")
    summary, bench = write_halved_result(root, "cifar10", "resnet20")
    int8_summary, int8_benches = write_int8_result(root, "cifar10", "resnet20")
    return build_fixture_report(root, devices={"cpu": None}, runtimes=("eager", "onnxruntime"),
                                overrides={"bench": {"runtimes": ["eager", "onnxruntime"]}},
                                posttrain=[summary, int8_summary],
                                posttrain_bench=[bench, *int8_benches])


def section(html: str) -> str:
    """The post-training section of the page."""
    start = re.search(r"<section id=.posttrain.>", html).start()
    return html[start:html.index("</section>", start)]


def test_a_plugin_method_gets_its_words_verdict_table_and_finding_in_the_section(report):
    html = section((report / "index.html").read_text())
    assert "halved (channels)" in html
    assert re.search(r"halved verdict: -2\.0 points", html)
    assert TABLE_TITLE in html and "channels" in html
    assert f"Finding {FINDING}: {STATEMENT}" in html


def test_a_plugin_method_fills_its_results_csv_column_and_note(report):
    results = pd.read_csv(report / "results.csv")
    rows = results[results["model"] == f"resnet20+{NAME}"]
    assert set(rows["width_factor"]) == {0.5}
    latency = rows[rows["metric"] == "latency_ms"]
    assert list(latency["note"]) == ["halving=channels"]


def test_plugin_findings_and_leaves_reach_findings_csv_and_the_flowchart(report):
    findings = pd.read_csv(report / "findings.csv")
    ours = findings[findings["finding"] == FINDING]
    assert list(ours["statement"]) == [STATEMENT] and list(ours["verdict"]) == ["holds"]
    assert "archopt: halve the network" in (report / "index.html").read_text()


def test_the_shipped_quantization_takes_part_through_the_same_hooks(report):
    html = section((report / "index.html").read_text())
    assert "quantization recipes tried per runtime" in html
    assert "Finding 6:" in html
    results = pd.read_csv(report / "results.csv")
    int8 = results[(results["model"] == "resnet20+int8") & (results["metric"] == "latency_ms")
                   & (results["runtime"] == "onnxruntime")]
    assert list(int8["note"]) == ["recipe=qdq_s8s8"]


def test_a_method_may_not_rewrite_the_base_networks_attributes(halved):
    class Renamer(Halved):
        def report_columns(self, summary):
            return {"technique": "mine"}

    with pytest.raises(ValueError, match=r"report_columns gave \['technique'\]; a method may "
                                         r"fill only \['budget_of', 'paper_name', 'width_factor'\]"):
        method_columns(Renamer(), {})


def test_the_post_training_report_module_names_no_shipped_method():
    from test_shipped_names import offenders

    assert [o for o in offenders("report") if Path(o.split(":")[0]).stem == "posttrain"] == []
