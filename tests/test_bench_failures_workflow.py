"""Through the real snakemake CLI: runtime plugins that raise, abort their process and
disagree with eager cost their own entries only, in the bench and post-training stages;
the jobs succeed, every JSON is written, and the report's reader shows why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import copy_workflow, run_snakemake
from fake_data import write_cifar_tree

from archopt.models import get_model
from archopt.report import sources, table
from archopt.train.checkpoint import save_checkpoint

pytestmark = pytest.mark.slow

MODEL = "resnet20"
PLUGIN = str(Path(__file__).parent / "plugins" / "failing_runtimes.py")
BENCH = {"devices": ["cpu"], "images": 6, "runtimes": ["eager", "raises", "aborts",
                                                         "onnxruntime", "offbyone"],
         "min_queries": 9, "min_duration_s": 0}
POSTTRAIN = {"methods": ["int8"], "calibration_images": 8,
             "int8_recipes": ["qdq_s8s8", "qop_u8s8_rr"],
             "int8_runtimes": ["onnxruntime", "qdqcrash", "raises"]}
BENCH_JSON = f"results/bench/cifar10/{MODEL}/cpu.json"
INT8_JSON = f"results/posttrain/cifar10/{MODEL}+int8/cpu.json"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("failures") / "wf")
    write_cifar_tree(workdir / "resources", "cifar10", n_train=40, n_test=12)
    torch.manual_seed(0)
    selected = workdir / f"results/models/cifar10/{MODEL}"
    # The selected network stands in for training (only the bench and posttrain rules run).
    save_checkpoint(selected / "best.pt", MODEL, "cifar10", get_model(MODEL, "cifar10").state_dict(),
                    epoch=1, val_top1=10.0)
    (selected / "summary.json").write_text(json.dumps({"model": MODEL, "dataset": "cifar10"}))
    config = {"plugins": [PLUGIN], "studies": ["cifar10"], "networks": [MODEL],
              "bench": BENCH, "posttrain": POSTTRAIN, "train": {"val_size": 8}}
    (workdir / "failing.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, BENCH_JSON, INT8_JSON.replace("cpu.json", "summary.json"),
                           "--configfile", "failing.yaml",
                           "--allowed-rules", "onnx_export", "bench", "posttrain")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


def test_the_bench_job_records_failures_and_keeps_the_other_timings(study):
    bench = json.loads((study / BENCH_JSON).read_text())
    assert bench["raises"] == {"failed": "RuntimeError: cannot compile this graph"}
    assert bench["aborts"]["failed"].startswith("crashed (SIGABRT)")
    assert bench["offbyone"]["failed"].startswith("outputs differ from eager PyTorch by up to")
    for runtime in ("eager", "onnxruntime"):
        entry = bench[runtime]
        assert entry["n"] == 9 and entry["max_abs_diff"] <= entry["atol"]
        assert (entry["min_queries"], entry["min_duration_s"], entry["repeats"]) == (9, 0, 1)
    log = (study / f"logs/bench/cifar10/{MODEL}/cpu.log").read_text()
    assert "aborts: failed (crashed (SIGABRT)" in log


def test_the_int8_job_records_a_crashing_recipe_and_a_failing_runtime(study):
    bench = json.loads((study / INT8_JSON).read_text())
    crash = bench["qdqcrash"]
    # Its QDQ file killed the worker: that recipe's error, the QOperator file still timed.
    assert crash["recipes"]["qdq_s8s8"]["error"] == ("crashed (SIGABRT) while: qdqcrash: "
                                                     "loading qdq_s8s8")
    assert crash["recipe"] == "qop_u8s8_rr" and crash["n"] == 9
    assert bench["raises"]["failed"] == ("RuntimeError: raises cannot run the fp32 export: "
                                         "RuntimeError: cannot compile this graph")
    ours = bench["onnxruntime"]
    assert ours["recipe"] in POSTTRAIN["int8_recipes"] and ours["n"] == 9
    # Timed with the fp32 networks' protocol.
    fp32 = json.loads((study / BENCH_JSON).read_text())["onnxruntime"]
    for key in ("warmup", "min_queries", "min_duration_s", "repeats"):
        assert ours[key] == crash[key] == fp32[key], key
    summary = json.loads((study / INT8_JSON.replace("cpu.json", "summary.json")).read_text())
    assert summary["deploy_runtime"] == "onnxruntime"


def test_the_report_shows_why_a_runtime_failed(study):
    path = study / BENCH_JSON
    rows = table.bench_rows(sources.read_bench(path), path, BENCH["runtimes"])
    notes = {row["runtime"]: row["note"] for row in rows if row["metric"] == "latency_ms"}
    assert notes["raises"] == "failed: RuntimeError: cannot compile this graph"
    assert notes["aborts"].startswith("failed: crashed (SIGABRT)")
    assert notes["offbyone"].startswith("failed: outputs differ from eager PyTorch")
