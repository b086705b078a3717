"""Real snakemake runs of `train` + `select_best` on a tiny generated CIFAR-10 archive,
including a SIGKILL of the whole process group mid-training and a resumed rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import copy_workflow, run_snakemake, snakemake_bin
from fake_data import make_cifar_archive

from archopt.paths import grid_run_files
from archopt.train import load_weights
from archopt.train.jobs import resume_state_path

pytestmark = pytest.mark.slow

TARGET = "results/models/cifar10/resnet20/summary.json"
N_TRAIN, N_TEST, VAL_SIZE = 320, 100, 64  # 256 training images
# lr 0.01 for 6 epochs. Measured over seeds 0-2 with the AVX-512 and the AVX2 kernels
# (the floating-point path changes the trajectory as much as the seed does): best val
# top-1 34-92%, last epoch's train loss 0.19-0.39x the first's. 3 epochs at lr 0.05 gave
# 25-36%, too close to any threshold. The assertions below keep wide margins.
TRAIN = {
    "grid": {"lr": [0.01], "batch_size": [32]},
    "max_epochs": 6,
    "train_subset": None,
    "val_size": VAL_SIZE,
    "threads": 1,  # on a busy 2-core box, 2 threads per job run ~5x slower than 1
}
RUN_DIR = Path(
    grid_run_files("cifar10", "resnet20", {**TRAIN, "seeds": [0]}, "metrics.json")[0]
).parent
TRAIN_LOG = "logs/train/cifar10/resnet20/lr~0.01/bs~32/seed~0.log"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> dict:
    archive, md5 = make_cifar_archive(tmp_path_factory.mktemp("mirror"), "cifar10", N_TRAIN, N_TEST)
    return {"cifar10": {"url": archive.as_uri(), "md5": md5}}


def new_workflow(root: Path, mirror: dict, downloaded_in: Path | None = None) -> Path:
    """A workflow copy configured for the mirror; ``downloaded_in`` lends its extracted
    data so the copy skips the download job."""
    workdir = copy_workflow(root)
    config = {"studies": ["cifar10"], "networks": ["resnet20"], "datasets": mirror, "train": TRAIN}
    (workdir / "test.yaml").write_text(yaml.safe_dump(config))
    if downloaded_in is not None:
        shutil.copytree(downloaded_in / "resources/cifar10", workdir / "resources/cifar10")
    return workdir


def run(workdir: Path, *args: str, configfiles: tuple[str, ...] = ("test.yaml",)) -> None:
    # --configfile takes several values: it goes after the targets.
    result = run_snakemake(workdir, *args, "--configfile", *configfiles)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def without_timings(metrics: dict) -> dict:
    history = [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in metrics["history"]]
    return {**{k: v for k, v in metrics.items() if k != "train_seconds"}, "history": history}


# On CUDA a resumed run is not bit-identical to an uninterrupted one: cuDNN picks its
# convolution kernels by timing them (cudnn.benchmark) and some sum in a varying order.
# There it must follow the same trajectory within these tolerances; the CPU is exact.
CUDA_LOSS_RTOL = 0.02
CUDA_ACCURACY_POINTS = 5.0


def assert_same_run(resumed: dict, whole: dict) -> None:
    if whole["device"] == "cpu":
        assert without_timings(resumed) == without_timings(whole)
        return
    assert [h["epoch"] for h in resumed["history"]] == [h["epoch"] for h in whole["history"]]
    for got, want in zip(resumed["history"], whole["history"]):
        assert got["lr"] == want["lr"]
        for key in ("train_loss", "val_loss"):
            assert got[key] == pytest.approx(want[key], rel=CUDA_LOSS_RTOL), key
        for key in ("train_top1", "val_top1", "val_top5"):
            assert abs(got[key] - want[key]) <= CUDA_ACCURACY_POINTS, key


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mirror) -> Path:
    """One uninterrupted run of the grid job and select_best."""
    workdir = new_workflow(tmp_path_factory.mktemp("whole") / "wf", mirror)
    run(workdir, TARGET)
    return workdir


def test_grid_job_and_select_best_write_checkpoint_metrics_and_summary(trained):
    summary = json.loads((trained / TARGET).read_text())
    metrics = json.loads((trained / RUN_DIR / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4, 5, 6]
    assert metrics["train_images"] == N_TRAIN - VAL_SIZE and metrics["val_images"] == VAL_SIZE
    assert metrics["threads"] == 1 and metrics["device"] in ("cpu", "cuda:0")
    assert (summary["lr"], summary["batch_size"], summary["seed"]) == (0.01, 32, 0)
    assert summary["val_top1"] == metrics["val_top1"] and len(summary["grid"]) == 1
    assert summary["test_images"] == N_TEST and summary["params"] == 272762
    assert summary["test_top1_ci95"][0] <= summary["test_top1"] <= summary["test_top1_ci95"][1]
    selected = trained / "results/models/cifar10/resnet20/best.pt"
    assert summary["storage_bytes"] == selected.stat().st_size
    assert load_weights(selected, "resnet20", "cifar10")(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    # Class-coloured images: six epochs on 256 of them learn far above 10% chance.
    assert summary["val_top1"] >= 25
    assert metrics["history"][-1]["train_loss"] < 0.5 * metrics["history"][0]["train_loss"]
    log = (trained / TRAIN_LOG).read_text()
    assert "epoch 6/6: train loss" in log and "ETA" in log and "batch/s" in log
    # What a bug report about a native crash needs is in the log before any kernel runs.
    capability = torch.backends.cpu.get_cpu_capability()
    assert f"network resnet20, device cpu, memory format channels_last, CPU capability " \
        f"{capability}" in log or "device cuda" in log
    assert not resume_state_path(trained / RUN_DIR).exists()  # cleaned up once finished


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "snakemake ended before the first epoch was saved"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_sigkill_then_rerun_incomplete_resumes_to_identical_metrics(trained, mirror, tmp_path):
    workdir = new_workflow(tmp_path / "wf", mirror, downloaded_in=trained)
    state = resume_state_path(workdir / RUN_DIR)
    metrics = str(RUN_DIR / "metrics.json")
    process = subprocess.Popen(
        [snakemake_bin(), "--cores", "2", metrics, "--configfile", "test.yaml"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the job with it
    )
    try:
        wait_for(state, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (workdir / metrics).exists()
    saved_epochs = len(torch.load(state, weights_only=True)["history"])
    assert 1 <= saved_epochs < TRAIN["max_epochs"]

    # A SIGKILLed snakemake leaves its lock; a user runs `snakemake --unlock` first.
    run(workdir, "--rerun-incomplete", "--nolock", metrics)

    log = (workdir / TRAIN_LOG).read_text()
    assert f"resuming from {RUN_DIR / 'resume/state.pt'} after epoch {saved_epochs}" in log
    # The killed attempt's epoch lines stay in the log, above the resumed attempt's.
    first, resumed_part = log.split("=== attempt 2 (resumed)")
    assert "=== attempt 1" in first and f"epoch {saved_epochs}/{TRAIN['max_epochs']}:" in first
    assert f"epoch {TRAIN['max_epochs']}/{TRAIN['max_epochs']}:" in resumed_part
    resumed = json.loads((workdir / metrics).read_text())
    whole = json.loads((trained / metrics).read_text())
    assert_same_run(resumed, whole)
    if whole["device"] != "cpu":
        return  # the weights differ in rounding on CUDA (above)
    resumed_best = torch.load(workdir / RUN_DIR / "best.pt", weights_only=True)
    whole_best = torch.load(trained / RUN_DIR / "best.pt", weights_only=True)
    assert resumed_best["epoch"] == whole_best["epoch"]
    for key, value in whole_best["state_dict"].items():
        assert torch.equal(resumed_best["state_dict"][key], value), key


def test_corrupt_resume_state_fails_naming_it_until_restart_is_asked(trained, mirror, tmp_path):
    workdir = new_workflow(tmp_path / "wf", mirror, downloaded_in=trained)
    state = resume_state_path(workdir / RUN_DIR)
    state.parent.mkdir(parents=True)
    state.write_bytes(b"garbage")
    metrics = str(RUN_DIR / "metrics.json")
    result = run_snakemake(workdir, metrics, "--configfile", "test.yaml")
    message = f"resume state {RUN_DIR / 'resume/state.pt'} is corrupt"
    assert result.returncode != 0 and message in result.stderr
    assert message in (workdir / TRAIN_LOG).read_text()

    (workdir / "restart.yaml").write_text(
        yaml.safe_dump({"train": {"restart": True, "max_epochs": 1}})
    )
    run(workdir, metrics, configfiles=("test.yaml", "restart.yaml"))
    assert json.loads((workdir / metrics).read_text())["epochs"] == 1
    assert not state.exists()


def test_a_broken_grid_checkpoint_is_named_with_the_command_that_retrains_it(
    trained, mirror, tmp_path
):
    workdir = new_workflow(tmp_path / "wf", mirror, downloaded_in=trained)
    shutil.copytree(trained / "results/train", workdir / "results/train")
    grid_checkpoint = RUN_DIR / "best.pt"
    (workdir / grid_checkpoint).write_bytes(b"")  # e.g. a full disk when it was copied here
    result = run_snakemake(workdir, TARGET, "--configfile", "test.yaml")
    assert result.returncode != 0
    assert f"checkpoint {grid_checkpoint} is corrupt" in result.stderr
    assert f"--forcerun train {RUN_DIR / 'metrics.json'}" in result.stderr
