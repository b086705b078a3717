"""The report's runtime analysis on hand-made result tables: the runtime-sensitivity
table, fastest (runtime, network) per accuracy level, MACs vs latency and its figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from report_fixtures import build_fixture_report, write_upstream

from archopt.report.runtimes import (
    fastest_per_accuracy,
    latency_matrix,
    macs_correlation,
    macs_latency_figure,
    ms_per_mmac,
    runtime_sensitivity,
    spearman,
)
from archopt.report.table import ReportInputs, build_table

REPO = Path(__file__).resolve().parents[1]
DIRECT = ("resnet20", "resnet20-dsc", "resnet20-shift", "resnet20-shuffle")


def flip_shuffle_in_onnxruntime(bench_paths: list[Path]) -> None:
    """Make ResNet20-Shuffle clearly faster than ResNet20 in ONNX Runtime only."""
    for path in bench_paths:
        if path.parent.name == "resnet20-shuffle" and path.stem == "cpu":
            data = json.loads(path.read_text())
            entry = data["onnxruntime"]
            for key in ("median_ms", "mean_ms", "p90_ms", "p99_ms"):
                entry[key] = entry[key] * 0.3
            entry["warning"] = "noisy"
            path.write_text(json.dumps(data))


@pytest.fixture
def table(tmp_path):
    paths = write_upstream(tmp_path, models=DIRECT, scaled={}, devices={"cpu": None})
    flip_shuffle_in_onnxruntime(paths["bench"])
    inputs = ReportInputs(paper=REPO / "resources/paper/thesis_tables.csv", **paths)
    return build_table(inputs)


def row_of(frame, finding: str, claim_start: str):
    rows = frame[(frame["finding"] == finding) & frame["claim"].str.startswith(claim_start)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_sensitivity_names_the_runtime_that_flips_a_finding(table):
    frame = runtime_sensitivity(table, tolerance=5)
    assert set(frame["device"]) == {"cpu"}
    shuffle = row_of(frame, "1", "does not lower latency")
    assert (shuffle["eager"], shuffle["onnxruntime"]) == ("holds", "fails")
    assert shuffle["holds in every runtime"] == "no"
    assert shuffle["flipped by (vs eager)"] == "onnxruntime"
    # The faster shuffle also beats Shift there, so finding 2 flips with it.
    shift = row_of(frame, "2", "lowest latency")
    assert (shift["eager"], shift["onnxruntime"]) == ("holds", "fails")
    # DSC stays slower than base in both runtimes.
    dsc = row_of(frame, "3", "does not lower latency")
    assert dsc["holds in every runtime"] == "yes" and dsc["flipped by (vs eager)"] == "none"
    # Only latency claims are listed: finding 1's efficiency part is not.
    assert not frame["claim"].str.contains("accuracy per parameter").any()


def test_latency_matrix_marks_warnings_and_names_the_fastest_runtime(table):
    frame = latency_matrix(table, "cifar10", "cpu", ["eager", "onnxruntime"])
    shuffle = frame[frame["network"] == "resnet20-shuffle"].iloc[0]
    assert shuffle["onnxruntime ms"].endswith("(noisy)")
    assert shuffle["fastest runtime"] == "onnxruntime"


def test_fastest_per_accuracy_level(table):
    frame = fastest_per_accuracy(table, "cifar10", "cpu")
    top = frame.iloc[0]  # the most accurate network is the base ResNet20
    assert (top["network"], top["runtime"]) == ("resnet20", "onnxruntime")
    # At the lowest level every network qualifies: the flipped, fastest shuffle wins.
    last = frame.iloc[-1]
    assert (last["network"], last["runtime"]) == ("resnet20-shuffle", "onnxruntime")


def test_spearman_of_hand_made_ranks():
    import pandas as pd

    assert spearman(pd.Series([1, 2, 3, 4]), pd.Series([10, 20, 30, 40])) == pytest.approx(1)
    assert spearman(pd.Series([1, 2, 3, 4]), pd.Series([4, 3, 2, 1])) == pytest.approx(-1)
    # One swapped pair of four: 1 - 6 * 2 / (4 * 15) = 0.8.
    assert spearman(pd.Series([1, 2, 3, 4]), pd.Series([1, 3, 2, 4])) == pytest.approx(0.8)


def test_macs_vs_latency_per_runtime_and_technique(table):
    correlation = macs_correlation(table)
    assert set(zip(correlation["device"], correlation["runtime"])) == {
        ("cpu", "eager"), ("cpu", "onnxruntime")}
    assert (correlation["networks"] == 4).all()
    per_mmac = ms_per_mmac(table)
    assert set(per_mmac["technique"]) == {"base", "dsc", "shift", "shuffle"}
    assert (per_mmac["ms_per_mmac"] > 0).all()
    # The fixture's DSC is slower than base with fewer MACs: more ms per MAC.
    eager = per_mmac[per_mmac["runtime"] == "eager"].set_index("technique")["ms_per_mmac"]
    assert eager["dsc"] > eager["base"]
    figure = macs_latency_figure(table)
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    bars = figure.axes[0].patches
    assert len(bars) == 4 * 2  # techniques x runtimes


def test_report_has_the_runtimes_section(tmp_path):
    out = build_fixture_report(tmp_path)
    html = (out / "index.html").read_text()
    assert "<section id='runtimes'>" in html
    for text in ("Runtime sensitivity of the latency findings", "MACs vs measured latency",
                 "fastest (runtime, network) per accuracy level", "load and first inference",
                 'id="fig-macs-latency"', "across images"):
        assert text in html
