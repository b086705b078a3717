"""Post-training through the real snakemake CLI: a tiny study on fake real-format data with
``posttrain.methods: [int8, prune]`` produces summaries, deployable files and bench JSONs
under results/posttrain/, and the report shows them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, run_snakemake
from fake_data import write_cifar_tree

pytestmark = pytest.mark.slow

N_TRAIN, N_TEST, VAL = 96, 16, 32
TINY = {
    "studies": ["cifar10"],
    "networks": ["resnet20", "resnet20-shift"],
    "train": {"grid": {"lr": [0.05], "batch_size": [32]}, "max_epochs": 1, "train_subset": 64,
              "val_size": VAL, "threads": 1},
    "gan": {"variants": []},
    "bench": {"devices": ["cpu"], "images": 8, "runtimes": ["eager", "onnxruntime"],
              "min_queries": 12, "min_duration_s": 0},  # 8 images cycled to 12 queries
    "posttrain": {"methods": ["int8", "prune"], "calibration_images": 16, "finetune_epochs": 1,
                  "finetune_batch_size": 32},
}
INT8 = ("resnet20+int8", "resnet20-shift+int8")
PRUNED = ("resnet20+prune-dsc", "resnet20+prune-shift", "resnet20+prune-shuffle")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("posttrain") / "wf")
    write_cifar_tree(workdir / "resources", "cifar10", n_train=N_TRAIN, n_test=N_TEST)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = run_snakemake(workdir, "all", "--configfile", "tiny.yaml", timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


def folder(study: Path, name: str) -> Path:
    return study / "results/posttrain/cifar10" / name


@pytest.mark.parametrize("name", INT8 + PRUNED)
def test_every_result_has_summary_deployable_file_and_bench_json(study, name):
    summary = json.loads((folder(study, name) / "summary.json").read_text())
    bench = json.loads((folder(study, name) / "cpu.json").read_text())
    deployable = folder(study, name) / "model.onnx"
    assert summary["model"] == name and summary["test_images"] == 8
    assert summary["storage_bytes"] == deployable.stat().st_size == bench["storage"]["onnx_bytes"]
    low, high = summary["test_top1_ci95"]
    assert low <= summary["test_top1"] <= high
    assert bench["onnxruntime"]["n"] == 12 and "env" in bench


@pytest.mark.parametrize("name", INT8)
def test_int8_accuracy_is_the_one_of_its_own_saved_logits(study, name):
    artifacts = folder(study, name) / "artifacts"
    summary = json.loads((folder(study, name) / "summary.json").read_text())
    bench = json.loads((folder(study, name) / "cpu.json").read_text())
    logits = np.load(artifacts / "logits" / "onnxruntime.npy")
    labels = np.load(artifacts / "labels.npy")
    top1 = 100.0 * float((logits.argmax(axis=1) == labels).mean())
    assert summary["test_top1"] == pytest.approx(top1) == pytest.approx(bench["onnxruntime"]["top1"])
    entry = bench["onnxruntime"]
    assert set(entry["recipes"]) == {"qdq_s8s8", "qdq_u8s8_rr", "qop_u8s8_rr"}
    assert entry["recipe"] == summary["recipe"] and "skipped" in bench["eager"]
    chosen = (artifacts / f"{entry['recipe']}.onnx").read_bytes()
    assert chosen == (folder(study, name) / "model.onnx").read_bytes()


def test_calibration_reads_training_images_only(study):
    indices = np.load(folder(study, "resnet20+int8") / "artifacts/calibration_indices.npy")
    # the training part of the split: the first N_TRAIN - VAL official training images
    assert len(indices) == 16 and indices.max() < N_TRAIN - VAL and len(set(indices)) == 16


@pytest.mark.parametrize("name", PRUNED)
def test_pruned_networks_meet_their_budget_and_are_benchmarked_in_every_runtime(study, name):
    summary = json.loads((folder(study, name) / "summary.json").read_text())
    bench = json.loads((folder(study, name) / "cpu.json").read_text())
    assert abs(summary["pruning"]["rel_gap"]) <= 0.02
    assert summary["params"] < summary["pruning"]["base_params"]
    assert {"eager", "onnxruntime"} <= set(bench) and bench["eager"]["n"] == 12
    assert summary["finetune"]["epochs"] == 1
    assert not (folder(study, name) / "resume").exists()  # finished: nothing to resume


@pytest.mark.parametrize("name", INT8 + PRUNED)
def test_compressed_networks_are_timed_with_the_fp32_networks_protocol(study, name):
    base = name.split("+")[0]
    fp32 = json.loads((study / f"results/bench/cifar10/{base}/cpu.json").read_text())
    bench = json.loads((folder(study, name) / "cpu.json").read_text())
    protocol = ("warmup", "min_queries", "min_duration_s", "repeats")
    expected = {key: fp32["onnxruntime"][key] for key in protocol}
    assert expected == {"warmup": 10, "min_queries": 12, "min_duration_s": 0, "repeats": 1}
    assert {key: bench["onnxruntime"][key] for key in protocol} == expected


def test_the_report_shows_the_posttrain_rows_and_finding_6(study):
    html = (study / "results/report/index.html").read_text()
    assert "Post-training" in html and "architecture vs post-training" in html
    for name in INT8 + PRUNED:
        assert name in html
    results = pd.read_csv(study / "results/report/results.csv")
    assert set(INT8 + PRUNED) <= set(results["model"])
    findings = pd.read_csv(study / "results/report/findings.csv")
    assert (findings["finding"] == 6).any()
