"""The report: readers, tidy table, paper-style tables, HTML, and real Snakemake runs."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from conftest import REPO, run_snakemake
from fake_data import write_cifar_tree
from report_fixtures import (
    build_fixture_report,
    write_bench,
    write_json,
    write_summary,
    write_upstream,
)

from archopt.config import load_config
from archopt.paths import report_input_files
from archopt.report import sources
from archopt.report.build import FIGURE_FILES, ReportOutputs, build_report
from archopt.report.figures import pareto_front
from archopt.report.html import markdown_lists
from archopt.report.provisional import banner, classifier_reasons
from archopt.report.sections.methodology import markdown_section
from archopt.report.table import TIDY_COLUMNS, ReportInputs, build_table, read_results
from archopt.report.tables import scenario_table

PAPER = REPO / "resources/paper/thesis_tables.csv"


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory):
    """A report built from hand-made upstream files: cifar10, CPU measured, GPU skipped."""
    return build_fixture_report(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def table(fixture_report):
    return read_results(fixture_report / "results.csv")


def value(table, model, metric, source="archopt", dataset="cifar10", device=None, runtime=None):
    rows = table[(table["source"] == source) & (table["dataset"] == dataset)
                 & (table["model"] == model) & (table["metric"] == metric)]
    if device is not None:
        rows = rows[(rows["device"] == device) & (rows["runtime"] == runtime)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# --- readers: bad input names the file, the key and what was expected -------------------


def test_unreadable_json_names_the_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("{not json")
    with pytest.raises(sources.ReportInputError, match=re.escape(str(path))):
        sources.read_summary(path)


def test_summary_without_a_contract_key_names_it(tmp_path):
    path = write_json(tmp_path / "summary.json", {"model": "resnet20", "dataset": "cifar10"})
    with pytest.raises(sources.ReportInputError, match="missing key.*test_top1"):
        sources.read_summary(path)


def test_results_are_reported_under_the_identity_their_json_names(tmp_path):
    # Nothing is read from the path: files anywhere, under any name, keep their identity.
    summary = write_summary(tmp_path, "cifar10", "resnet20-shift").rename(tmp_path / "a.json")
    bench = write_bench(tmp_path, "cifar10", "resnet20-shift", "cpu")
    (tmp_path / "x").mkdir()
    bench = bench.rename(tmp_path / "x" / "y.json")
    table = build_table(ReportInputs(paper=PAPER, summaries=[summary], bench=[bench],
                                     runtimes=("eager", "onnxruntime")))
    ours = table[table["source"] == "archopt"]
    assert set(ours["model"]) == {"resnet20-shift"} and set(ours["dataset"]) == {"cifar10"}
    latency = ours[ours["metric"] == "latency_ms"]
    assert set(zip(latency["device"], latency["runtime"])) == {("cpu", "eager"),
                                                               ("cpu", "onnxruntime")}
    assert latency["value"].notna().all()
    assert not ours[ours["metric"] == "top1"]["value"].isna().any()


@pytest.mark.parametrize("skipped", [None, "no CUDA device on this machine"])
def test_a_bench_file_without_its_device_is_refused_naming_file_and_key(tmp_path, skipped):
    path = write_bench(tmp_path, "cifar10", "resnet20", "cpu", skipped=skipped)
    data = json.loads(path.read_text())
    del data["device"]
    path.write_text(json.dumps(data))
    with pytest.raises(sources.ReportInputError,
                       match=re.escape(str(path)) + r": missing key\(s\) device"):
        build_table(ReportInputs(paper=PAPER, bench=[path]))


def test_an_ill_typed_identity_key_is_refused_naming_it(tmp_path):
    path = write_bench(tmp_path, "cifar10", "resnet20", "cpu")
    path.write_text(json.dumps(json.loads(path.read_text()) | {"model": 20}))
    with pytest.raises(sources.ReportInputError, match=r"cpu\.json: key 'model' must be a "
                                                       r"non-empty string, got 20"):
        sources.read_bench(path)
    gan = write_json(tmp_path / "gan.json", {"pixel_acc": 60.0, "params": 10})
    with pytest.raises(sources.ReportInputError, match=r"gan\.json: missing key\(s\) model"):
        sources.read_gan_summary(gan)


def test_two_files_claiming_the_same_result_are_refused_naming_both(tmp_path):
    first = write_summary(tmp_path, "cifar10", "resnet20")
    copy = tmp_path / "results/models/cifar10/resnet20-dsc/summary.json"
    copy.parent.mkdir(parents=True)
    copy.write_text(first.read_text())  # copied into another network's folder
    with pytest.raises(sources.ReportInputError,
                       match=re.escape(f"{copy}: holds the same network as {first}")):
        build_table(ReportInputs(paper=PAPER, summaries=[first, copy]))
    bench = write_bench(tmp_path, "cifar10", "resnet20", "cpu")
    other = tmp_path / "cpu-again.json"
    other.write_text(bench.read_text())
    with pytest.raises(sources.ReportInputError, match=r"cpu-again\.json: holds the same "
                                                       r"dataset, network and device"):
        build_table(ReportInputs(paper=PAPER, bench=[bench, other]))


def test_bench_runtime_without_statistics_names_file_runtime_and_key(tmp_path):
    path = write_bench(tmp_path, "cifar10", "resnet20", "cpu")
    data = json.loads(path.read_text())
    del data["onnxruntime"]["std_ms"]
    path.write_text(json.dumps(data))
    with pytest.raises(sources.ReportInputError, match=r"cpu\.json: runtime 'onnxruntime'.*std_ms"):
        sources.read_bench(path)


@pytest.mark.parametrize("ci, expected", [(0.05, (1.95, 2.05)), ([1.9, 2.1], (1.9, 2.1))])
def test_latency_interval_as_half_width_or_bounds(ci, expected):
    low, high = sources.interval({"ci95_ms": ci}, "ci95_ms", "x", centre=2.0)
    assert (round(low, 6), round(high, 6)) == expected


def test_malformed_interval_is_refused():
    with pytest.raises(sources.ReportInputError, match="'ci95_ms' must be"):
        sources.interval({"ci95_ms": "wide"}, "ci95_ms", "bench.json", centre=2.0)


def test_perceptual_error_rates_must_be_fractions(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("model,volunteers,images,error_rate\npix2pix,10,20,35\n")
    with pytest.raises(sources.ReportInputError, match="fraction"):
        sources.read_study_results(path)


def test_csv_without_its_columns_names_them(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("name,params\nresnet20,1\n")
    with pytest.raises(sources.ReportInputError, match="missing column.*family"):
        sources.read_catalog(path)


# --- the tidy table ---------------------------------------------------------------------


def test_tidy_table_columns_and_sources(table):
    assert tuple(table.columns) == TIDY_COLUMNS
    assert set(table["source"]) == {"archopt", "paper"}


def test_efficiency_is_accuracy_per_thousand_parameters(table):
    acc = value(table, "resnet20", "top1")["value"]
    params = value(table, "resnet20", "params")["value"]
    assert params == 272762  # from the real catalog, not the summary's placeholder
    assert value(table, "resnet20", "ep_e3")["value"] == pytest.approx(acc / params * 1000)
    paper = value(table, "squeezenet", "ep_e3", source="paper")["value"]
    assert round(paper, 2) == 0.12  # the paper prints 0.12 for SqueezeNet (Table 1)


def test_latency_rows_keep_spread_and_shift_implementation(table):
    row = value(table, "resnet20-shift", "latency_ms", device="cpu", runtime="onnxruntime")
    assert row["ci_low"] < row["value"] < row["ci_high"] and row["n"] == 200
    assert row["note"] == "shift_impl=conv"


def test_skipped_device_is_a_row_saying_why(table):
    row = value(table, "resnet20", "latency_ms", device="cuda", runtime="eager")
    assert math.isnan(row["value"])
    assert row["note"] == "skipped: no CUDA device on this machine"


def test_paper_values_fix_its_typos_and_use_top5_on_cifar100(table):
    assert value(table, "resnet20", "params", source="paper")["value"] == 272762  # not Table 5's
    assert value(table, "resnet56-shuffle", "top5", source="paper", dataset="cifar100")[
        "value"] == 85.85  # Table 4, not Table 12's repeated 87.10
    assert value(table, "resnet20", "latency_ms", source="paper", device="cpu",
                 runtime="eager")["note"].startswith("one conv per block offloaded")


def test_scaled_nets_know_the_budget_they_match(table):
    assert value(table, "resnet20-2.7", "params")["budget_of"] == "resnet20-shift"
    assert value(table, "resnet20-shift-0.35", "params")["budget_of"] == "resnet20"
    assert value(table, "resnet20-2.7", "params", source="paper")["budget_of"] == "resnet20-shift"


def test_scaled_net_missing_from_the_search_gets_the_nearest_budget(tmp_path):
    paths = write_upstream(tmp_path, models=("resnet20", "resnet20-dsc", "resnet20-shift",
                                            "resnet20-shuffle"), scaled={}, devices={"cpu": None})
    catalog = paths["catalogs"][0]
    extra = write_upstream(tmp_path / "x", models=("resnet20-2.5",), scaled={}, devices={})
    lines = extra["catalogs"][0].read_text().splitlines()[1:]
    catalog.write_text(catalog.read_text() + "\n".join(lines) + "\n")
    frame = build_table(ReportInputs(paper=PAPER, **paths))
    budget = frame.loc[(frame["source"] == "archopt") & (frame["model"] == "resnet20-2.5"),
                       "budget_of"]
    assert set(budget) == {"resnet20-dsc"}  # 41,341 params: nearest to DSC's 40,810


# --- paper-style tables -----------------------------------------------------------------


def test_direct_table_puts_paper_values_beside_archopt(table):
    frame = scenario_table(table, "cifar10", "direct")
    row = frame[frame[("network", "archopt")] == "resnet20-shift"].iloc[0]
    assert row[("network", "paper")] == "ResNet20-Shift"
    assert row[("top-1 % [95% CI]", "paper")] == "80.81"
    assert row[("parameters", "archopt")] == "35,194"
    assert row[("CPU latency ms (mean ± std)", "paper")] == "2.07 ± 0.11"
    assert row[("CPU latency ms (mean ± std)", "archopt onnxruntime")].startswith("1.20 ± ")
    assert pd.isna(row[("GPU latency ms (mean ± std)", "archopt eager")])  # not measured
    # Networks archopt did not run still show the paper's row.
    assert "ResNet110-Shuffle (g = 2)" in set(frame[("network", "paper")])


def test_reduced_table_pairs_scaled_nets_by_role_not_name(table):
    frame = scenario_table(table, "cifar10", "reduced_shift")
    resnet20 = frame[frame[("network", "group")] == "resnet20"]
    channels = resnet20[resnet20[("network", "role")] == "fewer channels"].iloc[0]
    assert (channels[("network", "archopt")], channels[("network", "paper")]) == (
        "resnet20-2.7", "ResNet20-2.7")


def test_pareto_front_keeps_only_undominated_points():
    points = pd.DataFrame({"x": [1, 2, 3, 2.5, 4], "y": [50, 60, 55, 70, 70]})
    assert pareto_front(points, "x", "y") == [0, 1, 3]


def test_paper_inconsistencies_become_a_nested_list():
    notes = (REPO / "resources/paper/param_counts.md").read_text()
    html = markdown_lists(markdown_section(notes, "Inconsistencies"))
    assert html.count("<ol>") == 1 and html.count("<ul>") >= 1
    assert "<strong>Table 5, ResNet20: 271762</strong>" in html


# --- the HTML ---------------------------------------------------------------------------


def test_html_is_self_contained_and_has_every_section(fixture_report):
    html = (fixture_report / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert re.findall(r"<script[^>]*>", html) == ["<script>"]  # one inline script, no src
    images = re.findall(r"<img src=['\"]data:image/png;base64,", html)
    assert len(images) == 7  # five figures, the flowchart and the MACs-vs-latency figure
    for section in ("answer", "setup", "findings", "flowchart", "tables", "runtimes",
                    "figures", "methodology"):
        assert f"<section id='{section}'>" in html
    assert "GAN training not run" in html and "Perceptual study not run" in html
    assert "<strong>Table 12, &quot;ResNet56-Shuffle&quot; row</strong>" in html
    assert ("cifar10, cuda / eager: latency not measured for 11 network(s) (skipped: no CUDA "
            "device on this machine)") in html


def test_findings_csv_has_a_verdict_per_finding(fixture_report):
    findings = pd.read_csv(fixture_report / "findings.csv")
    ours = findings[findings["source"] == "archopt"]
    assert set(ours["finding"]) == {1, 2, 3, 4, 5}
    cpu = ours[(ours["device"] == "cpu") & (ours["runtime"] == "eager")]
    assert dict(zip(cpu["finding"], cpu["verdict"])) == {
        1: "confirmed", 2: "confirmed", 3: "confirmed", 4: "confirmed"}
    assert set(ours.loc[ours["device"] == "cuda", "verdict"]) == {"not measured"}


def test_gan_and_perceptual_results_fill_table_13(tmp_path):
    out = build_fixture_report(tmp_path, gan=True, devices={"cpu": None})
    html = (out / "index.html").read_text()
    assert "GAN training not run" not in html and "Perceptual study not run" not in html
    findings = pd.read_csv(out / "findings.csv")
    five = findings[(findings["finding"] == 5) & (findings["source"] == "archopt")]
    assert list(five["verdict"]) == ["confirmed"]
    table = pd.read_csv(out / "results.csv")
    rate = table[(table["model"] == "pix2pix-shift") & (table["metric"] == "perceptual_error")
                 & (table["source"] == "archopt")]
    assert list(rate["value"]) == [0.25]
    assert "fig-gan-samples" in html  # the Figure 28-like grid of generated maps
    assert (out / "figures" / "gan_samples.png").stat().st_size > 1000
    assert "cpu ms (eager)" in html  # generator latency in Table 13


# --- real Snakemake runs ----------------------------------------------------------------


def test_report_inputs_follow_the_config():
    config = {"studies": ["cifar10"], "networks": ["resnet20", "resnet20-shift"],
              "bench": {"devices": ["cpu", "cuda"]}, "gan": {"variants": []}}
    files = report_input_files(config, ["cifar10"])
    assert files["summaries"] == ["results/models/cifar10/resnet20/summary.json",
                                  "results/models/cifar10/resnet20-shift/summary.json"]
    assert "results/bench/cifar10/resnet20-shift/cuda.json" in files["bench"]
    assert files["searches"] == ["results/search/cifar10.csv"]


TINY_STUDY = """\
studies: [cifar10]
networks: [resnet20-shift]
train: {grid: {lr: [0.05], batch_size: [32]}, max_epochs: 1, train_subset: 64, val_size: 32,
        threads: 1}
gan: {variants: []}
bench: {devices: [cpu], images: 8, runtimes: [eager, onnxruntime], min_queries: 0,
        min_duration_s: 0}
posttrain: {methods: []}
report: {accuracy_tolerance: 3}
"""


@pytest.mark.slow
def test_tiny_real_study_produces_the_report_and_a_snakemake_report(workflow_copy):
    """Fake CIFAR-10 -> train -> select -> search -> export -> bench -> catalog -> report."""
    write_cifar_tree(workflow_copy / "resources", "cifar10", n_train=96, n_test=16)
    (workflow_copy / "tiny.yaml").write_text(TINY_STUDY)
    result = run_snakemake(workflow_copy, "results/report/index.html", "--configfile", "tiny.yaml")
    assert result.returncode == 0, result.stdout + result.stderr

    out = workflow_copy / "results/report"
    table = pd.read_csv(out / "results.csv")
    ours = table[table["source"] == "archopt"]
    assert set(ours["model"]) == {"resnet20-shift"}
    measured = ours[(ours["metric"] == "latency_ms") & ours["value"].notna()]
    assert set(zip(measured["device"], measured["runtime"])) == {("cpu", "eager"),
                                                                 ("cpu", "onnxruntime")}
    assert ours[ours["metric"] == "top1"]["value"].between(0, 100).all()
    html = (out / "index.html").read_text()
    assert "accuracy tolerance</th><td class='text'>3 percentage points" in html
    assert (workflow_copy / "logs/report/report.log").read_text().count("wrote") >= 1

    snakemake_report = run_snakemake(workflow_copy, "--configfile", "tiny.yaml",
                                     "--report", "snakemake-report.html")
    assert snakemake_report.returncode == 0, snakemake_report.stderr
    assert (workflow_copy / "snakemake-report.html").stat().st_size > 10_000


def test_report_with_nothing_measured_yet_still_renders(tmp_path):
    out = tmp_path / "report"
    figures = {name: out / f"{name}.png" for name in FIGURE_FILES}
    outputs = ReportOutputs(out / "index.html", out / "results.csv", out / "findings.csv", figures,
                            out / "recommendations.json")
    config = load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml",
                         {"bench": {"devices": []}})
    build_report(ReportInputs(paper=PAPER), outputs, config,
                 REPO / "resources/paper/param_counts.md")
    html = (out / "index.html").read_text()
    assert "latency: no benchmark device configured" in html
    findings = pd.read_csv(out / "findings.csv")
    assert set(findings.loc[findings["source"] == "archopt", "verdict"]) == {"not measured"}
    assert all(path.stat().st_size > 1000 for path in figures.values())


def test_subset_training_makes_accuracy_verdicts_provisional_and_says_so(fixture_report):
    html = (fixture_report / "index.html").read_text()
    # The quick preset trains on 2,000 images: one short banner, the networks folded.
    assert html.count("Provisional accuracy: ") == 1
    assert "<details><summary>which networks, and why</summary>" in html
    assert "trained on the first 2000 training images" in html and 'class="provisional"' in html
    assert re.search(r"<td>\d+\.\d+ \[\d+\.\d+, \d+\.\d+\] †</td>", html)  # accuracy cells
    findings = pd.read_csv(fixture_report / "findings.csv")
    ours = findings[findings["source"] == "archopt"]
    assert ours[ours["finding"].isin([1, 4])]["provisional"].all()
    assert not ours[ours["finding"].isin([2, 3])]["provisional"].any()  # latency stands
    assert not findings[findings["source"] == "paper"]["provisional"].any()


def test_only_runs_stopped_by_max_epochs_or_trained_on_a_subset_are_provisional():
    def summary(model: str, stop_reason: str) -> dict:
        run = {"lr": 0.1, "batch_size": 128, "seed": 0, "stop_reason": stop_reason}
        other = {**run, "lr": 0.01, "stop_reason": "max_epochs"}  # not the selected run
        return {"model": model, "dataset": "cifar10", "lr": 0.1, "batch_size": 128, "seed": 0,
                "epochs": 200, "grid": [run, other]}

    summaries = [summary("resnet20", "plateau"), summary("resnet20-shift", "max_epochs")]
    assert classifier_reasons(summaries, {"train_subset": None}) == {
        ("cifar10", "resnet20-shift"): "stopped at max_epochs (200) before its schedule's "
                                       "plateaus: not converged",
    }
    assert len(classifier_reasons(summaries, {"train_subset": 500})) == 2
    assert banner({}) == ""
