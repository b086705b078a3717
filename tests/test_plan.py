"""The study plan printed at the start of a run (archopt.plan), and its GPU column: the
GPU step times measured by benchmarks/gpu_acceptance.sh (archopt.models.costs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, replace

import pytest
from conftest import REPO, run_snakemake

from archopt.config import load_config
from archopt.models.costs import (
    GpuStep,
    GpuStepModel,
    fit_line,
    network_costs,
    read_gpu_steps,
    shipped_gpu_steps,
)
from archopt.plan import NOT_MEASURED, plan_table, study_plan

CONFIG, SCHEMA = REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml"
# Step times of a made-up GPU: test data, not a measurement of any real GPU.
STAMP = {"gpu": "Test GPU", "torch": "2.14.1", "measured": "2026-01-01"}
STEPS = (
    GpuStep(model="resnet20", dataset="cifar10", batch_size=128, precision="fp32",
            compile=False, ms_per_step=12.8, **STAMP),  # 0.1 ms per image
    GpuStep(model="resnet110", dataset="cifar10", batch_size=128, precision="fp32",
            compile=False, ms_per_step=51.2, **STAMP),  # 0.4 ms per image
    GpuStep(model="resnet20", dataset="cifar10", batch_size=128, precision="bf16",
            compile=True, ms_per_step=3.2, **STAMP),
    GpuStep(model="pix2pix", dataset="maps", batch_size=1, precision="fp32",
            compile=False, ms_per_step=50.0, **STAMP),
)


def planned_total(text: str) -> int:
    return int(re.search(r"^  total\s+(\d+)", text, re.M).group(1))


def test_the_paper_preset_on_a_cpu_warns_and_names_the_alternatives():
    stages = study_plan(load_config(CONFIG, SCHEMA), gpu_steps=())
    table = plan_table(stages, cuda=False)
    assert "WARNING: about" in table and "preset=quick" in table and "profiles/slurm" in table
    train = next(s for s in stages if s.name == "train classifiers")
    assert train.jobs == 516 and train.minutes > 30 * 24 * 60  # months, as the issue measured


def test_the_quick_preset_fits_in_a_day_and_does_not_warn():
    table = plan_table(study_plan(load_config(CONFIG, SCHEMA, {"preset": "quick"})), False)
    assert "WARNING" not in table


def test_the_plan_counts_the_jobs_snakemake_plans(workflow_copy):
    for args in ((), ("--config", "preset=quick")):
        result = run_snakemake(workflow_copy, "-n", "all", *args)
        assert result.returncode == 0, result.stderr[-2000:]
        snakemake_total = int(re.search(r"^total\s+(\d+)", result.stdout, re.M).group(1))
        # `all` itself is a job of Snakemake's, not a stage of the study.
        assert planned_total(result.stderr) == snakemake_total - 1


def small_study() -> dict:
    """One network, three grid points, the full training split; one Pix2Pix variant."""
    return load_config(CONFIG, SCHEMA, {
        "studies": ["cifar10"], "networks": ["resnet20"],
        "train": {"grid": {"lr": [0.1, 0.01, 0.001], "batch_size": [128]}, "max_epochs": 200},
        "gan": {"variants": ["pix2pix"], "epochs": 1, "epochs_decay": 1, "train_subset": 10},
        "posttrain": {"methods": []},
    })


def row(table: str, stage: str) -> str:
    return next(line for line in table.splitlines() if line.strip().startswith(stage))


def test_without_measured_step_times_the_gpu_column_says_so():
    stages = study_plan(load_config(CONFIG, SCHEMA), gpu_steps=())
    table = plan_table(stages, cuda=True)
    assert "not yet measured" in row(table, "train classifiers")
    assert "not yet measured" in row(table, "train generators")
    assert NOT_MEASURED in table and "WARNING" not in table  # this machine has a GPU
    # No GPU time invented: every duration in the table is the CPU column's.
    assert all(line.rstrip().endswith(("not yet measured", "-"))
               for line in table.splitlines()[2:11])


def test_the_gpu_column_is_the_measured_step_times_over_the_study():
    stages = {s.name: s for s in study_plan(small_study(), STEPS)}
    # 3 runs of 200 epochs of 45,000 training + 5,000 validation images, 0.1 ms each
    # (resnet20 at batch 128, measured): 50 minutes
    assert stages["train classifiers"].gpu_minutes["Test GPU"] == pytest.approx(
        3 * 200 * 50_000 * 0.1 / 60_000)
    # 10 pairs, 1 + 1 epochs, 50 ms each
    assert stages["train generators"].gpu_minutes["Test GPU"] == pytest.approx(1000 / 60_000)
    assert stages["download"].gpu_minutes is None  # not a training stage
    table = plan_table(list(stages.values()), cuda=True)
    assert row(table, "train classifiers").endswith("50m00s")
    assert "GPU 1: Test GPU; the paper's fp32" in table and NOT_MEASURED not in table


def test_the_fastest_settings_are_estimated_from_their_own_step_times():
    stages = {s.name: s for s in study_plan(small_study(), STEPS, ("bf16", True))}
    assert stages["train classifiers"].gpu_minutes["Test GPU"] == pytest.approx(
        3 * 200 * 50_000 * 0.025 / 60_000)
    # Pix2Pix was timed in fp32 only: its stage, and so the total, are not measured.
    assert stages["train generators"].gpu_minutes == {}
    table = plan_table(list(stages.values()), cuda=True)
    assert row(table, "train generators").endswith("not measured")
    assert row(table, "total").endswith("not measured")


def test_unmeasured_networks_are_scaled_by_their_activation_size():
    gpu = GpuStepModel.of(STEPS, "Test GPU")
    assert gpu.ms_per_image("ResNet20", "cifar10", 128) == pytest.approx(0.1)  # measured
    floats = {m: network_costs(m, "cifar10").activation_floats
              for m in ("resnet20", "resnet56", "resnet110")}
    slope = (0.4 - 0.1) / (floats["resnet110"] - floats["resnet20"])
    expected = 0.1 + slope * (floats["resnet56"] - floats["resnet20"])
    assert gpu.ms_per_image("resnet56", "cifar10", 128) == pytest.approx(expected)
    # Batch 256 was not measured: the nearest measured batch size stands for it.
    assert gpu.ms_per_image("resnet56", "cifar10", 256) == pytest.approx(expected)
    with pytest.raises(LookupError, match="Other GPU"):
        GpuStepModel.of(STEPS, "Other GPU")


def test_a_line_that_would_give_a_negative_cost_goes_through_the_origin():
    assert fit_line([(1.0, 2.0), (3.0, 4.0)]) == pytest.approx((1.0, 1.0))
    # The free line through these would cross zero at x > 0 (negative intercept).
    assert fit_line([(1.0, 1.0), (2.0, 3.0)]) == pytest.approx((0.0, 4.0 / 3.0))
    assert fit_line([(2.0, 1.0)]) == pytest.approx((0.0, 0.5))  # one network measured


def run_costs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archopt.models.costs", *args],
                          capture_output=True, text=True, cwd=REPO)


def test_an_acceptance_runs_step_times_join_the_table(tmp_path):
    table, result = tmp_path / "gpu_steps.csv", tmp_path / "gpu_acceptance.json"
    result.write_text(json.dumps({"dry": False, "gpu_steps": [asdict(s) for s in STEPS]}))
    done = run_costs(str(table), "--gpu-steps", str(result))
    assert done.returncode == 0, done.stderr
    assert read_gpu_steps(table.read_text()) == sorted(
        STEPS, key=lambda s: (s.gpu, s.settings, s.model, s.batch_size))
    # A later run of the same GPU replaces its rows for the same measurement.
    newer = [replace(STEPS[0], ms_per_step=10.0, measured="2026-02-01")]
    result.write_text(json.dumps({"gpu_steps": [asdict(s) for s in newer]}))
    assert run_costs(str(table), "--gpu-steps", str(result)).returncode == 0
    rows = read_gpu_steps(table.read_text())
    assert len(rows) == len(STEPS) and newer[0] in rows and STEPS[0] not in rows


def test_a_dry_runs_json_or_another_file_adds_nothing(tmp_path):
    table, result = tmp_path / "gpu_steps.csv", tmp_path / "gpu_acceptance.json"
    result.write_text(json.dumps({"dry": True, "gpu_steps": []}))
    done = run_costs(str(table), "--gpu-steps", str(result))
    assert done.returncode == 2 and "holds no GPU step times" in done.stderr
    result.write_text(json.dumps({"gpu_steps": [{"gpu": "Test GPU"}]}))
    done = run_costs(str(table), "--gpu-steps", str(result))
    assert done.returncode == 2 and f"{result} is not a gpu_acceptance.json" in done.stderr
    assert not table.exists()


def test_the_shipped_gpu_table_is_readable():
    for step in shipped_gpu_steps():
        assert step.ms_per_step > 0 and step.batch_size >= 1 and step.gpu
