"""Real snakemake runs of the workflow in a temporary copy."""

from __future__ import annotations

import csv

import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.slow


def test_catalog_target_runs(workflow_copy):
    result = run_snakemake(
        workflow_copy,
        "results/models/cifar100/catalog.csv",
        "--config", "networks=[resnet20,resnet20-shift,squeezenet-dsc]",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((workflow_copy / "results/models/cifar100/catalog.csv").open()))
    assert [r["name"] for r in rows] == ["resnet20", "resnet20-shift", "squeezenet-dsc"]
    assert rows[0]["params"] == "278612"  # Table 4
    assert int(rows[1]["macs"]) < int(rows[0]["macs"])
    assert (workflow_copy / "logs/catalog/cifar100.log").exists()


def test_dry_run_of_all_on_the_paper_preset(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "all")
    assert result.returncode == 0, result.stderr
    assert "catalog" in result.stdout


def test_invalid_config_fails_naming_the_key(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--config", "bogus_key=1")
    assert result.returncode != 0
    assert "unknown config key 'bogus_key'" in result.stdout + result.stderr


def test_nested_config_on_the_command_line(workflow_copy):
    result = run_snakemake(
        workflow_copy, "-n", "all", "--config", "train={max_epochs: 7, restart: true}",
        "bench={images: 24}",
    )
    assert result.returncode == 0, result.stderr
