"""Every job starts through one call: plugins loaded, log opened, settings built.

The ``snakemake`` objects here carry what Snakemake gives a script (config, params, log,
threads); :func:`archopt.workflow.start_job` and the settings builders are the real code.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from archopt.bench.settings import BenchSettings, job_bench_settings
from archopt.config import ConfigError
from archopt.runtimes import _unregister_runtime, list_runtimes
from archopt.workflow import JobStart, start_job

PLUGINS = Path(__file__).parent / "plugins"
BENCH = {"threads": 2, "warmup": 3, "runtimes": ["eager"], "atol": 1e-4, "min_queries": 7,
         "min_duration_s": 0.5, "repeats": 2}


def job(tmp_path: Path, params: dict | None = None, plugins: list[str] | None = None,
        threads: int = 4) -> SimpleNamespace:
    config = {"plugins": plugins or [], "bench": dict(BENCH, warmup=99)}
    return SimpleNamespace(config=config, params=SimpleNamespace(**(params or {})),
                           log=[str(tmp_path / "job.log")], threads=threads)


def test_a_job_starts_with_its_log_and_its_settings_from_the_rules_params(tmp_path):
    snakemake = job(tmp_path, params={"bench": BENCH}, threads=1)
    start = start_job(snakemake, "bench", job_bench_settings)
    assert isinstance(start, JobStart)
    # The rule's params, not the config's bench section (warmup 99): what Snakemake
    # reruns the job on is what it times with; threads capped at the job's.
    assert start.settings == BenchSettings(threads=1, warmup=3, runtimes=("eager",), atol=1e-4,
                                           min_queries=7, min_duration_s=0.5, repeats=2)
    start.logger.info("timing")
    assert "timing" in Path(snakemake.log[0]).read_text()


def test_a_job_start_loads_the_config_plugins_before_its_settings(tmp_path):
    plugin = str(PLUGINS / "jit_runtime.py")
    params = {"bench": dict(BENCH, runtimes=["eager", "jit"])}
    try:
        start = start_job(job(tmp_path, params, plugins=[plugin]), "bench", job_bench_settings)
        assert "jit" in list_runtimes() and start.settings.runtimes == ("eager", "jit")
    finally:  # so that a later load of the file registers it again
        _unregister_runtime("jit")
        for name in [m for m in sys.modules if m.startswith("archopt_plugin_jit_runtime_")]:
            del sys.modules[name]


def test_a_stage_without_settings_gets_none(tmp_path):
    assert start_job(job(tmp_path), "catalog").settings is None


def test_a_bad_plugin_ends_the_job_and_is_written_to_its_log(tmp_path):
    snakemake = job(tmp_path, plugins=[str(tmp_path / "missing.py")])
    with pytest.raises(ConfigError, match="missing.py"):
        start_job(snakemake, "bench")
    assert "missing.py" in Path(snakemake.log[0]).read_text()


ROOT = Path(__file__).resolve().parent.parent


def job_functions() -> list[tuple[str, ast.FunctionDef]]:
    """(module path, function) of every ``*_job`` function of a stage's ``jobs`` module."""
    return [(str(path.relative_to(ROOT)), node)
            for path in sorted((ROOT / "archopt").glob("*/jobs.py"))
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_job")]


def calls(function: ast.FunctionDef) -> set[str]:
    return {node.func.id for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def test_every_script_calls_a_job_of_its_stages_jobs_module():
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        first = script.read_text().splitlines()[0]
        assert re.fullmatch(r"from archopt\.\w+\.jobs import \w+_job", first), (script, first)


def test_every_job_function_starts_through_start_job():
    jobs = job_functions()
    assert len(jobs) >= 15  # every script's job is found
    assert [(path, f.name) for path, f in jobs if "start_job" not in calls(f)] == []
