"""The report's page is its one list of sections, each a module with one data function
and a template; the Setup section shows what ran (the bench files' ``env``) and says where
it differs from the configuration, and the methodology states what ran."""

from __future__ import annotations

import html as html_lib
import inspect
import re
from pathlib import Path

import markupsafe
import pytest
import report_fixtures
from report_fixtures import build_fixture_report

from archopt.report import sections
from archopt.report.html import SECTIONS
from archopt.report.runs import device_runs, differences
from archopt.report.study import TABLE_FIGURES

TEMPLATES = Path(sections.__file__).parent.parent / "templates"
PAGE_TEMPLATES = {"page.html", "macros.html"}  # the frame and shared macros, no section
DEVICE = "rpi4"
CAPPED_THREADS = 2  # what Snakemake gave each bench job (--cores 2)
CONFIGURED_THREADS = 4  # what bench.threads asks for


@pytest.fixture(scope="module")
def capped_report(tmp_path_factory) -> str:
    """The fixture study with an imported device, whose local bench files record 2 threads
    while the config asks for 4 (Snakemake caps a job's threads at --cores)."""
    root = tmp_path_factory.mktemp("capped")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_fixtures, "ENV", {**report_fixtures.ENV, "threads": CAPPED_THREADS})
        out = build_fixture_report(root, devices={"cpu": None}, imported=[DEVICE],
                                   overrides={"bench": {"threads": CONFIGURED_THREADS}})
    return (out / "index.html").read_text()


def section(page: str, key: str) -> str:
    start = page.index(f"<section id='{key}'>")
    return page[start:page.index("</section>", start)]


def text_of(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)))


# --- one list of sections ---------------------------------------------------------------


def test_the_page_has_the_section_lists_sections_in_its_order(capped_report):
    keys = [module.KEY for module in SECTIONS]
    assert re.findall(r"<section id='(\w+)'>", capped_report) == keys
    nav = capped_report[capped_report.index("<nav>"):capped_report.index("</nav>")]
    assert re.findall(r'<a href="#(\w+)">', nav) == keys
    assert [text_of(t) for t in re.findall(r"<h2>(.*?)</h2>", capped_report)] == [
        module.TITLE for module in SECTIONS]


def test_every_section_module_is_listed_once_with_one_data_function_and_a_template():
    modules = {path.stem for path in Path(sections.__file__).parent.glob("*.py")} - {"__init__"}
    assert sorted(module.__name__.rsplit(".", 1)[1] for module in SECTIONS) == sorted(modules)
    for module in SECTIONS:
        functions = [name for name, value in vars(module).items()
                     if inspect.isfunction(value) and value.__module__ == module.__name__]
        data_functions = [name for name in functions if name == "data" or name.endswith("_data")]
        assert data_functions == ["data"], (module.__name__, functions)
        assert list(inspect.signature(module.data).parameters) == ["study"], module.__name__
        assert (TEMPLATES / f"{module.KEY}.html").is_file(), module.KEY
    # ... and every section template belongs to a listed section.
    html_templates = {path.name for path in TEMPLATES.glob("*.html")} - PAGE_TEMPLATES
    assert html_templates == {f"{module.KEY}.html" for module in SECTIONS}


def test_the_templates_read_only_what_their_data_function_gives():
    # The old templates read one shared content object ``c``; a section now sees only its data.
    for path in TEMPLATES.glob("*.html"):
        assert not re.search(r"\bc\.\w", path.read_text()), path.name


def test_every_figure_of_the_figure_list_is_drawn_and_the_figures_section_shows_its_own():
    from archopt.report.figure_list import REPORT_FIGURES

    own = {spec.name for spec in REPORT_FIGURES if spec.section == "figures"}
    assert set(TABLE_FIGURES) == own
    section_keys = {module.KEY for module in SECTIONS}
    assert {spec.section for spec in REPORT_FIGURES} <= section_keys
    assert all(spec.caption for spec in REPORT_FIGURES)  # each caption file exists


def test_the_captions_on_the_page_are_the_figure_lists(capped_report):
    from archopt.report.figure_list import REPORT_FIGURES

    for spec in REPORT_FIGURES:
        if spec.name != "gan_samples":  # no generator in this study
            assert str(markupsafe.escape(spec.caption)) in capped_report, spec.name


def test_the_provisional_banner_appears_once_with_the_networks_folded(capped_report):
    assert capped_report.count('class="banner"') == 1
    banner = capped_report[capped_report.index('class="banner"'):]
    banner = banner[:banner.index("</div>")]
    summary = banner[:banner.index("<details>")]
    assert len(text_of(summary)) < 300  # short: the networks are in the folded list
    assert "<details><summary>which networks, and why</summary>" in banner


# --- what ran ---------------------------------------------------------------------------


def test_setup_shows_what_each_devices_bench_files_record(capped_report):
    setup = section(capped_report, "setup")
    ran = setup[setup.index("What ran"):]
    rows = {cells[0]: cells for cells in (
        [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", ran, flags=re.S)) if cells}
    header = [text_of(h) for h in re.findall(r"<th>(.*?)</th>", ran)]
    cpu = dict(zip(header, rows["cpu"]))
    assert (cpu["kind"], cpu["threads"], cpu["images"]) == ("local", str(CAPPED_THREADS), "200")
    assert "torch 2.14.1" in cpu["libraries"] and "onnxruntime 1.20" in cpu["libraries"]
    assert cpu["runtimes timed"] == "eager, onnxruntime"
    device = dict(zip(header, rows[DEVICE]))
    # An imported device ran run_bench.py with its own options (env.settings).
    assert (device["kind"], device["threads"], device["warmup"]) == ("imported", "1", "2")


def test_setup_lists_every_place_what_ran_differs_from_the_config(capped_report):
    differences_list = section(capped_report, "setup").split('<ul class="differences">')[1]
    items = [text_of(i) for i in re.findall(r"<li>(.*?)</li>",
                                            differences_list.split("</ul>")[0], flags=re.S)]
    assert (f"cpu: config key bench.threads is {CONFIGURED_THREADS}; its bench files record "
            f"{CAPPED_THREADS}") in items
    assert f"{DEVICE}: config key bench.threads is {CONFIGURED_THREADS}; its bench files record 1" \
        in items
    # The quick preset asks for 20 queries at least; the imported device ran with 0.
    assert f"{DEVICE}: config key bench.min_queries is 20; its bench files record 0" in items
    assert not any(item.startswith("cpu: config key bench.images") for item in items)


def test_the_methodology_states_the_threads_that_ran_not_the_configured_ones(capped_report):
    methodology = text_of(section(capped_report, "methodology"))
    assert f"{CAPPED_THREADS} CPU thread(s)" in methodology
    assert f"{CONFIGURED_THREADS} CPU thread(s)" not in methodology
    assert "over 200 test images" in methodology


def test_files_of_one_device_that_disagree_are_counted_by_value():
    env = {"cpu_model": "Test CPU", "threads": 2, "torch": "2.14.1"}
    entry = {"mean_ms": 1.0, "warmup": 10, "repeats": 1}
    benches = [{"dataset": "d", "model": f"m{i}", "device": "cpu", "images": 200,
                "eager": entry, "env": {**env, "threads": threads}}
               for i, threads in enumerate((2, 2, 4))]
    benches.append({"dataset": "d", "model": "m9", "device": "cuda", "skipped": "no GPU",
                    "env": env})
    runs = device_runs(benches)
    assert list(runs) == ["cpu"]  # a device that only skipped ran nothing
    assert runs["cpu"].text("threads") == "2 (2 files), 4 (1 file)"
    assert runs["cpu"].versions() == {"torch": "2.14.1"}
    found = differences(runs, {"threads": 2, "warmup": 10, "images": None, "repeats": 1})
    assert [(d.device, d.setting) for d in found] == [("cpu", "threads")]
