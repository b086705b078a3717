"""The report's answer section ("What to deploy"): per device, every deployable variant on
one accuracy-latency frontier, the answers with their ties, recommendations.json valid
against the schema this folder holds; and, through a real tiny study with an imported
device, that the named fastest-within-tolerance variant is the fastest by the JSON results,
and that no benchmark job shares the CPU with another job of the workflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import copy_workflow, run_snakemake
from fake_data import write_cifar_tree
from report_fixtures import build_fixture_report, write_int8_result, write_upstream
from test_device import NETWORKS
from test_device import TINY as DEVICE_STUDY

from archopt.report.analysis import Measurement
from archopt.report.answer import Variant, most_accurate_under, pareto_frontier
from archopt.report.sections import devices
from archopt.report.study import Study
from archopt.report.table import ReportInputs

PAPER = Path(__file__).resolve().parents[1] / "resources/paper/thesis_tables.csv"
SCHEMA = json.loads((Path(__file__).with_name("recommendations.schema.json")).read_text())
DEVICE = "rpi4"


def variant(model: str, runtime: str, accuracy: float, ms: float, half_ms: float = 0.01,
            acc_ci: tuple[float, float] | None = None) -> Variant:
    low, high = acc_ci or (accuracy - 1, accuracy + 1)
    return Variant("cifar10", "cpu", runtime, model, model.split("+")[0], "base", "none", None,
                   "fp32", Measurement(accuracy, ci_low=low, ci_high=high, n=200),
                   Measurement(ms, ci_low=ms - half_ms, ci_high=ms + half_ms), 1000.0)


def test_the_frontier_keeps_only_variants_no_other_beats_on_both():
    variants = [variant("a", "eager", 60, 1.0), variant("b", "eager", 58, 2.0),
                variant("c", "eager", 65, 3.0), variant("d", "eager", 65, 4.0)]
    assert [v.model for v in pareto_frontier(variants)] == ["a", "c"]


def test_an_accuracy_inside_the_winners_interval_is_a_tie():
    variants = [variant("a", "eager", 70, 1.0, acc_ci=(66, 74)),
                variant("b", "eager", 68, 1.5, acc_ci=(64, 72)),
                variant("c", "eager", 50, 0.5, acc_ci=(46, 54)),
                variant("d", "eager", 99, 9.0)]
    answer = most_accurate_under(variants, budget_ms=2.0)
    assert answer.choice.model == "a" and [v.model for v in answer.ties] == ["b"]
    assert most_accurate_under(variants, budget_ms=0.1).choice is None


@pytest.fixture(scope="module")
def fixture_answer(tmp_path_factory) -> Path:
    """The fixture study with int8 results of two networks and an imported device."""
    root = tmp_path_factory.mktemp("answer")
    summaries, benches = [], []
    for model in ("resnet20", "resnet20-shift"):
        summary, files = write_int8_result(root, "cifar10", model, devices=[DEVICE])
        summaries.append(summary)
        benches += files
    overrides = {"bench": {"runtimes": ["eager", "onnxruntime"]},
                 "report": {"latency_budgets_ms": {"cpu": [1.5, 0.01]}}}
    return build_fixture_report(root, devices={"cpu": None}, imported=[DEVICE],
                                runtimes=("eager", "onnxruntime"), overrides=overrides,
                                posttrain=summaries, posttrain_bench=benches)


def test_recommendations_are_valid_against_the_schema(fixture_answer):
    data = json.loads((fixture_answer / "recommendations.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert [(d["device"], d["imported"]) for d in data["devices"]] == [("cpu", False),
                                                                      (DEVICE, True)]
    cpu = data["devices"][0]
    assert {v["precision"] for v in cpu["variants"]} == {"fp32", "int8"}
    assert cpu["accuracy_images"] == 200  # every accuracy: the benchmarked images
    budgets = [a for a in cpu["answers"] if a["question"] == "most_accurate_under_budget"]
    assert [a["budget_ms"] for a in budgets] == [1.5, 0.01]
    assert budgets[1]["choice"] is None and "no variant fits" in budgets[1]["evidence"]
    assert budgets[0]["choice"]["latency_ms"]["mean"] <= 1.5


def test_a_schema_violation_is_caught():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "archopt.recommendations/1", "devices": []}, SCHEMA)


def test_the_answer_opens_the_report(fixture_answer):
    html = (fixture_answer / "index.html").read_text()
    sections = re.findall(r"<section id='(\w+)'>", html)
    assert sections[0] == "answer"
    answer = html[html.index("<section id='answer'>"):html.index("<section id='setup'>")]
    assert "Fastest within the accuracy tolerance" in answer
    assert f"{DEVICE}, cifar10: an imported device" in answer
    assert "Most accurate under a latency budget (1.5 ms)" in answer
    # rpi4 has no budget configured: the page says how to set one.
    assert f"No latency budget configured for\n{DEVICE}" in answer


# --- a real tiny study with an imported device ------------------------------------------

TOLERANCE = 5
# The device tests' tiny study (a bundle with int8 results), judged at this tolerance.
TINY = DEVICE_STUDY | {"report": {"accuracy_tolerance": TOLERANCE}}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The tiny study on 2 cores, its bundle timed by run_bench.py (this Python has numpy
    and onnxruntime), then imported as device ``tinydev`` by a second run."""
    workdir = copy_workflow(tmp_path_factory.mktemp("answer-study") / "wf")
    write_cifar_tree(workdir / "resources", "cifar10", n_train=96, n_test=16)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    first = run_snakemake(workdir, "all", "--configfile", "tiny.yaml", timeout=1200)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    unpacked = workdir / "unpacked"
    with zipfile.ZipFile(workdir / "results/device/bundle.zip") as archive:
        archive.extractall(unpacked)
    device = subprocess.run([sys.executable, "run_bench.py", "--out", "results.json"],
                            cwd=unpacked, capture_output=True, text=True, timeout=600)
    assert device.returncode == 0, device.stderr
    (workdir / "tinydev.json").write_text((unpacked / "results.json").read_text())
    imported = {"bench": {**TINY["bench"],
                          "external_devices": [{"name": "tinydev", "results": "tinydev.json"}]}}
    (workdir / "devices.yaml").write_text(yaml.safe_dump(imported))
    second = run_snakemake(workdir, "all", "--configfile", "tiny.yaml", "devices.yaml")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return workdir, first


def timed_variants(workdir: Path, device: str) -> list[tuple[str, str, float, float]]:
    """(network, runtime, top-1, mean ms) of every runtime entry timed on ``device``, read
    from the bench JSONs themselves (the study's and the post-training results')."""
    found = []
    for path in [*workdir.glob(f"results/bench/cifar10/*/{device}.json"),
                 *workdir.glob(f"results/posttrain/cifar10/*/{device}.json")]:
        bench = json.loads(path.read_text())
        for runtime, entry in bench.items():
            if isinstance(entry, dict) and "mean_ms" in entry and "top1" in entry:
                found.append((bench["model"], runtime, entry["top1"], entry["mean_ms"]))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", "tinydev"])
def test_the_named_fastest_variant_is_the_fastest_within_tolerance(study, device):
    workdir, _ = study
    data = json.loads((workdir / "results/report/recommendations.json").read_text())
    jsonschema.validate(data, SCHEMA)
    (answer,) = [d for d in data["devices"] if d["device"] == device]
    assert answer["imported"] is (device == "tinydev")
    variants = timed_variants(workdir, device)
    assert any("+int8" in model for model, *_ in variants)  # post-training variants count
    reference = max(top1 for model, _, top1, _ in variants if model == "resnet20")
    within = [v for v in variants if v[2] >= reference - TOLERANCE]
    fastest = min(within, key=lambda v: v[3])
    (named,) = [a for a in answer["answers"] if a["question"] == "fastest_within_tolerance"]
    assert (named["choice"]["model"], named["choice"]["runtime"]) == fastest[:2]
    assert {v["model"] for v in answer["variants"]} == {v[0] for v in variants}
    html = (workdir / "results/report/index.html").read_text()
    assert re.findall(r"<section id='(\w+)'>", html)[0] == "answer"


def job_events(log: str) -> list[tuple[str, str, str]]:
    """("start" | "end", jobid, rule) in the order Snakemake's log reports them."""
    events, rule, rules = [], "", {}
    for line in log.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif (match := re.match(r"^\s+jobid: (\d+)", line)) and rule:
            rules[match.group(1)] = rule
            events.append(("start", match.group(1), rule))
            rule = ""
        elif match := re.match(r"^Finished jobid: (\d+)", line):
            events.append(("end", match.group(1), rules.get(match.group(1), "")))
    return events


def overlaps_of_bench_jobs(events: list[tuple[str, str, str]]) -> list[str]:
    """Every job that ran while a bench job ran (started before it ended, ended after it
    started)."""
    running: dict[str, str] = {}
    found = []
    for kind, jobid, rule in events:
        if kind == "start":
            for other, other_rule in running.items():
                if "bench" in (rule, other_rule):
                    found.append(f"{rule} {jobid} started while {other_rule} {other} ran")
            running[jobid] = rule
        else:
            running.pop(jobid, None)
    return found


def test_the_overlap_reader_sees_a_job_started_beside_a_bench_job():
    log = ("rule bench:\n    jobid: 3\nrule train:\n    jobid: 4\nFinished jobid: 3 (Rule: bench)\n"
           "Finished jobid: 4 (Rule: train)\nrule bench:\n    jobid: 5\nFinished jobid: 5\n")
    assert overlaps_of_bench_jobs(job_events(log)) == ["train 4 started while bench 3 ran"]


@pytest.mark.slow
def test_no_bench_job_shares_the_cpu_with_another_job(study):
    workdir, first = study
    events = job_events(first.stdout + first.stderr)
    assert sum(rule == "bench" for kind, _, rule in events if kind == "start") == len(NETWORKS)
    assert sum(kind == "start" for kind, _, _ in events) > len(NETWORKS)
    assert overlaps_of_bench_jobs(events) == []
    bench = json.loads((workdir / "results/bench/cifar10/resnet20/cpu.json").read_text())
    assert bench["env"]["threads"] == 1  # the runtimes use bench.threads, not the claim


def test_a_table_mixing_test_sets_says_which_images_each_accuracy_is_from(fixture_answer):
    html = (fixture_answer / "index.html").read_text()
    posttrain = html[html.index("<section id='posttrain'>"):html.index("<section id='figures'>")]
    assert "<th>accuracy from</th>" in posttrain
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>",
                                                                         posttrain, re.S)]
    images = {cells[0]: next(c for c in cells if c.endswith("test images"))
              for cells in rows if cells and any(c.endswith("test images") for c in cells)}
    assert images["resnet20"] == "1,000 test images"  # the whole (fixture) test set
    assert images["resnet20+int8"] == "200 test images"  # the benchmarked images


def test_the_devices_section_counts_each_devices_cells_and_noisy_timings(tmp_path):
    paths = write_upstream(tmp_path, devices={"cpu": None}, imported=[DEVICE])
    noisy = tmp_path / "results/bench/cifar10/resnet20/cpu.json"
    bench = json.loads(noisy.read_text())
    bench["eager"]["warning"] = "noisy"
    bench["jitter"] = {"windows": [{"iqr_ratio": 0.04}, {"iqr_ratio": 0.13}]}
    noisy.write_text(json.dumps(bench))
    inputs = ReportInputs(paper=PAPER, runtimes=("eager", "onnxruntime"), **paths)
    rows = {row.device: row for row in devices.data(Study(inputs, config={}))["devices"]}
    assert (rows["cpu"].imported, rows["cpu"].cells, rows["cpu"].noisy) == (False, 22, 1)
    # The machine's jitter: the largest window of the device's files; none imported.
    assert (rows["cpu"].jitter, rows[DEVICE].jitter) == (0.13, None)
    assert (rows[DEVICE].imported, rows[DEVICE].runtimes, rows[DEVICE].cells) == (
        True, ["onnxruntime"], 11)
    # The threads run_bench.py ran with (the import keeps its options in env.settings).
    assert rows[DEVICE].environment == "Measured on Cortex-A72, 1 thread(s)."
