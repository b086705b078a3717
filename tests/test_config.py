"""Config precedence (config.yaml < preset < command line) and validation messages."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO, run_snakemake

from archopt.config import ConfigError, load_config, resolve_config, validate_config
from archopt.data.sizes import check_training_split

CONFIG = REPO / "config.yaml"
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def test_repository_config_is_valid_and_is_the_paper_study():
    config = load_config(CONFIG, SCHEMA)
    assert config["preset"] == "paper"
    assert config["train"]["max_epochs"] == 200
    assert config["train"]["grid"] == {"lr": [0.1, 0.01, 0.001], "batch_size": [128, 256]}


def test_quick_preset_overlays_config_yaml():
    config = load_config(CONFIG, SCHEMA, {"preset": "quick"})
    assert config["train"]["max_epochs"] < 10 and config["train"]["train_subset"]
    assert config["train"]["momentum"] == 0.9  # untouched keys survive


def test_command_line_beats_preset_beats_config_yaml():
    base = yaml.safe_load(CONFIG.read_text())
    overrides = {"preset": "quick", "train": {"max_epochs": 7}}
    config = resolve_config(base, overrides)
    assert config["train"]["max_epochs"] == 7  # command line wins over the preset
    assert config["train"]["train_subset"] == 2000  # preset wins over config.yaml
    assert config["train"]["seeds"] == [0]  # config.yaml where nobody else speaks


def test_unknown_key_is_named():
    config = load_config(CONFIG, SCHEMA)
    config["train"]["max_epoch"] = 3
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.max_epoch'"):
        validate_config(config, SCHEMA)


def test_wrong_type_is_named():
    config = load_config(CONFIG, SCHEMA)
    config["bench"]["images"] = "all"
    with pytest.raises(ConfigError, match=r"config key 'bench\.images'"):
        validate_config(config, SCHEMA)


def test_unknown_preset_is_named():
    with pytest.raises(ConfigError, match="config key 'preset'"):
        resolve_config({"preset": "paper"}, {"preset": "fast"})


def test_nested_command_line_strings_become_the_schema_types():
    # Snakemake hands `--config 'train={max_epochs: 7}'` over with every scalar a string.
    overrides = {
        "train": {"max_epochs": "7", "restart": "true", "grid": {"lr": ["0.1", "0.01"]}},
        "bench": {"images": "24"},
        "gan": {"train_subset": "null"},
        "networks": ["resnet20"],
    }
    config = load_config(CONFIG, SCHEMA, overrides)
    assert config["train"]["max_epochs"] == 7 and config["train"]["restart"] is True
    assert config["train"]["grid"]["lr"] == [0.1, 0.01]
    assert config["bench"]["images"] == 24 and config["gan"]["train_subset"] is None
    with pytest.raises(ConfigError, match=r"config key 'train\.max_epochs'"):
        load_config(CONFIG, SCHEMA, {"train": {"max_epochs": "seven"}})


@pytest.mark.parametrize("value", [".nan", ".inf"])  # the schema's minimum catches -.inf
def test_non_finite_numbers_are_named(tmp_path, value):
    path = tmp_path / "bad.yaml"
    path.write_text(f"train: {{grid: {{lr: [0.1, {value}], batch_size: [128]}}}}\n")
    with pytest.raises(ConfigError, match=r"'train\.grid\.lr\.1': (nan|inf) is not a finite"):
        load_config(CONFIG, SCHEMA, yaml.safe_load(path.read_text()))


def write_manifest_counts(root, dataset: str, train: int) -> None:
    (root / dataset).mkdir(parents=True)
    (root / dataset / "manifest.json").write_text(json.dumps({"counts": {"train": train}}))


def test_impossible_training_sizes_are_named_against_the_official_size(tmp_path):
    config = load_config(CONFIG, SCHEMA, {"train": {"val_size": 50_000}})
    with pytest.raises(ConfigError, match=r"'train.val_size': 50000 leaves no training image "
                                          r"of cifar100 \(50000 .* the official CIFAR-100\)"):
        check_training_split(config["train"], "cifar100", tmp_path)
    config = load_config(CONFIG, SCHEMA, {"train": {"train_subset": 45_001}})
    with pytest.raises(ConfigError, match=r"'train.train_subset': 45001 is more than the 45000"):
        check_training_split(config["train"], "cifar10", tmp_path)
    config = load_config(CONFIG, SCHEMA, {"train": {"train_subset": 45_000}})
    check_training_split(config["train"], "cifar10", tmp_path)


def test_training_sizes_are_checked_against_the_downloaded_slice(tmp_path):
    write_manifest_counts(tmp_path, "cifar10", 5000)
    config = load_config(CONFIG, SCHEMA, {"preset": "quick", "train": {"val_size": 4000}})
    with pytest.raises(ConfigError, match=r"'train.train_subset': 2000 is more than the 1000 "
                                          r"training images cifar10 has .*manifest.json"):
        check_training_split(config["train"], "cifar10", tmp_path)
    check_training_split(load_config(CONFIG, SCHEMA, {"preset": "quick"})["train"], "cifar10",
                         tmp_path)


def test_an_impossible_split_stops_the_dry_run_only_when_training_is_planned(workflow_copy):
    write_manifest_counts(workflow_copy / "resources", "cifar10", 300)
    summary = "results/models/cifar10/resnet20/summary.json"
    result = run_snakemake(workflow_copy, "-n", summary, "--config", "studies=[cifar10]")
    assert result.returncode != 0
    assert "'train.val_size': 5000 leaves no training image of cifar10 (300 training images" \
        in result.stdout + result.stderr
    result = run_snakemake(workflow_copy, "-n", "results/models/cifar10/catalog.csv")
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_nan_learning_rate_stops_the_dry_run_naming_the_key(workflow_copy):
    (workflow_copy / "bad.yaml").write_text("train: {grid: {lr: [.nan], batch_size: [128]}}\n")
    result = run_snakemake(workflow_copy, "-n", "all", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert "'train.grid.lr.0': nan is not a finite number" in result.stdout + result.stderr
