"""The report's leaf modules read the registries: a plugin technique's implementation
choice and a plugin classification dataset are reported exactly as shipped ones are."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import runtime_entry, write_upstream

from archopt.datasets import DATASETS
from archopt.plugins import load_plugins
from archopt.report.analysis import classification_datasets, datasets_of
from archopt.report.figures import accuracy_figure, latency_figure
from archopt.report.sections import tables as tables_section
from archopt.report.study import Study
from archopt.report.table import (
    ARCHOPT,
    PAPER,
    ReportInputs,
    build_table,
    implementations_timed,
    runtime_rows,
)
from archopt.report.tables import scenario_table
from archopt.techniques import TECHNIQUES

PLUGINS = Path(__file__).with_name("plugins")
REPO = Path(__file__).resolve().parents[1]


def loaded(plugin: str, registry, name: str):
    """Load ``tests/plugins/{plugin}.py``; afterwards unregister ``name`` and drop the module."""
    load_plugins([str(PLUGINS / f"{plugin}.py")])
    yield name
    registry.remove(name)
    for module in [m for m in sys.modules if m.startswith(f"archopt_plugin_{plugin}")]:
        del sys.modules[module]


@pytest.fixture
def doubled():
    """A plugin technique with two implementations of its layer (mul, add)."""
    yield from loaded("doubled", TECHNIQUES, "doubled")


@pytest.fixture
def glyphs():
    """A plugin classification dataset of 1x28x28 greyscale images."""
    yield from loaded("glyphs", DATASETS, "glyphs")


def test_latency_rows_name_the_implementation_of_every_technique_that_has_some(doubled):
    # The bench records {technique}_impl for each technique with implementations; the
    # report used to read the shipped shift's field only.
    entry = runtime_entry("resnet20", "eager") | {f"{doubled}_impl": "add"}
    rows = runtime_rows(entry, "cpu", "eager", "cpu.json")
    latency = next(row for row in rows if row["metric"] == "latency_ms")
    assert latency["note"] == f"shift_impl=conv; {doubled}_impl=add"
    table = pd.DataFrame([{"source": ARCHOPT, **row} for row in rows])
    assert implementations_timed(table) == {"shift": ["conv"], doubled: ["add"]}


def test_a_network_without_implementations_to_choose_gets_no_note():
    entry = runtime_entry("resnet20", "eager") | {"shift_impl": None}
    assert runtime_rows(entry, "cpu", "eager", "cpu.json")[0]["note"] == ""


def test_the_reported_datasets_are_the_classification_ones_archopt_measured_else_the_papers():
    table = pd.DataFrame({"source": [ARCHOPT, ARCHOPT, PAPER, PAPER],
                          "dataset": ["maps", "cifar100", "cifar10", "maps"]})
    assert datasets_of(table, ARCHOPT) == ["cifar100"]  # the paired-image dataset is not one
    assert classification_datasets(table) == ["cifar100"]
    assert classification_datasets(table[table["source"] == PAPER]) == ["cifar10"]


def test_a_plugin_classification_dataset_gets_its_tables_and_figures(tmp_path, glyphs):
    models = ("resnet20", "resnet20-dsc", "resnet20-shift", "squeezenet")
    paths = write_upstream(tmp_path, dataset=glyphs, models=models, scaled={})
    table = build_table(ReportInputs(paper=REPO / "resources/paper/thesis_tables.csv", **paths))
    assert datasets_of(table, PAPER) == ["cifar10", "cifar100"]
    assert classification_datasets(table) == [glyphs]

    direct = scenario_table(table, glyphs, "direct")
    assert list(direct[("network", "archopt")]) == list(models)
    assert direct[("top-1 % [95% CI]", "archopt")].notna().all()  # the plugin's primary metric

    titles = [ax.get_title() for ax in accuracy_figure(table).axes]
    assert titles[0].startswith(f"{glyphs}: accuracy")
    assert any(ax.get_title().startswith(f"{glyphs}: CPU latency")
               for ax in latency_figure(table).axes)


def test_a_plugin_datasets_tables_cite_no_paper_table_and_a_paper_datasets_do(tmp_path, glyphs):
    models = ("resnet20", "resnet20-dsc")
    inputs = ReportInputs(paper=REPO / "resources/paper/thesis_tables.csv",
                          **write_upstream(tmp_path, dataset=glyphs, models=models, scaled={}))
    study = Study(inputs, {})
    titles = {dataset: [title for title, _ in tables_section.dataset_tables(study, dataset)]
              for dataset in (glyphs, "cifar10")}
    assert titles[glyphs] == ["Direct application"]
    assert "Direct application (paper Tables 1-4)" in titles["cifar10"]
