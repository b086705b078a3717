"""Post-training methods with real components: the registry, int8 recipe choice and
calibration data, and structured pruning to a parameter budget."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from fake_data import write_cifar_tree

from archopt.config import load_config
from archopt.data import load_cifar, normalize
from archopt.data.manifest import marker_path
from archopt.export import onnx_bytes
from archopt.models import count_params, get_model
from archopt.posttrain import (
    PostTrainMethod,
    _unregister_posttrain_method,
    check_posttrain_methods,
    list_posttrain_methods,
    parse_posttrain_name,
    register_posttrain_method,
)
from archopt.posttrain.int8.quantize import calibration_images, choose_recipe
from archopt.posttrain.jobs import PostTrainJob
from archopt.posttrain.prune.pruning import load_pruned, prune_to_params, save_pruned
from archopt.posttrain.settings import PostTrainSettings
from archopt.runtimes.onnxruntime import ort_run, ort_session


def test_the_registry_imports_no_torch_and_ships_int8_and_prune():
    code = "import sys, archopt.posttrain as p; print(p.list_posttrain_methods(), 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True)
    assert result.stdout.split() == ["['int8',", "'prune']", "False"], result.stderr


def test_a_taken_name_is_refused_naming_both_classes():
    class Again(PostTrainMethod):
        name, label = "int8", "again"

    with pytest.raises(ValueError, match=r"'int8' is already registered by archopt.posttrain.int8.Int8"
                       r".*Again cannot register it again"):
        register_posttrain_method(Again)


def test_a_plugin_method_registers_and_unknown_names_are_refused():
    @register_posttrain_method
    class Noop(PostTrainMethod):
        name, label = "noop", "no-op"

    try:
        assert "noop" in list_posttrain_methods()
        check_posttrain_methods(["int8", "noop"])
    finally:
        _unregister_posttrain_method("noop")
    with pytest.raises(ValueError, match="unknown post-training method .noop.; registered post-training methods: int8, prune"):
        check_posttrain_methods(["noop"])


def test_names_split_into_model_method_and_argument():
    name = parse_posttrain_name("resnet56+prune-shift")
    assert (name.model, name.method, name.arg, str(name)) == (
        "resnet56", "prune", "shift", "resnet56+prune-shift")
    assert parse_posttrain_name("resnet20-shift+int8").arg is None


def test_a_recipe_whose_drop_exceeds_the_threshold_is_not_chosen():
    results = {"fast_but_wrong": {"top1": 80.0, "median_ms": 0.5},
               "slow_and_right": {"top1": 89.5, "median_ms": 1.5},
               "right": {"top1": 89.2, "median_ms": 1.0},
               "broken": {"error": "NotImplemented: QLinearConv"}}
    assert choose_recipe(results, fp32_top1=90.0, max_drop=1.0) == ("right", True)
    # none within tolerance: the most accurate is deployed, and marked as such
    assert choose_recipe(results, fp32_top1=95.0, max_drop=1.0) == ("slow_and_right", False)


def shipped_settings(**overrides: dict) -> PostTrainSettings:
    """The settings of config.yaml with ``overrides`` (section -> keys), as a job gets them."""
    config = load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml",
                         overrides)
    return PostTrainSettings.from_config(config, threads=1)


def fake_job(tmp_path: Path, **settings) -> PostTrainJob:
    write_cifar_tree(tmp_path / "resources", "cifar10", n_train=60, n_test=20, seed=3)
    files = {key: tmp_path / key for key in ("summary", "deployable", "bench", "artifacts")}
    return PostTrainJob(
        dataset="cifar10", name=parse_posttrain_name("resnet20+int8"),
        checkpoint=tmp_path / "best.pt", base_summary=tmp_path / "summary.json",
        fp32_onnx=tmp_path / "model.onnx",
        data_marker=marker_path(tmp_path / "resources/cifar10"), **files,
        settings=shipped_settings(posttrain={"calibration_images": 12, **settings},
                                  train={"val_size": 20, "train_subset": None}),
        logger=logging.getLogger("test"))


def test_calibration_never_reads_validation_or_test_images(tmp_path):
    job = fake_job(tmp_path)
    indices, images = calibration_images(job)
    data = load_cifar("cifar10", root=tmp_path / "resources")
    assert len(indices) == 12 and len(set(indices)) == 12 and indices.max() < 60 - 20
    expected = normalize(data.train.images[torch.from_numpy(indices)], "cifar10").numpy()
    np.testing.assert_array_equal(images, expected)
    test_images = normalize(data.test.images, "cifar10").numpy()
    held_out = np.concatenate([test_images, normalize(data.train.images[40:], "cifar10").numpy()])
    assert not any((held_out == image).all(axis=(1, 2, 3)).any() for image in images)


@pytest.mark.parametrize("technique", ["dsc", "shift", "shuffle"])
def test_a_pruned_resnet20_meets_its_budget_and_exports(technique, tmp_path):
    torch.manual_seed(0)
    base = get_model("resnet20", "cifar10").eval()
    budget = count_params(get_model(f"resnet20-{technique}", "cifar10"))
    pruned = prune_to_params(base, budget, "magnitude").eval()
    assert abs(count_params(pruned) - budget) <= 0.02 * budget
    images = torch.randn(3, 3, 32, 32)
    assert pruned(images).shape == (3, 10)
    save_pruned(tmp_path / "model.pt", parse_posttrain_name(f"resnet20+prune-{technique}"),
                "cifar10", pruned)
    rebuilt = load_pruned(tmp_path / "model.pt")
    assert count_params(rebuilt) == count_params(pruned)
    with torch.inference_mode():
        expected = rebuilt(images[:1]).numpy()
    session = ort_session(onnx_bytes(rebuilt, images[:1]))
    np.testing.assert_allclose(ort_run(session, images[:1].numpy()), expected, atol=1e-4)
