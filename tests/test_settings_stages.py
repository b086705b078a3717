"""One typed settings object per stage: training, Pix2Pix and the device bundle.

Each is built from the shipped config and every preset, refuses a value of the wrong type
naming its key, and a job builds it from its rule's params (what Snakemake reruns the job
on) over the config's instructions. The ``snakemake`` objects carry what Snakemake gives
a script (config, params, log, threads); the builders and :func:`start_job` are real.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO

from archopt.bench.settings import PROTOCOL_KEYS, BenchSettings
from archopt.config import load_config
from archopt.device.settings import DeviceSettings, job_device_settings
from archopt.gan.settings import GanSettings, job_gan_settings
from archopt.paths import bundle_image_counts, bundle_networks
from archopt.settings import list_setting, optional_setting, setting
from archopt.train.settings import TRAIN_RULE_PARAMS, TrainSettings, job_train_settings
from archopt.workflow import start_job

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
PRESETS = sorted(path.stem for path in (REPO / "archopt/presets").glob("*.yaml"))


def config(preset: str = "paper", **overrides) -> dict:
    return load_config(REPO / "config.yaml", SCHEMA, {"preset": preset, **overrides})


def job(config: dict, tmp_path: Path, threads: int = 1, **params) -> SimpleNamespace:
    return SimpleNamespace(config=config, params=SimpleNamespace(**params),
                           log=[str(tmp_path / "job.log")], threads=threads)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_stage_builds_its_settings_from_the_shipped_config_and_each_preset(preset):
    resolved = config(preset)
    train = TrainSettings.from_config(resolved)
    assert train.max_epochs == resolved["train"]["max_epochs"]
    assert train.train_subset == resolved["train"]["train_subset"]
    assert train.lrs == tuple(resolved["train"]["grid"]["lr"])
    assert train.threads == resolved["train"]["threads"]
    gan = GanSettings.from_config(resolved)
    assert gan.variants == tuple(resolved["gan"]["variants"])
    assert (gan.epochs, gan.crop_size) == (resolved["gan"]["epochs"], resolved["gan"]["crop_size"])
    assert gan.runs_per_gpu == resolved["train"]["runs_per_gpu"]
    device = DeviceSettings.from_config(resolved)
    assert list(device.networks) == bundle_networks(resolved)
    assert dict(device.images) == bundle_image_counts(resolved)
    assert device.protocol() == BenchSettings.from_config(resolved).protocol()


def test_the_paper_settings_are_the_dissertations():
    train = TrainSettings.from_config(config("paper"))
    assert train == TrainSettings(
        max_epochs=200, train_subset=None, val_size=5000, momentum=0.9, weight_decay=0.0005,
        precision="fp32", compile=False, lrs=(0.1, 0.01, 0.001), batch_sizes=(128, 256),
        seeds=(0,), threads=4, restart=False, runs_per_gpu=1)
    gan = GanSettings.from_config(config("paper"), threads=2)
    assert (gan.epochs, gan.epochs_decay, gan.load_size, gan.crop_size, gan.threads) == (
        100, 100, 286, 256, 2)
    assert (gan.subset("train"), gan.subset("val")) == (None, None)


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("train", "momentum", "high", "config key 'train.momentum' must be a number, got 'high'"),
    ("train", "max_epochs", 2.5, "config key 'train.max_epochs' must be an integer, got 2.5"),
    ("train", "train_subset", True,
     "config key 'train.train_subset' must be an integer or null, got True"),
    ("train", "compile", "yes", "config key 'train.compile' must be true or false, got 'yes'"),
    ("train", "seeds", 0, "config key 'train.seeds' must be a list of integers, got 0"),
    ("gan", "crop_size", None, "config key 'gan.crop_size' must be an integer, got None"),
    ("gan", "variants", ["pix2pix", 3], "config key 'gan.variants.1' must be a string, got 3"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_key(section, key, value, message):
    """Values that did not go through the schema (a hand-built mapping, a test's) are
    converted or refused by name, never passed on as they are."""
    bad = config()
    bad[section] = {**bad[section], key: value}
    build = TrainSettings.from_config if section == "train" else GanSettings.from_config
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(bad)


def test_a_missing_key_and_a_bad_grid_entry_are_named():
    train = {key: value for key, value in config()["train"].items() if key != "val_size"}
    with pytest.raises(ValueError, match="config key 'train.val_size' is missing: expected an "
                                         "integer"):
        TrainSettings.from_config({"train": train})
    grid = {"lr": [0.1, "fast"], "batch_size": [128]}
    with pytest.raises(ValueError, match="config key 'train.grid.lr.1' must be a number, got 'fast'"):
        TrainSettings.from_config({"train": config()["train"] | {"grid": grid}})


def test_conversion_keeps_the_configs_values():
    values = {"n": 3, "x": 2, "flag": False, "none": None, "name": "fp32"}
    assert setting("s", values, "n", int) == 3
    assert setting("s", values, "x", float) == 2.0 and isinstance(setting("s", values, "x", float), float)
    assert setting("s", values, "flag", bool) is False
    assert optional_setting("s", values, "none", int) is None
    assert list_setting("s", {"l": [1, 2]}, "l", float) == (1.0, 2.0)
    with pytest.raises(ValueError, match="config key 's.flag' must be an integer, got False"):
        setting("s", values, "flag", int)  # a bool is no integer


def test_a_training_job_computes_with_its_rules_params_and_the_configs_instructions(tmp_path):
    resolved = config("quick", train={"restart": True, "runs_per_gpu": 3})
    params = {key: resolved["train"][key] for key in TRAIN_RULE_PARAMS} | {"max_epochs": 7,
                                                                          "momentum": 0.5}
    start = start_job(job(resolved, tmp_path, threads=2, **params), "train", job_train_settings)
    settings = start.settings
    assert isinstance(settings, TrainSettings)
    # The rule's params: what Snakemake reruns the job on is what it trains with.
    assert (settings.max_epochs, settings.momentum) == (7, 0.5)
    # Instructions from the config (they rerun nothing); threads are the job's.
    assert (settings.restart, settings.runs_per_gpu, settings.threads) == (True, 3, 2)
    # select_best's rule passes no params: the config's section.
    selecting = job_train_settings(job(resolved, tmp_path, threads=1))
    assert selecting.max_epochs == resolved["train"]["max_epochs"] == 3


def test_each_gan_job_computes_with_its_rules_gan_params(tmp_path):
    resolved = config("quick", gan={"restart": True})
    palette = {"train_subset": 2, "load_size": 286, "crop_size": 256, "palette_size": 5, "seed": 9}
    settings = start_job(job(resolved, tmp_path, threads=3, gan=palette), "gan_palette",
                         job_gan_settings).settings
    assert (settings.palette_size, settings.seed, settings.subset("train")) == (5, 9, 2)
    assert (settings.restart, settings.threads, settings.epochs) == (True, 3, 1)


def test_the_bundle_job_takes_its_networks_images_and_protocol_from_its_params(tmp_path):
    resolved = config("quick", bench={"bundle": True})
    networks = [["cifar10", "resnet20"], ["cifar10", "resnet20+int8"]]
    protocol = {"warmup": 12, "min_queries": 5, "min_duration_s": 0.5, "repeats": 2}
    snakemake = job(resolved, tmp_path, networks=networks, images={"cifar10": 20},
                    bench=protocol)
    settings = start_job(snakemake, "device_bundle", job_device_settings).settings
    assert settings.networks == (("cifar10", "resnet20"), ("cifar10", "resnet20+int8"))
    assert settings.images == (("cifar10", 20),)
    assert settings.protocol() == protocol and tuple(protocol) == PROTOCOL_KEYS


def attribute_reads(tree: ast.AST) -> set[str]:
    """``x.config`` / ``x.params`` style reads: the attribute names read anywhere in ``tree``."""
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def called_names(tree: ast.AST) -> set[str]:
    return {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))}


@pytest.mark.parametrize("stage", ["train", "gan", "device"])
def test_these_stages_jobs_read_their_settings_not_the_config(stage):
    """Every job function of the stage reads its settings object: no ``snakemake.config``
    or ``snakemake.params`` lookups by key beside it."""
    tree = ast.parse((REPO / "archopt" / stage / "jobs.py").read_text())
    jobs = [node for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_job")]
    assert jobs
    assert [job.name for job in jobs if attribute_reads(job) & {"config", "params"}] == []


def test_only_start_job_loads_plugins_and_opens_a_jobs_log():
    """Plugins load (and a job's log opens) in one place: archopt.workflow.start_job
    (archopt.config loads them while the workflow is parsed)."""
    allowed = {"load_configured_plugins": {"archopt/workflow.py", "archopt/config.py"},
               "open_job_log": {"archopt/workflow.py"},
               "FileHandler": {"archopt/workflow.py"}}
    found = {name: set() for name in allowed}
    for path in (REPO / "archopt").rglob("*.py"):
        calls = called_names(ast.parse(path.read_text()))
        for name in allowed:
            if name in calls:
                found[name].add(str(path.relative_to(REPO)))
    assert found == allowed
