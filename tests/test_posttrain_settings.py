"""A post-training job's settings: one typed object, built once from the config (or the
rule's params), holding the bench stage's own protocol; and the interleaved timing of
candidate files follows that protocol."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO

from archopt.bench.settings import BenchSettings
from archopt.config import load_config
from archopt.posttrain.measure import time_interleaved
from archopt.posttrain.settings import PostTrainSettings, job_posttrain_settings
from archopt.workflow import start_job

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
PRESETS = sorted(path.stem for path in (REPO / "archopt/presets").glob("*.yaml"))


def shipped(**overrides: object) -> dict:
    return load_config(REPO / "config.yaml", SCHEMA, overrides)


@pytest.mark.parametrize("preset", [None, *PRESETS])
def test_the_shipped_config_and_every_preset_build_typed_settings(preset):
    config = shipped(**({"preset": preset} if preset else {}))
    settings = PostTrainSettings.from_config(config)
    section = config["posttrain"]
    assert settings.methods == tuple(section["methods"])
    assert settings.int8_recipes == tuple(section["int8_recipes"])
    assert isinstance(settings.int8_max_drop, float) and isinstance(settings.finetune_lr, float)
    assert settings.seed == config["train"]["seeds"][0]
    # Every network, compressed or not, is timed with the bench stage's settings.
    assert settings.bench == BenchSettings.from_config(config)


def test_a_missing_or_mistyped_key_is_named():
    config = shipped()
    del config["posttrain"]["importance"]
    with pytest.raises(ValueError, match=r"config key 'posttrain.importance' is missing: "
                                         r"expected a string"):
        PostTrainSettings.from_config(config)
    config = shipped()
    config["train"]["seeds"] = ["zero"]
    with pytest.raises(ValueError, match=r"config key 'train.seeds.0' must be an integer, "
                                         r"got 'zero'"):
        PostTrainSettings.from_config(config)


def test_a_job_gets_its_settings_from_the_rules_params_at_start(tmp_path: Path):
    config = shipped()
    bench = dict(config["bench"], threads=4, min_queries=7, min_duration_s=0.25, repeats=2)
    params = SimpleNamespace(posttrain=dict(config["posttrain"], int8_max_drop=2),
                             train=dict(config["train"], val_size=100), bench=bench)
    # The config's sections differ from the params: the params (what Snakemake reruns the
    # job on) decide, and the job's threads cap the runtimes'.
    snakemake = SimpleNamespace(config=dict(config, plugins=[]), params=params,
                                log=[str(tmp_path / "job.log")], threads=2)
    settings = start_job(snakemake, "posttrain", job_posttrain_settings).settings
    assert isinstance(settings, PostTrainSettings)
    assert (settings.int8_max_drop, settings.val_size) == (2.0, 100)
    assert settings.bench.protocol() == {"warmup": bench["warmup"], "min_queries": 7,
                                         "min_duration_s": 0.25, "repeats": 2}
    assert settings.bench.threads == 2
    assert settings.runs_per_gpu == config["train"]["runs_per_gpu"]  # from the config


class Counter:
    """A runner counting its calls (timed or warm-up), answering one row of logits."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.zeros((1, 3), dtype=np.float32)


def test_interleaved_timing_follows_the_bench_protocol():
    images = np.zeros((3, 1, 2, 2), dtype=np.float32)
    runners = {"fp32": Counter(), "candidate": Counter()}
    protocol = BenchSettings(runtimes=("eager",), warmup=2, min_queries=7)
    timed = time_interleaved(runners, images, protocol)
    for key, runner in runners.items():
        samples, outputs = timed[key]
        # 7 queries cycled over 3 images (outputs of the first pass), after 2 warm-up calls.
        assert len(samples) == 7 and outputs.shape == (3, 3)
        assert runner.calls == 2 + 7
