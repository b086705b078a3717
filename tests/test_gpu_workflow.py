"""A training job that asked for a GPU torch cannot use stops by name (real Snakemake run
on a CPU machine: the job is given a GPU through --set-resources, torch sees none)."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import run_snakemake
from fake_data import make_cifar_archive

TARGET = "results/train/cifar10/resnet20/lr~0.05/bs~128/seed~0/metrics.json"


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a GPU torch cannot use")
def test_a_job_given_a_gpu_torch_cannot_use_does_not_train_on_the_cpu(workflow_copy, tmp_path):
    archive, md5 = make_cifar_archive(tmp_path / "mirror", "cifar10", n_train=300, n_test=40)
    configfile = tmp_path / "gpu.yaml"
    configfile.write_text(yaml.safe_dump({
        "preset": "quick", "studies": ["cifar10"], "networks": ["resnet20"],
        "datasets": {"cifar10": {"url": archive.as_uri(), "md5": md5}},
        "train": {"train_subset": 200, "val_size": 100, "max_epochs": 1, "threads": 1},
        "gan": {"variants": []},
    }))
    result = run_snakemake(workflow_copy, TARGET, "--configfile", str(configfile),
                           "--set-resources", "train:gpu=1", "--resources", "gpu=1")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "GpuUnavailableError" in log
    assert "this job asked for 1 GPU(s) (its `gpu` resource) but torch sees no usable CUDA" in log
    assert f"torch {torch.__version__} is built for CUDA" in log
    assert not (workflow_copy / TARGET).exists()
    assert not (workflow_copy / TARGET).parent.joinpath("resume/state.pt").exists()  # no epoch ran
