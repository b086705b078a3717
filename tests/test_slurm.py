"""The quick DAG through the SLURM profile, against a real single-node slurmctld.

Needs the cluster of tests/slurm/setup_slurm.sh (CI starts it, see .ci/run). Without a
reachable cluster the test is skipped, unless ARCHOPT_REQUIRE_SLURM=1 (set by CI) turns
that into a failure so CI can never pass without having run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
import yaml
from conftest import snakemake_bin
from fake_data import make_cifar_archive

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return probe.returncode == 0 and any(s in probe.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module", autouse=True)
def require_cluster():
    if not cluster_is_up():
        message = "no SLURM cluster (run tests/slurm/setup_slurm.sh as root)"
        if os.environ.get("ARCHOPT_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_quick_dag_through_the_slurm_profile(workflow_copy, tmp_path):
    archive, md5 = make_cifar_archive(tmp_path / "mirror", "cifar10", n_train=300, n_test=40)
    configfile = tmp_path / "slurm.yaml"
    configfile.write_text(yaml.safe_dump({
        "preset": "quick",
        "studies": ["cifar10"],
        "networks": ["resnet20", "resnet20-shift"],
        "datasets": {"cifar10": {"url": archive.as_uri(), "md5": md5}},
        "train": {"train_subset": 200, "val_size": 100, "max_epochs": 1, "threads": 1},
        "gan": {"variants": []},
        "bench": {"images": 20, "devices": ["cpu"], "runtimes": ["eager", "onnxruntime"],
                  "min_queries": 0, "min_duration_s": 0},  # each image timed once
    }))
    start = time.monotonic()
    # SIGTERM does not stop Snakemake's SLURM executor: bound the run with SIGINT.
    result = subprocess.run(
        ["timeout", "-s", "INT", "-k", "30", "900", snakemake_bin(), "all",
         "--workflow-profile", "workflow/profiles/slurm",
         "--slurm-init-seconds-before-status-checks", "5",
         "--cores", "2",  # the CI node has 2 CPUs: a group job must fit on it
         "--configfile", str(configfile)],
        cwd=workflow_copy, capture_output=True, text=True,
    )
    elapsed = time.monotonic() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    print(f"SLURM quick DAG: {elapsed:.0f} s")

    # Jobs really went through sbatch; the training job asked SLURM for a GPU.
    assert "slurm_logs" in log or (workflow_copy / ".snakemake/slurm_logs").exists()
    metrics = json.loads(
        (workflow_copy / "results/train/cifar10/resnet20/lr~0.05/bs~128/seed~0/metrics.json").read_text()
    )
    assert metrics["placement"]["cuda_visible_devices"] == "0"  # the fake GRES GPU SLURM assigned
    assert metrics["placement"]["placement"] == "cpu"  # no real CUDA behind the fake GPU
    summary = json.loads((workflow_copy / "results/models/cifar10/resnet20-shift/summary.json").read_text())
    assert 0 <= summary["test_top1"] <= 100
    bench = json.loads((workflow_copy / "results/bench/cifar10/resnet20/cpu.json").read_text())
    assert bench["eager"]["n"] == 20 and bench["onnxruntime"]["n"] == 20
    assert (workflow_copy / "results/report/index.html").stat().st_size > 10_000


def test_a_job_no_node_can_start_stops_the_run_before_submitting(workflow_copy):
    # The CI node has 2 CPUs: with the profile's `cores: 4` a group job would sit in
    # PENDING (PartitionConfig) and Snakemake would wait for it forever.
    result = subprocess.run(
        ["timeout", "-s", "INT", "-k", "30", "300", snakemake_bin(), "all",
         "--workflow-profile", "workflow/profiles/slurm", "--cores", "4",
         "--config", "preset=quick"],
        cwd=workflow_copy, capture_output=True, text=True,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "a group job (e.g. `short`) would ask for 4 CPUs, but the largest node" in log
    assert "lower `cores` in workflow/profiles/slurm/config.yaml" in log
    assert not (workflow_copy / ".snakemake/slurm_logs").exists()  # nothing was submitted
