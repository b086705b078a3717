"""benchmarks/gpu_acceptance.sh, the GPU acceptance run: its --dry mode end to end on the
CPU (every phase in its own process, the real training loop, resume, benchmark and a
small study through Snakemake), and how it judges a benchmark's result."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from archopt.models.costs import read_gpu_steps
from archopt.plan import plan_table, study_plan

SCRIPT = REPO / "benchmarks" / "gpu_acceptance.sh"
PHASES = ("setup", "env", "steps", "steps-fast", "concurrency", "resume", "bench", "study",
          "estimate")


def acceptance_module():
    """benchmarks/gpu_acceptance.py, a script rather than a package module."""
    if "gpu_acceptance" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "gpu_acceptance", REPO / "benchmarks" / "gpu_acceptance.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_acceptance"] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return sys.modules["gpu_acceptance"]


@pytest.mark.slow
def test_the_dry_run_checks_what_a_cpu_can_and_says_what_it_skips(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    done = subprocess.run(
        ["bash", str(SCRIPT), str(out), "--dry", "--work", str(work)],
        capture_output=True, text=True, timeout=1200,
        env=dict(os.environ, PYTHON=sys.executable),
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    report = json.loads((out / "gpu_acceptance.json").read_text())
    assert report["dry"] and report["counts"]["FAIL"] == 0
    checks = {(c["phase"], c["check"]): c for c in report["checks"]}
    assert {phase for phase, _ in checks} == set(PHASES)
    # One printed line per check, also kept in the transcript.
    transcript = (out / "gpu_acceptance.txt").read_text()
    for check in report["checks"]:
        assert f"{check['status']}  {check['phase']}/{check['check']}: " in transcript
    # What needs CUDA is skipped with the reason; the rest really ran on the CPU.
    assert checks[("steps-fast", "fastest")]["status"] == "SKIP"
    assert "need CUDA" in checks[("steps-fast", "fastest")]["detail"]
    assert checks[("concurrency", "mps")]["status"] == "SKIP"
    assert checks[("resume", "kill-resume")]["status"] == "PASS"
    assert "identical" in checks[("resume", "kill-resume")]["detail"]
    assert "2 GPUs" in checks[("resume", "gpu-count")]["detail"]
    assert checks[("bench", "resnet20 eager")]["status"] == "PASS"
    assert checks[("study", "report")]["status"] == "PASS"
    assert checks[("study", "pix2pix")]["status"] == "SKIP"
    assert checks[("study", "train resnet20")]["detail"].startswith("trained on cpu (None)")
    steps = report["phases"]["steps"]["steps"]
    assert steps and all(s["ms_per_step"] > 0 and s["peak_rss_mb"] > 0 for s in steps)
    assert checks[("estimate", "gpu-hours")]["status"] == "PASS"
    # A CPU's step times never become a GPU's rows of the study plan's table.
    assert report["gpu_steps"] == []


def judge(tmp_path: Path, result: dict, device: str = "cuda:0") -> dict[str, str]:
    """The status the acceptance run gives each runtime of a bench JSON."""
    module = acceptance_module()
    tmp_path.mkdir(exist_ok=True)
    record = module.Recorder(tmp_path / "bench.json", "bench")
    ctx = module.Context(module.GPU, False, tmp_path, record, end=0.0)
    module.check_runtimes(ctx, "net", result, device, atol=1e-3)
    return {c["check"].split()[-1]: c["status"] for c in record.checks}


def timed(diff: float = 1e-5, **extra) -> dict:
    return {"median_ms": 1.0, "max_abs_diff": diff, **extra}


def test_a_failed_runtime_or_an_unexplained_skip_fails(tmp_path):
    result = {
        "eager": timed(),
        "onnxruntime": {"skipped": "onnxruntime 1.30.0 has no CUDAExecutionProvider: pip ..."},
        "openvino": {"failed": "crashed (SIGSEGV) while: compiling qdq_s8s8.onnx"},
        "inductor": {"skipped": "no reason this machine explains"},
        "env": {"cuda_device": "NVIDIA H100"},
    }
    assert judge(tmp_path, result) == {
        "eager": "PASS", "onnxruntime": "SKIP", "openvino": "FAIL", "inductor": "FAIL"}


def test_onnx_runtime_timed_on_the_cpu_under_a_gpus_name_fails(tmp_path):
    result = {"onnxruntime": timed(provider="CPUExecutionProvider"),
              "eager": timed(diff=3e-3)}  # TF32 rounding of a trained network
    assert judge(tmp_path, result) == {"onnxruntime": "FAIL", "eager": "FAIL"}
    good = {"onnxruntime": timed(provider="CUDAExecutionProvider")}
    assert judge(tmp_path / "2", good) == {"onnxruntime": "PASS"}


def test_the_trained_like_network_has_a_trained_networks_logits():
    module = acceptance_module()
    images, _ = module.bench_images(8)
    model, largest = module.trained_like("resnet20", images)
    assert module.LOGIT_RANGE[0] <= largest <= module.LOGIT_RANGE[1]
    assert not model.training


def test_the_budgets_keep_the_gpu_run_under_ten_minutes():
    module = acceptance_module()
    assert set(module.PHASES) == set(PHASES) - {"setup"} == set(module.PHASE_FUNCTIONS)
    assert sum(module.PHASES.values()) + 60 < 600  # the setup's pip install: ~30 s


def test_a_gpu_runs_step_times_reach_the_study_plan(tmp_path):
    """The real run's estimate phase and JSON, from phase results a GPU would write
    (made up here), then `python -m archopt.models.costs --gpu-steps` and the plan."""
    module = acceptance_module()
    work, phases = tmp_path / "work", tmp_path / "work" / "phases"
    phases.mkdir(parents=True)

    def phase_file(name: str, data: dict) -> None:
        (phases / f"{name}.json").write_text(json.dumps({"checks": [], "data": data}))

    def timing(model: str, batch: int, ms: float, fast: bool = False) -> dict:
        return {"model": model, "batch_size": batch, "ms_per_step": ms,
                "precision": "bf16" if fast else "fp32", "compile": fast}

    phase_file("env", {"env": {"gpu": "Test GPU", "torch": "2.11.0", "cuda_available": True}})
    phase_file("steps", {"steps": [timing(m, b, ms) for m, ms in (("resnet20", 12.8),
                                                                   ("resnet110", 51.2))
                                   for b in (128, 256)]})
    phase_file("steps-fast", {"steps": [timing("resnet20", 128, 3.2, fast=True)]})
    phase_file("study", {"pix2pix": {"ms_per_pair": 50.0}})
    phase_file("concurrency", {"concurrency_plain": [
        {"processes": 1, "images_per_s": 1000.0}, {"processes": 4, "images_per_s": 2500.0}]})
    record = module.Recorder(phases / "estimate.json", "estimate")
    module.phase_estimate(module.Context(module.GPU, False, work, record, end=0.0))
    (check,) = record.checks
    assert check["status"] == "PASS" and "Test GPU" in check["detail"]
    assert "4 concurrent runs train 2.50x" in check["detail"]
    hours = record.data["estimate"]["hours"]
    assert set(hours) == {"fp32", "bf16 + compile"}
    assert hours["fp32"]["train classifiers"] > hours["bf16 + compile"]["train classifiers"]

    out = tmp_path / "out"
    assert module.finish(out, work, dry=False, seconds=1.0) == 0
    table = tmp_path / "gpu_steps.csv"
    done = subprocess.run([sys.executable, "-m", "archopt.models.costs", str(table),
                           "--gpu-steps", str(out / "gpu_acceptance.json")],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    stages = study_plan(module.paper_config(), read_gpu_steps(table.read_text()))
    assert stages[0].gpu_minutes["Test GPU"] / 60 == pytest.approx(
        hours["fp32"]["train classifiers"])
    assert "GPU 1: Test GPU" in plan_table(stages, cuda=True)


def test_the_setup_never_installs_torch_and_says_what_it_cannot_install(tmp_path, monkeypatch):
    module = acceptance_module()
    monkeypatch.setattr(module, "WHEELHOUSE", tmp_path / "wheelhouse")  # empty
    absent = "archopt-absent-package>=1.0"  # installed nowhere, no wheel of it
    monkeypatch.setattr(module, "archopt_requirements", lambda: ["numpy", absent])
    record = module.Recorder(tmp_path / "setup.json", "setup")
    assert module.setup(record, sys.executable)
    statuses = {c["check"]: c["status"] for c in record.checks}
    assert statuses == {"archopt-absent-package": "SKIP", "install": "PASS", "archopt": "PASS"}
    assert record.data["not_installed"] == ["archopt-absent-package"]

    monkeypatch.setattr(module, "archopt_requirements", lambda: ["torch-not-here==2.14.1"])
    monkeypatch.setattr(module, "NEVER_INSTALLED", ("torch-not-here",))
    record = module.Recorder(tmp_path / "setup2.json", "setup")
    assert not module.setup(record, sys.executable)
    assert record.checks[0]["status"] == "FAIL" and "never installed" in record.checks[0]["detail"]


def test_a_phase_beyond_its_budget_is_killed_and_fails_the_run(tmp_path, monkeypatch):
    module = acceptance_module()
    monkeypatch.setattr(module, "PHASES", {"env": 1})
    monkeypatch.setattr(module, "DRY_BUDGET_S", 0.5)  # less than importing torch takes
    work = tmp_path / "work"
    (work / "phases").mkdir(parents=True)
    assert module.run_all(tmp_path / "out", work, dry=True) == 1
    report = json.loads((tmp_path / "out" / "gpu_acceptance.json").read_text())
    (check,) = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert check["phase"] == "env" and "exceeded its budget of 0.5 s" in check["detail"]
