"""The `study_bundle` rule in a real Snakemake run: a trained generator, a validation split
too small for the paper's 25 + 25 maps (so the bundle shrinks and says so)."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import run_snakemake
from fake_data import make_maps_archive
from PIL import Image

from archopt.perceptual.bundle import load_bundle

pytestmark = pytest.mark.slow


def test_study_bundle_rule_builds_a_smaller_bundle_with_a_warning(workflow_copy, tmp_path):
    archive, md5 = make_maps_archive(tmp_path / "mirror", n_train=1, n_val=5, height=32)
    configfile = tmp_path / "study.yaml"
    configfile.write_text(yaml.safe_dump({
        "datasets": {"maps": {"url": archive.as_uri(), "md5": md5}},
        "train": {"threads": 2},
        "gan": {"variants": ["pix2pix-dsc"], "epochs": 1, "epochs_decay": 0,
                "train_subset": 1, "val_subset": 1},
        "study": {"images_per_class": 25, "seed": 3},
    }))
    result = run_snakemake(workflow_copy, "results/study/bundle", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-3000:]
    folder = workflow_copy / "results/study/bundle"
    manifest = json.loads((folder / "manifest.json").read_text())
    # 5 validation pairs (gan.val_subset does not apply): 2 real + 2 generated, distinct inputs.
    assert manifest["source"]["pairs"] == 5 and manifest["images_per_class"] == 2
    assert "5 pairs" in manifest["warning"] and manifest["seed"] == 3
    real_pairs = {entry["pair"] for entry in manifest["real"]}
    fake_pairs = {entry["pair"] for entry in manifest["networks"][0]["fake"]}
    assert len(real_pairs) == len(fake_pairs) == 2 and not real_pairs & fake_pairs
    assert manifest["networks"][0]["model"] == "pix2pix-dsc"
    for entry in manifest["real"] + manifest["networks"][0]["fake"]:
        with Image.open(folder / entry["file"]) as image:
            assert image.size == (256, 256) and image.format == "PNG"
    log = (workflow_copy / "logs/study/bundle.log").read_text()
    assert "smaller bundle" in log and "pix2pix-dsc: 2 maps generated" in log
    # Two maps per class cannot hold the 5 + 5 practice trials: the server says so.
    with pytest.raises(ValueError, match="at least 6"):
        load_bundle(folder)
