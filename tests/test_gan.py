"""Pix2Pix: training schedule, ONNX export of every generator, a real Snakemake run with
resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
import yaml
from conftest import run_snakemake, snakemake_bin
from fake_data import make_maps_archive

from archopt.export import onnx_bytes
from archopt.gan.pix2pix import Pix2Pix, init_weights, lr_factor
from archopt.models import get_model
from archopt.runtimes.onnxruntime import ort_run, ort_session


def test_lr_is_constant_then_decays_linearly():
    factors = [lr_factor(e, 3, 3) for e in range(6)]
    assert factors[:3] == [1.0, 1.0, 1.0]
    assert factors[3:] == pytest.approx([0.75, 0.5, 0.25])


def test_official_initialization():
    torch.manual_seed(0)
    net = get_model("pix2pix-dsc", "maps")
    init_weights(net)
    convs = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    norms = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and convs.std().item() == pytest.approx(0.02, rel=0.05)
    assert norms.mean().item() == pytest.approx(1.0, abs=0.01)
    assert norms.std().item() == pytest.approx(0.02, rel=0.2)


def test_one_training_step_updates_both_networks():
    torch.manual_seed(0)
    model = Pix2Pix("pix2pix-shift")
    before_g = [p.clone() for p in model.generator.parameters()]
    before_d = [p.clone() for p in model.discriminator.parameters()]
    x, y = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1
    losses = model.train_step(x, y)
    assert losses.g_l1 > 0 and losses.d_real > 0
    assert any(not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters()))


@pytest.fixture
def greyscale_pairs():
    """A registered paired dataset of 1x256x256 images (as a plugin would add)."""
    from archopt.datasets import DATASETS, PAIRED, Dataset, register_dataset

    register_dataset(Dataset(
        name="greypairs", title="Grey pairs", kind=PAIRED, image_shape=(1, 256, 256),
        primary_metric="pixel_acc", train_images=4, test_images=4, url="http://127.0.0.1/x",
        md5=None, folder="greypairs", reader="x:y", structure="x:y"))
    yield "greypairs"
    DATASETS.remove("greypairs")


def test_pix2pix_takes_the_channels_of_its_paired_dataset(greyscale_pairs):
    """Generator and discriminator follow the dataset's image_shape (the discriminator saw
    6 channels, an RGB pair, whatever the dataset said)."""
    torch.manual_seed(0)
    model = Pix2Pix("pix2pix-shuffle", dataset=greyscale_pairs)
    assert model.discriminator.model[0].in_channels == 2  # the input image and an output
    x, y = torch.rand(1, 1, 256, 256) * 2 - 1, torch.rand(1, 1, 256, 256) * 2 - 1
    losses = model.train_step(x, y)
    assert losses.g_l1 > 0 and losses.d_real > 0
    assert Pix2Pix("pix2pix").discriminator.model[0].in_channels == 6  # maps: RGB pairs


def test_greyscale_maps_are_scored_and_saved(tmp_path):
    from PIL import Image

    from archopt.gan.evaluate import save_png
    from archopt.gan.metrics import fit_palette, pixel_accuracy

    real = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    real[:, :, :4] = 200
    fake = real.clone()
    fake[1] = 200
    palette = fit_palette(real, k=2)
    assert palette.shape == (2, 1)
    assert pixel_accuracy(real, fake, palette).tolist() == [1.0, 0.5]
    save_png(real[0], tmp_path / "real.png")
    with Image.open(tmp_path / "real.png") as image:
        assert image.mode == "L" and image.getpixel((0, 0)) == 200


@pytest.mark.parametrize("name", ["pix2pix", "pix2pix-dsc", "pix2pix-shift", "pix2pix-shuffle"])
def test_generator_onnx_matches_eager(name):
    torch.manual_seed(0)
    net = get_model(name, "maps")
    init_weights(net)
    net.eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.inference_mode():
        expected = net(x).numpy()
    got = ort_run(ort_session(onnx_bytes(net, x), threads=2), x.numpy())
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


GAN_CUDA_RTOL = 0.05


def gan_config(tmp_path, variants, epochs=1, decay=1):
    archive, md5 = make_maps_archive(tmp_path / "mirror", n_train=3, n_val=3, height=32)
    config = {
        "datasets": {"maps": {"url": archive.as_uri(), "md5": md5}},
        "train": {"threads": 2},
        # Each of the 3 validation pairs timed once, in the two runtimes checked below.
        "bench": {"runtimes": ["eager", "onnxruntime"], "min_queries": 0, "min_duration_s": 0},
        "gan": {
            "variants": variants, "epochs": epochs, "epochs_decay": decay,
            "train_subset": 2, "val_subset": 3, "samples": 2, "palette_size": 4,
        },
    }
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_gan_rules_train_evaluate_and_write_samples(workflow_copy, tmp_path):
    configfile = gan_config(tmp_path, ["pix2pix-shift"])
    target = "results/gan/maps/pix2pix-shift/summary.json"
    bench = "results/bench/maps/pix2pix-shift/cpu.json"
    result = run_snakemake(workflow_copy, target, bench, "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((workflow_copy / target).read_text())
    assert 0 <= summary["pixel_acc"] <= 100
    low, high = summary["pixel_acc_ci95"]
    assert low <= summary["pixel_acc"] <= high
    assert summary["params"] == 36_061_320 and summary["epochs"] == 2
    assert summary["n_images"] == 3 and summary["psnr"] > 0 and -1 <= summary["ssim"] <= 1
    samples = sorted((workflow_copy / "results/gan/maps/pix2pix-shift/samples").glob("*.png"))
    assert [p.name for p in samples] == sorted(summary["samples"]) and len(samples) == 6
    assert not (workflow_copy / "results/gan/maps/pix2pix-shift/resume").exists()
    latency = json.loads((workflow_copy / bench).read_text())
    for runtime in ("eager", "onnxruntime"):
        assert latency[runtime]["n"] == 3 and latency[runtime]["median_ms"] > 0
        assert "top1" not in latency[runtime]  # a generator has no labels
    assert latency["storage"]["onnx_bytes"] > 100_000_000  # 36 M float32 parameters


@pytest.mark.slow
def test_gan_training_resumes_after_a_kill(workflow_copy, tmp_path):
    configfile = gan_config(tmp_path, ["pix2pix-dsc"], epochs=1, decay=1)
    target = "results/gan/maps/pix2pix-dsc/training.json"
    state = workflow_copy / "results/gan/maps/pix2pix-dsc/resume/state.pt"
    proc = subprocess.Popen(
        [snakemake_bin(), "--cores", "2", target, "--configfile", str(configfile)],
        cwd=workflow_copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert state.exists(), "no per-epoch state was written"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workflow_copy / target).exists()
    # A SIGKILLed Snakemake leaves its lock behind; users clear it with --unlock.
    assert run_snakemake(workflow_copy, target, "--unlock", "--configfile", str(configfile)).returncode == 0
    resumed = run_snakemake(workflow_copy, target, "--rerun-incomplete", "--configfile", str(configfile))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = (workflow_copy / "logs/gan/pix2pix-dsc/train.log").read_text()
    assert "resuming from" in log
    training = json.loads((workflow_copy / target).read_text())
    history = training["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # The same run uninterrupted, in a fresh copy: identical losses on CPU.
    fresh = tmp_path / "fresh"
    from conftest import copy_workflow

    copy_workflow(fresh)
    clean = run_snakemake(fresh, target, "--configfile", str(configfile))
    assert clean.returncode == 0, clean.stderr[-3000:]
    expected = json.loads((fresh / target).read_text())["history"]
    # Exact on the CPU. On CUDA cuDNN's autotuned kernels sum in a varying order, so
    # the runs agree in rounding only: within GAN_CUDA_RTOL.
    on_cpu = training["device"]["device"] == "cpu"
    for got, want in zip(history, expected):
        assert got["lr"] == want["lr"]
        for key in ("g_gan", "g_l1", "d_real", "d_fake"):
            assert got[key] == (want[key] if on_cpu else pytest.approx(want[key], rel=GAN_CUDA_RTOL)), key
