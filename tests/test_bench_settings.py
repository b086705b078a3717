"""One typed settings object for every benchmark of a study, built from the config."""

from __future__ import annotations

import math

import pytest
from conftest import REPO

from archopt.bench import BenchSettings
from archopt.config import load_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def config(**bench) -> dict:
    resolved = load_config(REPO / "config.yaml", SCHEMA, {"bench": bench})
    # Named, not loaded: each worker process imports them.
    return resolved | {"plugins": ["my_runtimes.py"]}


def test_settings_come_from_the_config_with_the_jobs_threads():
    settings = BenchSettings.from_config(config(threads=2, min_queries=64, min_duration_s=2.5,
                                                repeats=3, images=100, runtimes=["eager"]))
    assert settings == BenchSettings(threads=2, warmup=10, runtimes=("eager",), atol=0.001,
                                     min_queries=64, min_duration_s=2.5, repeats=3,
                                     plugins=("my_runtimes.py",), images=100)
    assert settings.protocol() == {"warmup": 10, "min_queries": 64, "min_duration_s": 2.5,
                                   "repeats": 3}
    # Snakemake caps a job's threads at --cores; a job holding more (every core, to time
    # alone) still times with bench.threads.
    assert BenchSettings.from_config(config(threads=2), threads=1).threads == 1
    assert BenchSettings.from_config(config(threads=2), threads=8).threads == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("repeats", 0, "'bench.repeats' must be at least 1, got 0"),
    ("min_duration_s", math.inf, "'bench.min_duration_s' must be a finite number >= 0, got inf"),
    ("min_duration_s", math.nan, "'bench.min_duration_s' must be a finite number >= 0, got nan"),
    ("runtimes", ("tensorrt",), "unknown runtime 'tensorrt'"),
])
def test_impossible_settings_are_refused_naming_the_key(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BenchSettings(**{field: value})
