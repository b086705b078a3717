"""Imported target devices in the report: a device's rows are the runtimes its results
hold (no "absent" rows for the others, one note naming them), and its imported
post-training results count in the post-training tables, finding 6 and the flowchart's
"quantize" leaves, per device and in the class ``report.low_compute_devices`` gives it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import (
    BENCH_IMAGES,
    DEVICE_SLOWDOWN,
    INT8_SPEEDUP,
    build_fixture_report,
    latency_of,
    write_bench,
    write_int8_result,
    write_summary,
)

from archopt.paths import posttrain_device_targets
from archopt.report import sources
from archopt.report.posttrain import read_posttrain
from archopt.report.table import ABSENT, ReportInputs, build_table

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "resources/paper/thesis_tables.csv"
RUNTIMES = ("eager", "onnxruntime")
INT8_BASES = ("resnet20", "resnet20-shift")
DEVICE = "rpi4"
NOT_RUN = f"{DEVICE} did not run eager (its results hold onnxruntime)"
LOW_NEED = "Latency fails on a low-compute platform (CPU)"
HIGH_NEED = "Latency fails on a high-compute platform (GPU)"


def device_report(root: Path, low_compute=("cpu", DEVICE), device_speedup=INT8_SPEEDUP) -> Path:
    """The fixture study (CPU measured in eager and ONNX Runtime) with the results of an
    imported device that ran ONNX Runtime only, and int8 results of two networks."""
    summaries, benches = [], []
    for model in INT8_BASES:
        summary, files = write_int8_result(root, "cifar10", model, devices=[DEVICE],
                                           device_speedup=device_speedup)
        summaries.append(summary)
        benches += files
    overrides = {"bench": {"runtimes": list(RUNTIMES)},
                 "report": {"low_compute_devices": list(low_compute)}}
    return build_fixture_report(root, devices={"cpu": None}, imported=[DEVICE],
                                runtimes=RUNTIMES, overrides=overrides, posttrain=summaries,
                                posttrain_bench=benches)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return device_report(tmp_path_factory.mktemp("device-report"))


def latency_rows(results: pd.DataFrame, device: str) -> pd.DataFrame:
    return results[(results["source"] == "archopt") & (results["device"] == device)
                   & (results["metric"] == "latency_ms")]


def flowchart_needs(html: str) -> dict[str, str]:
    """need title -> the flowchart text's lines under it."""
    text = re.search(r"<pre>(.*?)</pre>", html, re.S).group(1)
    needs, current = {}, None
    for line in text.splitlines():
        title = re.match(r"\s+- (.+):$", line)
        if title and line.startswith("     - ") and not line.startswith("       "):
            current = title.group(1)
            needs[current] = ""
        elif current:
            needs[current] += line + "\n"
    return needs


def test_an_imported_device_has_rows_only_for_the_runtimes_it_ran(report):
    results = pd.read_csv(report / "results.csv")
    device = latency_rows(results, DEVICE)
    assert set(device["runtime"]) == {"onnxruntime"}
    assert device["value"].notna().all()  # every row a measurement, none "absent"
    assert not results["note"].fillna("").str.contains(ABSENT).any()
    cpu = latency_rows(results, "cpu")
    assert {"eager", "onnxruntime"} <= set(cpu["runtime"])  # the local device as before
    fp32 = device[device["model"] == "resnet20"]
    assert fp32["value"].item() == pytest.approx(latency_of("resnet20", "onnxruntime")
                                                 * DEVICE_SLOWDOWN)


def test_the_report_names_the_runtimes_a_device_did_not_run_once_per_table(report):
    html = (report / "index.html").read_text()
    assert ABSENT not in html
    assert f"cifar10: {NOT_RUN}" in html  # "What was not measured"
    note = f"Runtimes without a column: {NOT_RUN}."
    tables = html[html.index("<section id='tables'>"):html.index("<section id='runtimes'>")]
    runtimes = html[html.index("<section id='runtimes'>"):html.index("<section id='posttrain'>")]
    posttrain = html[html.index("<section id='posttrain'>"):html.index("<section id='figures'>")]
    assert tables.count(note) == 1 and runtimes.count(note) == 1 and posttrain.count(note) == 1
    # The runtimes section's table of the device has its one runtime, the CPU's both.
    matrix = runtimes[runtimes.index(f"cifar10, {DEVICE}: every network"):]
    matrix = matrix[:matrix.index("</table>")]
    assert "onnxruntime ms" in matrix and "eager ms" not in matrix
    assert "CPU did not run" not in html


def test_a_bench_stage_file_lacking_a_configured_runtime_still_says_so(tmp_path):
    stale = write_bench(tmp_path, "cifar10", "resnet20", "cpu", runtimes=("eager",))
    skipped = write_bench(tmp_path, "cifar10", "resnet20", "cuda", skipped="no CUDA device")
    table = build_table(ReportInputs(paper=PAPER, bench=[stale, skipped], runtimes=RUNTIMES))
    rows = table[(table["source"] == "archopt") & (table["metric"] == "latency_ms")]
    notes = dict(zip(zip(rows["device"], rows["runtime"]), rows["note"]))
    assert notes[("cpu", "onnxruntime")] == f"skipped: {ABSENT}"
    assert notes[("cuda", "eager")] == notes[("cuda", "onnxruntime")] == "skipped: no CUDA device"


def test_imported_post_training_results_are_shown_per_device(report):
    results = pd.read_csv(report / "results.csv")
    int8 = latency_rows(results, DEVICE)
    int8 = int8[int8["model"] == "resnet20+int8"]
    expected = latency_of("resnet20", "onnxruntime") * DEVICE_SLOWDOWN * INT8_SPEEDUP
    assert list(int8["runtime"]) == ["onnxruntime"]
    assert int8["value"].item() == pytest.approx(expected)
    assert int8["note"].item() == "recipe=qdq_s8s8"  # the model.onnx the device timed
    assert int8["n"].item() == BENCH_IMAGES
    cpu = latency_rows(results, "cpu")
    assert set(cpu.loc[cpu["model"] == "resnet20+int8", "runtime"]) == {"eager", "onnxruntime"}
    html = (report / "index.html").read_text()
    posttrain = html[html.index("<section id='posttrain'>"):html.index("<section id='figures'>")]
    table = posttrain[posttrain.index("architecture vs post-training"):]
    table = table[:table.index("</table>")]
    assert f"{DEVICE} latency ms (mean ± std)" in table and "CPU latency ms (mean ± std)" in table
    assert f"<td>{expected:.2f} ± {expected * 0.05:.2f}</td>" in table


def test_finding_6_is_judged_on_each_device_that_ran_int8(report):
    findings = pd.read_csv(report / "findings.csv")
    six = findings[findings["finding"] == 6]
    assert dict(zip(zip(six["device"], six["runtime"]), six["verdict"])) == {
        ("cpu", "onnxruntime"): "confirmed", (DEVICE, "onnxruntime"): "confirmed"}
    evidence = six.loc[six["device"] == DEVICE, "evidence"].item()
    assert "resnet20: int8 qdq_s8s8" in evidence and "separate runs" in evidence
    assert "resnet20-shift: top-1" in evidence and "tolerance 1" in evidence


QUANTIZE = "Shift; then quantize to int8 (every network)"


def test_the_quantize_leaf_of_a_device_follows_low_compute_devices(report, tmp_path):
    needs = flowchart_needs((report / "index.html").read_text())
    # One answer per device: the architecture, then quantizing, in its runtime.
    assert f"[{DEVICE} / onnxruntime] archopt: {QUANTIZE}" in needs[LOW_NEED]
    assert f"[cpu / onnxruntime] archopt: {QUANTIZE}" in needs[LOW_NEED]
    assert "quantize" not in needs[HIGH_NEED]
    high = device_report(tmp_path, low_compute=("cpu",))  # the device is high-compute now
    needs = flowchart_needs((high / "index.html").read_text())
    assert f"[{DEVICE} / onnxruntime] archopt: {QUANTIZE}" in needs[HIGH_NEED]
    assert f"[{DEVICE} / onnxruntime]" not in needs[LOW_NEED]
    assert f"[cpu / onnxruntime] archopt: {QUANTIZE}" in needs[LOW_NEED]


def test_the_chart_answers_once_per_device_and_folds_the_runtimes(report):
    html = (report / "index.html").read_text()
    needs = flowchart_needs(html)
    leaves = re.findall(r"- \[(\w+) / ([\w, ]+)\] archopt", needs[LOW_NEED])
    # cpu ran eager and ONNX Runtime: its answer is in the runtime it deploys in.
    assert leaves == [("cpu", "onnxruntime"), (DEVICE, "onnxruntime")]
    details = html[html.index("every runtime of every device"):]
    assert "[cpu / eager, onnxruntime] archopt: Shift (paper: Shift)" in details
    assert "[cpu / onnxruntime] archopt: quantize to int8 (every network)" in details


def test_int8_slower_on_the_device_fails_there_and_gets_no_leaf(tmp_path):
    out = device_report(tmp_path, device_speedup=1.3)
    findings = pd.read_csv(out / "findings.csv")
    six = findings[findings["finding"] == 6]
    verdicts = dict(zip(six["device"], six["verdict"]))
    assert verdicts == {"cpu": "confirmed", DEVICE: "mixed"}  # slower, but within tolerance
    evidence = six.loc[six["device"] == DEVICE, "evidence"].item()
    assert "int8 faster than fp32 in the same runtime: resnet20: " in evidence
    assert "(x1.30, slower, separate runs) -> fails" in evidence
    needs = flowchart_needs((out / "index.html").read_text())
    assert f"[{DEVICE} / onnxruntime] archopt: Shift (paper" in needs[LOW_NEED]  # no quantize


def test_post_training_files_are_matched_by_their_json_not_their_folder(tmp_path):
    summary, (cpu, device) = write_int8_result(tmp_path, "cifar10", "resnet20", devices=[DEVICE])
    moved = tmp_path / "elsewhere.json"
    device.rename(moved)
    data = read_posttrain([summary], [cpu, moved])
    (result,) = data.results
    assert list(result.benches) == ["cpu", DEVICE]
    with pytest.raises(sources.ReportInputError,
                       match=re.escape(f"{summary}: no cpu bench file of resnet20+int8")):
        read_posttrain([summary], [moved])
    other = write_summary(tmp_path, "cifar10", "resnet56")  # not a post-training result
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps(json.loads(cpu.read_text()) | {"model": "resnet56+int8"}))
    with pytest.raises(sources.ReportInputError,
                       match=re.escape(f"{stray}: bench file of resnet56+int8 on cifar10")):
        read_posttrain([summary], [cpu, stray])
    assert other.exists()


def test_the_report_rule_reads_every_external_devices_post_training_results():
    config = {"studies": ["cifar10"], "networks": ["resnet20"], "gan": {"variants": []},
              "bench": {"devices": ["cpu"], "external_devices": [
                  {"name": DEVICE, "results": "rpi4.json"}]},
              "posttrain": {"methods": ["int8"]}}
    assert posttrain_device_targets(config) == [
        f"results/posttrain/cifar10/resnet20+int8/{DEVICE}.json"]
    assert posttrain_device_targets({**config, "bench": {"devices": ["cpu"]}}) == []
