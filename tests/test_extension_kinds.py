"""Each extension kind is one file, through the real snakemake CLI: a dataset plugin of
1x28x28 greyscale images whose source is in its own file (no ``datasets:`` entry), served
from 127.0.0.1, and a post-training plugin (fp16 weights) with its own verdict; the
networks' stems follow the dataset's channels; a shape a family cannot take is refused
while the workflow is parsed."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from conftest import copy_workflow, run_snakemake
from fake_data import http_server

from archopt.datasets import DATASETS
from archopt.plugins import load_plugins
from archopt.report import read_results
from archopt.report.figures import classification_datasets

PLUGINS = Path(__file__).with_name("plugins")
NETWORKS = ["resnet20", "resnet20-dsc", "squeezenet"]


def glyphs(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class = mark (bar, column, cross, box) at a random place on a dark, noisy 28x28."""
    labels = rng.integers(0, 4, count)
    images = rng.integers(0, 40, (count, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        top, left = rng.integers(2, 12, 2)
        mark = np.zeros((14, 14), bool)
        if label in (0, 2):
            mark[6:8, :] = True
        if label in (1, 2):
            mark[:, 6:8] = True
        if label == 3:
            mark[[0, 1, 12, 13], :] = mark[:, [0, 1, 12, 13]] = True
        image[top : top + 14, left : left + 14][mark] = 230
    return images, labels


def write_archive(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for part, count in (("train", 160), ("test", 40)):
            images, labels = glyphs(count, rng)
            payload = io.BytesIO()
            np.savez(payload, images=images, labels=labels)
            member = tarfile.TarInfo(f"glyphs/{part}.npz")
            member.size = payload.getbuffer().nbytes
            payload.seek(0)
            archive.addfile(member, payload)
    return path


def plugin_with_source(workdir: Path, url: str, md5: str) -> None:
    """The researcher's file, naming where their server holds the archive."""
    text = (PLUGINS / "glyphs.py").read_text()
    text = text.replace("http://127.0.0.1:8000/glyphs.tar.gz", url)
    text = text.replace("0" * 32, md5)
    (workdir / "plugins" / "glyphs.py").write_text(text)


def study_config(**overrides: object) -> dict:
    config = {
        "plugins": ["plugins/glyphs.py", "plugins/fp16.py"],
        "studies": ["glyphs"],
        "networks": NETWORKS,
        "train": {"grid": {"lr": [0.05], "batch_size": [32]}, "max_epochs": 2,
                  "train_subset": None, "val_size": 32, "threads": 1},
        "gan": {"variants": []},
        "bench": {"devices": ["cpu"], "images": 8, "runtimes": ["eager", "onnxruntime"],
                  "min_queries": 0, "min_duration_s": 0},
        "posttrain": {"methods": ["fp16"]},
    }
    return config | overrides


def workflow_with_plugins(tmp_path: Path) -> Path:
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "plugins").mkdir()
    (workdir / "plugins" / "fp16.py").write_text((PLUGINS / "fp16.py").read_text())
    return workdir


@pytest.mark.slow
def test_a_greyscale_dataset_and_a_posttrain_method_each_join_the_study_as_one_file(tmp_path):
    workdir = workflow_with_plugins(tmp_path)
    served = tmp_path / "www"
    served.mkdir()
    archive = write_archive(served / "glyphs.tar.gz")
    config = study_config()
    assert "datasets" not in config  # the source is the plugin's own
    (workdir / "glyphs.yaml").write_text(yaml.safe_dump(config))
    requests: list = []
    with http_server(served, requests) as base:
        plugin_with_source(workdir, f"{base}/glyphs.tar.gz",
                           hashlib.md5(archive.read_bytes()).hexdigest())
        result = run_snakemake(workdir, "all", "--configfile", "glyphs.yaml", timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert [path for path, _ in requests] == ["/glyphs.tar.gz"]

    manifest = json.loads((workdir / "resources/glyphs/manifest.json").read_text())
    assert manifest["counts"] == {"train": 160, "test": 40}
    for network in NETWORKS:
        summary = json.loads((workdir / f"results/models/glyphs/{network}/summary.json").read_text())
        assert summary["test_images"] == 40
        export = onnx.load(str(workdir / f"results/bench/glyphs/{network}/model.onnx"))
        dims = [d.dim_value for d in export.graph.input[0].type.tensor_type.shape.dim]
        assert dims[1:] == [1, 28, 28]  # the stem takes the dataset's one channel
        bench = json.loads((workdir / f"results/bench/glyphs/{network}/cpu.json").read_text())
        assert bench["eager"]["n"] >= 8 and 0 <= bench["onnxruntime"]["top1"] <= 100

    fp16 = json.loads((workdir / "results/posttrain/glyphs/resnet20+fp16/summary.json").read_text())
    fp32_bytes = (workdir / "results/bench/glyphs/resnet20/model.onnx").stat().st_size
    assert fp16["storage_bytes"] < 0.7 * fp32_bytes  # the weights are half their size

    html = (workdir / "results/report/index.html").read_text()
    results = (workdir / "results/report/results.csv").read_text()
    assert "glyphs" in results and "resnet20+fp16" in results
    # The method's own words and verdict in the post-training table.
    assert f"fp16 weights ({fp16['storage_bytes']} bytes)" in html
    assert "fp16 keeps accuracy" in html or "fp16 loses accuracy" in html
    assert "file 0.5" in html  # its verdict measures the file against the fp32 export
    # The dataset's figures: the report draws them for the datasets this function
    # answers from its results (it looked for cifar10/cifar100 only).
    table = read_results(workdir / "results/report/results.csv")
    load_plugins([str(workdir / "plugins" / "glyphs.py")])  # as the report job did
    try:
        assert classification_datasets(table) == ["glyphs"]
    finally:
        DATASETS.remove("glyphs")
    for figure in ("accuracy", "pareto_params", "latency"):
        assert (workdir / f"results/report/figures/{figure}.png").stat().st_size > 1000


def test_a_shape_a_family_cannot_take_is_refused_at_parse_naming_dataset_shape_and_family(
        tmp_path):
    """SqueezeNet's three 2x2 max-pools need 8x8 images: a 4x4 dataset is refused by
    ``snakemake -n`` (no job runs), with the dataset, its shape and the family named."""
    workdir = workflow_with_plugins(tmp_path)
    text = (PLUGINS / "glyphs.py").read_text().replace("image_shape=(1, 28, 28)",
                                                       "image_shape=(1, 4, 4)")
    (workdir / "plugins" / "glyphs.py").write_text(text)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(study_config(networks=["squeezenet"])))
    result = run_snakemake(workdir, "-n", "all", "--configfile", "tiny.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("dataset 'glyphs' has images of shape (1, 4, 4) (C, H, W), which network family "
            "'squeezenet' cannot take") in output, output[-3000:]
    assert "Invalid channel dimensions" not in output and "Traceback" not in output


def test_post_training_methods_describe_themselves_for_the_report():
    """The report's post-training column and verdict come from the method's hooks."""
    from archopt.posttrain import Outcome, compare_outcomes, get_posttrain_method

    int8, prune = get_posttrain_method("int8"), get_posttrain_method("prune")
    assert int8.describe({"recipe": "qdq_s8s8", "deploy_runtime": "onnxruntime"}) == (
        "int8 (qdq_s8s8 in onnxruntime)")
    assert prune.describe({"pruning": {"budget_of": "resnet20-shift"}}) == (
        "pruned to resnet20-shift's size")
    result, base = Outcome(90.5, 100.0, 25.0), Outcome(91.0, 100.0, 100.0)
    assert compare_outcomes(result, base) == (
        "accuracy -0.50 points, parameters 1.00x, file 0.25x of the fp32 network")
    assert int8.verdict(result, base) == compare_outcomes(result, base)
    assert compare_outcomes(Outcome(None, None, None), base) == "not comparable"
