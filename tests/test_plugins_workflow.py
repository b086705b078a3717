"""Plugins through the real snakemake CLI, and reruns that follow exactly the changed config.

A technique plugin (tests/plugins/invres.py) and a runtime plugin
(tests/plugins/jit_runtime.py), neither shipped with archopt, are named in config key
``plugins``; a tiny study on fake real-format data trains, benchmarks and reports them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake
from fake_data import make_maps_archive, write_cifar_tree

pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).with_name("plugins")
TINY = {
    "studies": ["cifar10"],
    "networks": ["resnet20", "resnet20-invres"],
    "plugins": ["plugins/invres.py", "plugins/jit_runtime.py"],
    "train": {"grid": {"lr": [0.05], "batch_size": [32]}, "max_epochs": 1, "train_subset": 64,
              "val_size": 32, "threads": 1},
    "gan": {"variants": ["pix2pix"], "epochs": 1, "epochs_decay": 0, "train_subset": 2,
            "val_subset": 2},
    "bench": {"devices": ["cpu"], "images": 8, "runtimes": ["eager", "onnxruntime", "jit"],
              "min_queries": 0, "min_duration_s": 0},  # each image timed once
    "posttrain": {"methods": []},  # tests/test_posttrain_workflow.py runs the methods
}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from conftest import copy_workflow

    workdir = copy_workflow(tmp_path_factory.mktemp("plugins") / "wf")
    shutil.copytree(PLUGINS, workdir / "plugins")
    write_cifar_tree(workdir / "resources", "cifar10", n_train=96, n_test=16)
    archive, md5 = make_maps_archive(workdir.parent / "mirror", n_train=2, n_val=2)
    maps = {"maps": {"url": archive.as_uri(), "md5": md5}}
    (workdir / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "datasets": maps}))
    result = run_snakemake(workdir, "all", "--configfile", "tiny.yaml", timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir


def test_a_technique_plugin_is_trained_benchmarked_searched_and_reported(study):
    summary = json.loads((study / "results/models/cifar10/resnet20-invres/summary.json").read_text())
    assert summary["epochs"] == 1 and 0 <= summary["test_top1"] <= 100
    search = pd.read_csv(study / "results/search/cifar10.csv")
    expanded = search[(search["technique"] == "invres") & (search["kind"] == "expand")]
    assert set(expanded["depth"]) == {20, 56, 110}
    resnet20 = expanded[expanded["depth"] == 20].iloc[0]
    assert resnet20["model"].startswith("resnet20-invres-") and abs(resnet20["rel_gap"]) < 0.05
    html = (study / "results/report/index.html").read_text()
    assert "resnet20-invres" in html and "InvRes" in html


def test_a_runtime_plugin_has_its_own_timings_and_report_columns(study):
    bench = json.loads((study / "results/bench/cifar10/resnet20-invres/cpu.json").read_text())
    assert {"eager", "onnxruntime", "jit"} <= set(bench)
    assert bench["jit"]["n"] >= 8 and bench["jit"]["max_abs_diff"] <= bench["jit"]["atol"]
    assert bench["env"]["torch.jit"]
    assert "archopt jit" in (study / "results/report/index.html").read_text()


def test_the_cli_lists_a_plugin_technique():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("archopt")), "models", "--dataset", "cifar10",
         "--format", "csv", "--plugin", str(PLUGINS / "invres.py")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^resnet20-invres,", result.stdout, re.M)


def planned_rules(workdir: Path, *configfiles: str) -> set[str]:
    result = run_snakemake(workdir, "-n", "all", "--configfile", "tiny.yaml", *configfiles)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return set(re.findall(r"^rule (\w+):", result.stdout, re.M))


def test_changing_a_setting_reruns_exactly_the_jobs_that_use_it(study):
    assert planned_rules(study) == set()  # the finished study is up to date
    (study / "epochs.yaml").write_text(yaml.safe_dump({"gan": {**TINY["gan"], "epochs": 2}}))
    assert planned_rules(study, "epochs.yaml") == {
        "train_gan", "evaluate_gan", "study_bundle", "onnx_export", "bench", "report", "all"
    }
    (study / "warmup.yaml").write_text(yaml.safe_dump({"bench": {**TINY["bench"], "warmup": 12}}))
    assert planned_rules(study, "warmup.yaml") == {"onnx_export", "bench", "report", "all"}


def test_a_plugin_that_fails_or_collides_stops_the_workflow_naming_it(study, tmp_path):
    (study / "plugins/broken.py").write_text("raise RuntimeError('not today')\n")
    (study / "plugins/again.py").write_text((PLUGINS / "invres.py").read_text())
    for plugin, message in (("plugins/broken.py", "RuntimeError: not today"),
                            ("plugins/again.py", "'invres' is already registered")):
        (tmp_path / "p.yaml").write_text(yaml.safe_dump({"plugins": [*TINY["plugins"], plugin]}))
        result = run_snakemake(study, "-n", "all", "--configfile", "tiny.yaml",
                               str(tmp_path / "p.yaml"))
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"config key 'plugins': plugin '{plugin}'" in output and message in output
