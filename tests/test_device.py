"""Benchmark on the target device: the bundle of a tiny real-format study, its runner in a
virtual environment with only numpy and onnxruntime, and the import into the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, run_snakemake
from fake_data import write_cifar_tree

from archopt.bench import stats
from archopt.device import run_bench

NETWORKS = ["resnet20", "resnet20-shift"]
INT8 = [f"{network}+int8" for network in NETWORKS]
BUNDLED = NETWORKS + INT8  # the fp32 exports, then the post-training results
TINY = {
    "studies": ["cifar10"],
    "networks": NETWORKS,
    "train": {"grid": {"lr": [0.05], "batch_size": [32]}, "max_epochs": 1, "train_subset": 64,
              "val_size": 32, "threads": 1},
    "gan": {"variants": []},
    "bench": {"devices": ["cpu"], "images": 8, "runtimes": ["eager", "onnxruntime"],
              "min_queries": 0, "min_duration_s": 0, "bundle": True},
    "posttrain": {"methods": ["int8"], "calibration_images": 16,
                  "int8_runtimes": ["onnxruntime"]},
}
TIMINGS_NS = [
    np.array([1_000_000, 1_100_000, 990_000, 1_050_000, 3_000_000]),
    np.arange(1, 1001) * 1000,  # a wide spread: unreliable
    np.array([5_000_000, 5_000_100]),
    np.array([2_000_000] * 50 + [2_150_000] * 50),  # noisy
]


@pytest.mark.parametrize("samples", TIMINGS_NS)
def test_the_runner_statistics_are_the_bench_stage_statistics(samples):
    assert run_bench.latency_stats(samples) == stats.latency_stats(samples)
    medians = list(samples[:3] / 1e6)
    assert run_bench.between_processes(medians) == stats.between_processes(medians)
    logits = np.random.default_rng(len(samples)).standard_normal((len(samples), 10))
    labels = np.arange(len(samples)) % 10
    for k in (1, 5):
        assert run_bench.topk_accuracy(logits, labels, k) == stats.topk_accuracy(logits, labels, k)


def test_the_runner_imports_neither_torch_nor_archopt():
    source = Path(run_bench.__file__).read_text()
    imports = [line for line in source.splitlines() if line.lstrip().startswith(("import ", "from "))]
    assert not [line for line in imports if "torch" in line or "archopt" in line]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("device") / "wf")
    write_cifar_tree(workdir / "resources", "cifar10", n_train=96, n_test=16)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = run_snakemake(workdir, "all", "--configfile", "tiny.yaml", timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def device_python(tmp_path_factory) -> Path:
    """A Python with numpy and onnxruntime only: what the README asks a device to install."""
    venv = tmp_path_factory.mktemp("device-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy", "onnxruntime"],
                   check=True, capture_output=True)
    probe = "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('archopt'))"
    # cwd: not the repository, whose archopt/ a "-c" probe would find.
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                          check=True, cwd=venv).stdout.split() == ["None", "None"]
    return python


def unpack(study: Path, dest: Path) -> Path:
    with zipfile.ZipFile(study / "results/device/bundle.zip") as archive:
        archive.extractall(dest)
    return dest


def run_device(python: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    # From the unpacked folder, as the README tells the device's user.
    return subprocess.run([str(python), "run_bench.py", *args], cwd=folder,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def device_results(study, device_python, tmp_path_factory) -> Path:
    """Results of an interrupted run (--stop-after 1) completed by a second run."""
    folder = unpack(study, tmp_path_factory.mktemp("unpacked"))
    first = run_device(device_python, folder, "--out", "results.json", "--stop-after", "1")
    assert first.returncode == 0, first.stderr
    partial = json.loads((folder / "results.json").read_text())
    assert len(partial["networks"]) == 1 and partial["complete"] is False
    second = run_device(device_python, folder, "--out", "results.json")
    assert second.returncode == 0, second.stderr
    assert f"1 network(s) already measured, {len(BUNDLED) - 1} to measure" in second.stderr
    assert "ETA" in second.stderr
    final = json.loads((folder / "results.json").read_text())
    (kept,) = partial["networks"]
    assert final["complete"] is True and len(final["networks"]) == len(BUNDLED)
    assert final["networks"][kept] == partial["networks"][kept]  # not measured again
    return folder / "results.json"


@pytest.mark.slow
def test_the_bundle_is_self_contained(study):
    with zipfile.ZipFile(study / "results/device/bundle.zip") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert {"run_bench.py", "manifest.json", "data.npz"} <= names
    assert manifest["normalized"] is True and manifest["datasets"]["cifar10"]["images"] == 8
    assert [n["network"] for n in manifest["networks"]] == BUNDLED
    assert all(n["file"] in names and n["input_shape"] == [1, 3, 32, 32]
               for n in manifest["networks"])


@pytest.mark.slow
def test_the_device_measures_with_the_bench_protocol(device_results):
    results = json.loads(device_results.read_text())
    entry = results["networks"]["cifar10/resnet20-shift"]["onnxruntime"]
    assert entry["n"] == 8 and entry["warning"] in (None, "noisy", "unreliable")
    assert {"median_ms", "p90_ms", "p99_ms", "iqr_ms", "first_ms", "load_ms"} <= set(entry)
    assert 0 <= entry["top1"] <= entry["top5"] <= 100
    assert results["env"]["cpu_model"] and results["env"]["onnxruntime"]


@pytest.mark.slow
def test_imported_results_appear_in_the_report(study, device_results):
    cli = run_cli(study, "device", "import", str(device_results), "--name", "tinycli")
    assert cli.returncode == 0, cli.stderr
    bench = json.loads((study / "results/bench/cifar10/resnet20/tinycli.json").read_text())
    assert bench["device"] == "tinycli" and bench["onnxruntime"]["n"] == 8 and bench["env"]
    shutil.copy(device_results, study / "tinydev.json")
    devices = {"bench": {**TINY["bench"],
                         "external_devices": [{"name": "tinydev", "results": "tinydev.json"}]},
               "report": {"accuracy_tolerance": 5, "low_compute_devices": ["cpu", "tinydev"]}}
    (study / "devices.yaml").write_text(yaml.safe_dump(devices))
    result = run_snakemake(study, "all", "--configfile", "tiny.yaml", "devices.yaml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "device_import" in result.stdout + result.stderr
    html = (study / "results/report/index.html").read_text()
    assert "tinydev environment" in html and "tinydev latency ms" in html
    assert "[tinydev / onnxruntime]" in html  # a low-compute leaf of the flowchart
    # The device ran ONNX Runtime only: its rows are that runtime's, one note says so.
    results = pd.read_csv(study / "results/report/results.csv")
    device = results[(results["device"] == "tinydev") & (results["metric"] == "latency_ms")]
    assert set(device["runtime"]) == {"onnxruntime"} and device["value"].notna().all()
    assert set(device["model"]) == set(BUNDLED)  # its post-training results too
    assert "runtime absent from the bench file" not in html
    assert "tinydev did not run eager (its results hold onnxruntime)" in html
    # Finding 6 is judged on the device: int8 against the fp32 file timed there.
    findings = pd.read_csv(study / "results/report/findings.csv")
    six = findings[(findings["finding"] == 6) & (findings["device"] == "tinydev")]
    assert list(six["runtime"]) == ["onnxruntime"]
    assert six["verdict"].item() in ("confirmed", "refuted", "mixed")
    assert "separate runs" in six["evidence"].item()


@pytest.mark.slow
def test_an_edited_model_file_is_refused_by_the_runner(study, device_python, tmp_path):
    folder = unpack(study, tmp_path / "unpacked")
    model = folder / "models/cifar10/resnet20/model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    result = run_device(device_python, folder, "--out", "results.json")
    assert result.returncode != 0
    assert "models/cifar10/resnet20/model.onnx does not match its SHA-256" in result.stderr
    assert not (folder / "results.json").exists()


@pytest.mark.slow
def test_results_of_another_bundle_are_refused_by_the_import(study, device_results, tmp_path):
    # Another study: the same network names, a different export of resnet20-shift.
    other = tmp_path / "other"
    shutil.copytree(study / "results/bench", other / "results/bench")
    model = other / "results/bench/cifar10/resnet20-shift/model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    result = run_cli(other, "device", "import", str(device_results), "--name", "rpi4")
    assert result.returncode == 2
    assert "network cifar10/resnet20-shift" in result.stderr and "SHA-256" in result.stderr
    assert not list(other.rglob("rpi4.json"))  # nothing imported, not even resnet20


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("archopt")), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_a_file_a_runtime_cannot_load_is_recorded_as_failed(tmp_path):
    # e.g. OpenVINO has no conversion for ONNX Runtime's QOperator int8 files: the runner
    # records why and goes on with the other runtimes and networks instead of dying.
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx model")
    images = np.zeros((2, 3, 32, 32), np.float32)
    np.savez(tmp_path / "data.npz", images_cifar10=images, labels_cifar10=np.zeros(2, int))
    entry = {"dataset": "cifar10", "network": "resnet20", "kind": "classifier",
             "sha256": "0" * 64, "file": "broken.onnx"}
    settings = {"threads": 1, "warmup": 1, "min_duration_s": 0, "min_queries": 0, "repeats": 1}
    worker = run_bench.Worker()
    try:
        with np.load(tmp_path / "data.npz") as data:
            result = run_bench.measure_network(tmp_path, entry, data, ["onnxruntime"], settings,
                                               run_bench.Progress(1), worker)
    finally:
        worker.close()
    reason = result["onnxruntime"]["failed"]
    assert reason.startswith("onnxruntime cannot run this file: ") and "INVALID_PROTOBUF" in reason


def test_the_runners_worker_survives_a_native_crash():
    worker = run_bench.Worker()
    try:
        first = worker.call(os.getpid)
        assert worker.call(os.getpid) == first  # one process for every call
        with pytest.raises(run_bench.Failed, match=r"^crashed \(SIGABRT\)$"):
            worker.call(os.abort)
        assert worker.call(os.getpid) != first  # a fresh one after the crash
        with pytest.raises(run_bench.Failed, match="ZeroDivisionError"):
            worker.call(divmod, 1, 0)
    finally:
        worker.close()


DEFAULTS = {"warmup": 10, "min_queries": 1024, "min_duration_s": 10.0, "repeats": 1}


@pytest.mark.parametrize(("args", "message"), [
    (["--min-duration-s", "inf"], "--min-duration-s must be a finite number of seconds >= 0, got inf"),
    (["--min-duration-s", "nan"], "--min-duration-s must be a finite number of seconds >= 0, got nan"),
    (["--min-duration-s", "-1"], "--min-duration-s must be a finite number of seconds >= 0"),
    (["--repeats", "0"], "--repeats must be an integer of at least 1, got 0"),
    (["--threads", "0"], "--threads must be an integer of at least 1, got 0"),
    (["--min-queries", "-5"], "--min-queries must be an integer of at least 0, got -5"),
    (["--warmup", "-1"], "--warmup must be an integer of at least 0, got -1"),
])
def test_the_runner_refuses_impossible_options(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_bench.parse_args(["--out", "r.json", *args], DEFAULTS)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_the_runner_refuses_impossible_defaults_from_its_manifest(capsys):
    with pytest.raises(SystemExit):
        run_bench.parse_args(["--out", "r.json"], DEFAULTS | {"repeats": 0})
    assert "--repeats must be an integer of at least 1, got 0" in capsys.readouterr().err
    assert run_bench.parse_args(["--out", "r.json"], DEFAULTS).repeats == 1


@pytest.mark.parametrize("file", ["../../outside.onnx", "/etc/hostname", "models/../../x.onnx"])
def test_a_manifest_file_outside_the_bundle_is_refused(tmp_path, file):
    bundle = tmp_path / "a" / "b"
    bundle.mkdir(parents=True)
    (tmp_path / "outside.onnx").write_bytes(b"secret")
    entry = {"dataset": "cifar10", "network": "resnet20", "file": file, "sha256": "0" * 64}
    with pytest.raises(SystemExit, match=f"manifest.json: file {file!r} of cifar10/resnet20 is "
                                         "outside the bundle"):
        run_bench.verify_files(bundle, [entry])
