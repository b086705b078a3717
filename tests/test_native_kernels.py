"""Guard against native kernels that crash on some CPUs (issue: oneDNN heap corruption
in channels-last 1x1 stride-2 backward on AVX2-only machines).

Every distinct network of the paper preset (both datasets' base, technique, expanded,
channel- and bottleneck-reduced networks, the dissertation's own equal-budget names and
the generators) takes one optimizer step through archopt's training loop and one
inference in the benchmark's eager path, in a subprocess forced onto the AVX2 kernels,
so an AVX-512 CI machine runs the code paths an AVX2-only user's machine runs. Networks
that differ only in their classifier's class count share their convolutions, so each
name is checked once (on the first dataset that studies it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from archopt.config import load_config
from archopt.models.registry import PAPER_SCALED_MODELS
from archopt.study import study_networks

pytestmark = pytest.mark.slow

AVX2_ENV = {"DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"}
WORKER = Path(__file__).with_name("kernel_worker.py")


def paper_preset_targets() -> list[str]:
    config = load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml")
    names: dict[str, str] = {}
    for dataset in config["studies"]:
        for name in [*study_networks(config, dataset), *PAPER_SCALED_MODELS[dataset]]:
            names.setdefault(name, dataset)
    for name in study_networks(config, "maps"):
        names.setdefault(name, "maps")
    return [f"{dataset}:{name}" for name, dataset in names.items()]


def describe_death(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def crashed_networks(targets: list[str]) -> list[str]:
    """Run the worker over ``targets``; after a death, go on with the networks after the
    one that died, so one run reports every crashing network."""
    failures, remaining = [], list(targets)
    path = os.pathsep.join(filter(None, [str(WORKER.parent), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, **AVX2_ENV, PYTHONPATH=path)
    while remaining:
        result = subprocess.run(
            [sys.executable, str(WORKER), *remaining],
            capture_output=True, text=True, env=env, timeout=1800,
        )
        lines = result.stdout.splitlines()
        assert lines and lines[0] == "capability AVX2", lines[:1]  # the forcing took effect
        finished = {line[4:] for line in lines if line.startswith("END ")}
        if result.returncode == 0:
            assert finished == set(remaining)
            break
        begun = [line[6:] for line in lines if line.startswith("BEGIN ")]
        culprit = begun[-1] if begun else remaining[0]
        tail = (result.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        failures.append(f"{culprit}: {describe_death(result.returncode)}: {tail}")
        remaining = remaining[remaining.index(culprit) + 1:]
    return failures


def test_paper_preset_lists_every_kind_of_network():
    names = {target.split(":")[1] for target in paper_preset_targets()}
    assert {"resnet20", "resnet110-shuffle", "squeezenet-dsc", "pix2pix-shift"} <= names
    assert any(n.endswith("_block") for n in names)  # bottleneck-reduced
    assert "resnet20-2.67" in names and "resnet20-2.5" in names  # channel-reduced
    assert any(n.startswith("resnet56-shift-0.") for n in names)  # expanded


def test_every_network_trains_and_infers_on_avx2_kernels():
    failures = crashed_networks(paper_preset_targets())
    assert not failures, "native code died under " + " ".join(
        f"{k}={v}" for k, v in AVX2_ENV.items()
    ) + ":\n" + "\n".join(failures)
