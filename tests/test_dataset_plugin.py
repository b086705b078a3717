"""A dataset plugin (tests/plugins/stripes.py, not shipped) through the real snakemake CLI:
downloaded from a file:// URL, trained, tested, benchmarked and reported."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.slow

PLUGIN = Path(__file__).with_name("plugins") / "stripes.py"


def stripes(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class = colour (4) x orientation (2): stripes a small CNN separates at once."""
    labels = rng.integers(0, 8, count)
    colours = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 40]])
    rows = (np.arange(32) // 4) % 2  # 4-pixel stripes
    images = np.zeros((count, 3, 32, 32), np.uint8)
    for i, label in enumerate(labels):
        mask = rows[:, None] if label % 2 == 0 else rows[None, :]
        images[i] = (colours[label // 2][:, None, None] * np.broadcast_to(mask, (32, 32))).astype(np.uint8)
    return images, labels


def write_archive(path: Path) -> Path:
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = stripes(160, rng), stripes(40, rng)
    payload = io.BytesIO()
    np.savez(payload, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo("stripes/data.npz")
        member.size = payload.getbuffer().nbytes
        payload.seek(0)
        archive.addfile(member, payload)
    return path


def test_a_dataset_plugin_is_downloaded_trained_benchmarked_and_reported(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "plugins").mkdir()
    shutil.copy(PLUGIN, workdir / "plugins")
    archive = write_archive(tmp_path / "stripes.tar.gz")
    config = {
        "plugins": ["plugins/stripes.py"],
        "studies": ["stripes"],
        "networks": ["resnet20"],
        "datasets": {"stripes": {"url": archive.as_uri(), "md5": None}},
        "train": {"grid": {"lr": [0.05], "batch_size": [32]}, "max_epochs": 2,
                  "train_subset": None, "val_size": 32, "threads": 1},
        "gan": {"variants": []},
        "bench": {"devices": ["cpu"], "images": 8, "runtimes": ["eager", "onnxruntime"],
                  "min_queries": 0, "min_duration_s": 0},
        "posttrain": {"methods": []},  # the stages of the test: download to report
    }
    (workdir / "stripes.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "all", "--configfile", "stripes.yaml", timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    manifest = json.loads((workdir / "resources/stripes/manifest.json").read_text())
    assert manifest["counts"] == {"train": 160, "test": 40}
    summary = json.loads((workdir / "results/models/stripes/resnet20/summary.json").read_text())
    assert summary["test_images"] == 40 and summary["params"] > 0
    bench = json.loads((workdir / "results/bench/stripes/resnet20/cpu.json").read_text())
    assert bench["eager"]["n"] >= 8 and 0 <= bench["onnxruntime"]["top1"] <= 100
    html = (workdir / "results/report/index.html").read_text()
    assert "stripes" in html
