"""The study plan printed at the start of a run (archopt.plan)."""

from __future__ import annotations

import re

from conftest import REPO, run_snakemake

from archopt.config import load_config
from archopt.plan import plan_table, study_plan

CONFIG, SCHEMA = REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml"


def planned_total(text: str) -> int:
    return int(re.search(r"^  total\s+(\d+)", text, re.M).group(1))


def test_the_paper_preset_on_a_cpu_warns_and_names_the_alternatives():
    stages = study_plan(load_config(CONFIG, SCHEMA), cuda=False)
    table = plan_table(stages, cuda=False)
    assert "WARNING: about" in table and "preset=quick" in table and "profiles/slurm" in table
    train = next(s for s in stages if s.name == "train classifiers")
    assert train.jobs == 516 and train.minutes > 30 * 24 * 60  # months, as the issue measured


def test_the_quick_preset_fits_in_a_day_and_does_not_warn():
    table = plan_table(study_plan(load_config(CONFIG, SCHEMA, {"preset": "quick"}), False), False)
    assert "WARNING" not in table


def test_the_plan_counts_the_jobs_snakemake_plans(workflow_copy):
    for args in ((), ("--config", "preset=quick")):
        result = run_snakemake(workflow_copy, "-n", "all", *args)
        assert result.returncode == 0, result.stderr[-2000:]
        snakemake_total = int(re.search(r"^total\s+(\d+)", result.stdout, re.M).group(1))
        # `all` itself is a job of Snakemake's, not a stage of the study.
        assert planned_total(result.stderr) == snakemake_total - 1
