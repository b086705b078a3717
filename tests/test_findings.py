"""Findings and flowchart logic on hand-made tidy tables: every verdict branch."""

from __future__ import annotations

import pandas as pd
from conftest import REPO

from archopt.report.analysis import Measurement, compare_latency
from archopt.report.findings import VERDICTS, findings, findings_frame
from archopt.report.flowchart import (
    Leaf,
    draw_flowchart,
    flowchart_leaves,
    flowchart_text,
    one_per_device,
)
from archopt.report.sources import read_paper
from archopt.report.table import measurement, paper_rows, tidy

CPU = ("cpu", "eager")


def net(acc: float | None = None, params: float | None = None, **latency: float) -> dict:
    """One network's numbers; latency given as ``cpu_eager=2.0`` (95% interval ±0.02)."""
    return {"acc": acc, "params": params, "latency": latency}


def table_of(nets: dict[str, dict], dataset: str = "cifar10", source: str = "archopt",
             budgets: dict[str, str] | None = None) -> pd.DataFrame:
    metric = {"cifar10": "top1", "cifar100": "top5", "maps": "pixel_acc"}[dataset]
    rows = []
    for model, numbers in nets.items():
        found = []
        if numbers["acc"] is not None:
            found.append(measurement(metric, numbers["acc"]))
        if numbers["params"] is not None:
            found.append(measurement("params", numbers["params"]))
        for key, mean in numbers["latency"].items():
            device, runtime = key.split("_")
            found.append(measurement("latency_ms", mean, device=device, runtime=runtime,
                                     std=0.1, ci=(mean - 0.02, mean + 0.02), n=200))
        rows += [{"source": source, "dataset": dataset, "model": model, **r} for r in found]
    return tidy(rows, {(dataset, m): b for m, b in (budgets or {}).items()})


def verdict(table: pd.DataFrame, finding: int, dataset: str = "cifar10", device: str = "cpu",
            runtime: str = "eager", tolerance: float = 5.0) -> str:
    found = [v for v in findings(table, tolerance, sources=("archopt",))
             if (v.finding, v.dataset, v.device, v.runtime) == (finding, dataset, device, runtime)]
    assert len(found) == 1, found
    return found[0].verdict


def direct(shuffle_ms: float, dsc_ms: float, shift_ms: float, *, shuffle_params: float = 25e3,
           dsc_params: float = 40e3, depth: int = 20) -> dict[str, dict]:
    name = f"resnet{depth}"
    return {
        name: net(86, 270e3, cpu_eager=2.0),
        f"{name}-dsc": net(84, dsc_params, cpu_eager=dsc_ms),
        f"{name}-shift": net(85, 35e3, cpu_eager=shift_ms),
        f"{name}-shuffle": net(83, shuffle_params, cpu_eager=shuffle_ms),
    }


def test_latency_comparison_needs_disjoint_intervals():
    fast = Measurement(1.0, ci_low=0.9, ci_high=1.1)
    slow = Measurement(2.0, ci_low=1.9, ci_high=2.1)
    overlapping = Measurement(1.05, ci_low=0.95, ci_high=1.15)
    assert compare_latency(fast, slow) == "faster"
    assert compare_latency(slow, fast) == "slower"
    assert compare_latency(fast, overlapping) == "tie"


def test_finding_1_confirmed_when_shuffle_is_most_efficient_and_not_faster():
    assert verdict(table_of(direct(shuffle_ms=2.5, dsc_ms=2.6, shift_ms=1.5)), 1) == "confirmed"


def test_finding_1_tie_with_base_does_not_count_as_lowering_latency():
    assert verdict(table_of(direct(shuffle_ms=2.01, dsc_ms=2.6, shift_ms=1.5)), 1) == "confirmed"


def test_finding_1_mixed_when_shuffle_is_efficient_but_faster():
    assert verdict(table_of(direct(shuffle_ms=1.2, dsc_ms=2.6, shift_ms=1.5)), 1) == "mixed"


def test_finding_1_refuted_when_shuffle_is_neither():
    nets = direct(shuffle_ms=1.2, dsc_ms=2.6, shift_ms=1.5, shuffle_params=500e3)
    assert verdict(table_of(nets), 1) == "refuted"


def test_finding_1_not_measured_without_latency():
    nets = {name: net(n["acc"], n["params"]) for name, n in direct(2.5, 2.6, 1.5).items()}
    table = table_of(nets)
    assert verdict(table, 1, device="", runtime="") == "not measured"


def test_finding_2_confirmed_refuted_and_mixed():
    assert verdict(table_of(direct(shuffle_ms=2.5, dsc_ms=2.6, shift_ms=1.5)), 2) == "confirmed"
    assert verdict(table_of(direct(shuffle_ms=2.5, dsc_ms=1.0, shift_ms=1.5)), 2) == "refuted"
    two_depths = {**direct(2.5, 2.6, 1.5, depth=20), **direct(2.5, 1.0, 1.5, depth=56)}
    assert verdict(table_of(two_depths), 2) == "mixed"


def test_finding_2_tie_for_lowest_still_holds():
    assert verdict(table_of(direct(shuffle_ms=1.51, dsc_ms=2.6, shift_ms=1.5)), 2) == "confirmed"


def test_finding_3_confirmed_and_refuted():
    assert verdict(table_of(direct(2.5, dsc_ms=2.6, shift_ms=1.5)), 3) == "confirmed"
    bigger_and_faster = direct(2.5, dsc_ms=1.0, shift_ms=1.5, dsc_params=900e3)
    assert verdict(table_of(bigger_and_faster), 3) == "refuted"


def equal_budget(expanded_acc: float, expanded_ms: float, reduced_ms: float) -> pd.DataFrame:
    nets = {
        "resnet20": net(86, 270e3, cpu_eager=2.0),
        "resnet20-shift": net(81, 35e3, cpu_eager=1.9),
        "resnet20-shift-0.35": net(expanded_acc, 270e3, cpu_eager=expanded_ms),
        "resnet20-2.7": net(77, 34e3, cpu_eager=reduced_ms),
        "resnet20-2.7_block": net(80, 34e3, cpu_eager=reduced_ms + 0.5),
    }
    budgets = {"resnet20-shift-0.35": "resnet20", "resnet20-2.7": "resnet20-shift",
               "resnet20-2.7_block": "resnet20-shift"}
    return table_of(nets, budgets=budgets)


def test_finding_4_confirmed_when_expanded_match_and_are_slower_and_reduced_fastest():
    assert verdict(equal_budget(expanded_acc=85, expanded_ms=3.0, reduced_ms=1.5), 4) == "confirmed"


def test_finding_4_refuted_when_every_part_fails():
    assert verdict(equal_budget(expanded_acc=70, expanded_ms=1.0, reduced_ms=2.5), 4) == "refuted"


def test_finding_4_accuracy_tolerance_is_configurable():
    table = equal_budget(expanded_acc=81.5, expanded_ms=3.0, reduced_ms=1.5)  # 4.5 points down
    assert verdict(table, 4, tolerance=5) == "confirmed"
    assert verdict(table, 4, tolerance=4) == "mixed"


def gan(base: float, dsc: float, shift: float, shuffle: float) -> pd.DataFrame:
    nets = {"pix2pix": net(base), "pix2pix-dsc": net(dsc), "pix2pix-shift": net(shift),
            "pix2pix-shuffle": net(shuffle)}
    return table_of(nets, dataset="maps")


def test_finding_5_confirmed_refuted_and_not_measured():
    assert verdict(gan(62, 57, 60, 51), 5, "maps", "", "") == "confirmed"
    assert verdict(gan(62, 50, 40, 60), 5, "maps", "", "") == "refuted"
    classification_only = table_of(direct(2.5, 2.6, 1.5))
    assert verdict(classification_only, 5, "maps", "", "") == "not measured"


def test_every_finding_gets_a_verdict_per_device_and_runtime():
    nets = direct(2.5, 2.6, 1.5)
    for numbers in nets.values():
        numbers["latency"]["cpu_onnxruntime"] = numbers["latency"]["cpu_eager"] * 0.8
    frame = findings_frame(findings(table_of(nets), sources=("archopt",)))
    assert set(frame["verdict"]) <= set(VERDICTS)
    per_runtime = frame[frame["finding"] == 2][["device", "runtime"]]
    assert sorted(map(tuple, per_runtime.values)) == [("cpu", "eager"), ("cpu", "onnxruntime")]
    assert frame.loc[frame["finding"] == 2, "evidence"].str.contains("ms").all()


def paper_table() -> pd.DataFrame:
    return tidy(paper_rows(read_paper(REPO / "resources/paper/thesis_tables.csv")), {})


def test_findings_on_the_papers_own_numbers():
    verdicts = {(v.finding, v.dataset, v.device): v.verdict
                for v in findings(paper_table(), sources=("paper",))}
    assert verdicts[(5, "maps", "")] == "confirmed"
    assert verdicts[(2, "cifar10", "cpu")] == "confirmed"
    assert verdicts[(3, "cifar10", "cuda")] == "confirmed"  # DSC slower on the paper's GPU
    assert verdicts[(4, "cifar10", "cuda")] == "confirmed"
    # Its own CPU column has Shuffle faster than some base ResNets: finding 1 only partly holds.
    assert verdicts[(1, "cifar10", "cpu")] == "mixed"


def leaves_by_need(table: pd.DataFrame, tolerance: float = 5.0) -> dict[tuple[str, str], str]:
    return {(leaf.need, leaf.scope): leaf.choice for leaf in flowchart_leaves(table, tolerance)}


def test_flowchart_picks_the_technique_faster_in_every_network():
    leaves = leaves_by_need(table_of(direct(shuffle_ms=2.5, dsc_ms=2.6, shift_ms=1.5)))
    assert leaves[("latency_low", "cpu / eager")] == "Shift"
    assert leaves[("latency_high", "cuda")] == "not measured"
    assert leaves[("size", "")] == "Shift, then DSC, then Shuffle"  # least accuracy loss first
    assert leaves[("size_latency", "cpu / eager")] == "only Shift"


def test_flowchart_says_not_indicated_when_no_technique_is_faster():
    leaves = leaves_by_need(table_of(direct(shuffle_ms=2.5, dsc_ms=2.6, shift_ms=2.3)))
    assert leaves[("latency_low", "cpu / eager")] == "not indicated"
    assert leaves[("size_latency", "cpu / eager")] == "none keeps latency"


def test_flowchart_drops_techniques_beyond_the_accuracy_tolerance():
    leaves = leaves_by_need(table_of(direct(2.5, 2.6, 1.5)), tolerance=2.5)
    assert leaves[("size", "")] == "Shift, then DSC"  # Shuffle loses 3 points


def test_flowchart_merges_runtimes_that_agree_and_renders():
    nets = direct(2.5, 2.6, 1.5)
    for numbers in nets.values():
        numbers["latency"]["cpu_onnxruntime"] = numbers["latency"]["cpu_eager"] * 0.8
    leaves = flowchart_leaves(table_of(nets))
    cpu = [leaf for leaf in leaves if leaf.need == "latency_low"]
    assert [(leaf.scope, leaf.choice) for leaf in cpu] == [("cpu / eager, onnxruntime", "Shift")]
    text = flowchart_text(leaves)
    assert "[cpu / eager, onnxruntime] archopt: Shift (paper: Shift)" in text
    figure = draw_flowchart(leaves)
    assert figure.get_figheight() > 3


def test_the_chart_keeps_one_leaf_per_device_in_its_deployment_runtime():
    nets = direct(2.5, 2.6, 1.5)
    for numbers in nets.values():  # onnxruntime: shift no longer faster than its base
        numbers["latency"]["cpu_onnxruntime"] = 1.0
    table = table_of(nets)
    every = flowchart_leaves(table)
    assert {leaf.scope for leaf in every if leaf.need == "latency_low"} == {
        "cpu / eager", "cpu / onnxruntime"}  # a fan: one leaf per runtime
    runtimes = {"cpu": "onnxruntime"}
    quantize = Leaf("latency_low", "cpu / onnxruntime", "quantize to int8 (every network)", "x")
    eager_only = Leaf("latency_low", "cpu / eager", "quantize to int8 (1/2 networks)", "y")
    leaves = one_per_device(flowchart_leaves(table, runtimes=runtimes) + [quantize, eager_only],
                            runtimes)
    low = [leaf for leaf in leaves if leaf.need == "latency_low"]
    assert [(leaf.scope, leaf.choice) for leaf in low] == [
        ("cpu / onnxruntime", "not indicated; then quantize to int8 (every network)")]
    assert ("size", "") in {(leaf.need, leaf.scope) for leaf in leaves}  # no device: kept
