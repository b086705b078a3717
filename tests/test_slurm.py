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


@pytest.fixture
def configfile(tmp_path):
    archive, md5 = make_cifar_archive(tmp_path / "mirror", "cifar10", n_train=300, n_test=40)
    path = tmp_path / "slurm.yaml"
    path.write_text(yaml.safe_dump({
        "preset": "quick",
        "studies": ["cifar10"],
        "networks": ["resnet20", "resnet20-shift"],
        "datasets": {"cifar10": {"url": archive.as_uri(), "md5": md5}},
        "train": {"train_subset": 200, "val_size": 100, "max_epochs": 1, "threads": 1},
        "gan": {"variants": []},
        "bench": {"images": 20, "devices": ["cpu"], "runtimes": ["eager", "onnxruntime"],
                  "min_queries": 0, "min_duration_s": 0},  # each image timed once
    }))
    return path


def through_slurm(workflow_copy, limit_s: int, *args: str, profile: str = "workflow/profiles/slurm"
                  ) -> subprocess.CompletedProcess:
    """Snakemake with the SLURM profile, bounded with SIGINT (SIGTERM does not stop it)."""
    return subprocess.run(
        ["timeout", "-s", "INT", "-k", "30", str(limit_s), snakemake_bin(),
         "--workflow-profile", profile,
         "--slurm-init-seconds-before-status-checks", "5",
         "--cores", "2",  # the CI node has 2 CPUs: a group job must fit on it
         *args],
        cwd=workflow_copy, capture_output=True, text=True,
    )


def profile_with(workflow_copy, rule: str, **resources) -> str:
    """The shipped SLURM profile with ``resources`` of ``rule`` changed (on the command
    line, --set-resources would replace all of the profile's set-resources)."""
    profile = yaml.safe_load((workflow_copy / "workflow/profiles/slurm/config.yaml").read_text())
    profile["set-resources"].setdefault(rule, {}).update(resources)
    folder = workflow_copy / "ci-profile"
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return str(folder)


def node_memory_mb() -> int:
    return int(subprocess.run(["sinfo", "-h", "-N", "-o", "%m"], capture_output=True,
                              text=True, check=True).stdout.split()[0].rstrip("+"))


def test_quick_dag_through_the_slurm_profile(workflow_copy, configfile):
    start = time.monotonic()
    # The CI node's GPU is a fake GRES that torch cannot use: training asks for none here
    # (a GPU job there stops by name, test below).
    result = through_slurm(workflow_copy, 900, "all", "--configfile", str(configfile),
                           profile=profile_with(workflow_copy, "train", gpu=0))
    elapsed = time.monotonic() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    print(f"SLURM quick DAG: {elapsed:.0f} s")

    # Jobs really went through sbatch; the training job asked SLURM for a GPU.
    assert "slurm_logs" in log or (workflow_copy / ".snakemake/slurm_logs").exists()
    metrics = json.loads(
        (workflow_copy / "results/train/cifar10/resnet20/lr~0.05/bs~128/seed~0/metrics.json").read_text()
    )
    assert metrics["placement"]["device"] == "cpu"  # it asked for no GPU
    assert metrics["placement"]["placement"] == "cpu"
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


def test_a_training_job_on_a_gpu_torch_cannot_use_stops_naming_it(workflow_copy, configfile):
    # The profile gives training a GPU; SLURM assigns the fake one (CUDA_VISIBLE_DEVICES=0)
    # and torch sees no CUDA: the job must stop, not train on the CPU inside the allocation.
    target = "results/train/cifar10/resnet20/lr~0.05/bs~128/seed~0/metrics.json"
    result = through_slurm(workflow_copy, 600, target, "--configfile", str(configfile),
                           "--retries", "0")
    assert result.returncode != 0
    assert not (workflow_copy / target).exists()
    logs = "".join(p.read_text() for p in (workflow_copy / ".snakemake/slurm_logs").rglob("*.log"))
    assert "this job asked for 1 GPU(s) (its `gpu` resource) but torch sees no usable CUDA" in logs
    assert "CUDA_VISIBLE_DEVICES=0" in logs and "is built for CUDA" in logs


def test_a_group_job_no_node_can_start_stops_the_run_before_submitting(workflow_copy, configfile):
    # Each select_best alone fits the node; the `short` group runs the two networks' side
    # by side (Snakemake's layering: --cores 2, 1 thread each), which no node can hold.
    each = node_memory_mb() * 6 // 10
    result = through_slurm(workflow_copy, 300, "all", "--configfile", str(configfile),
                           profile=profile_with(workflow_copy, "select_best", mem_mb=each))
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"group job `short` (6 jobs of catalog, onnx_export, search, select_best) would ask " \
           f"for {2 * each} MB of memory, but the largest node" in log
    assert "lower `group-components: short` or `cores`" in log
    assert not (workflow_copy / ".snakemake/slurm_logs").exists()  # nothing was submitted
