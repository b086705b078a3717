"""What the workflow's parse and the core modules import (issue: planning separated from
execution): no torch, ONNX Runtime or matplotlib while Snakemake parses the DAG; model
code that does not reach into the search or the Snakemake glue."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import copy_workflow

from archopt import search, searched

HEAVY = ("torch", "onnxruntime", "matplotlib")


def imported_by(code: str, cwd=None) -> set[str]:
    """Top-level modules a fresh interpreter has imported after running ``code``."""
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_dry_run_of_the_paper_preset_imports_no_torch(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    code = textwrap.dedent("""
        import sys
        import snakemake.cli
        sys.argv = ["snakemake", "-n", "all", "-q"]
        try:
            snakemake.cli.main()
        except SystemExit as stop:
            assert not stop.code, stop.code
    """)
    modules = imported_by(code, cwd=workdir)
    assert "archopt.paths" in modules  # the Snakefile was parsed, through the planning layer
    # (pandas and numpy come with Snakemake itself.)
    assert not [m for m in HEAVY if m in modules]


def test_the_planning_layer_is_torch_free():
    modules = imported_by("import archopt.paths, archopt.plan, archopt.config, archopt.cluster")
    assert not [m for m in HEAVY if m in modules]


def test_models_import_neither_the_search_nor_the_snakemake_glue():
    modules = imported_by("import archopt.models, archopt.models.costs; "
                          "from archopt.models import get_model; get_model('resnet20')")
    assert "archopt.search" not in modules and "archopt.workflow" not in modules
    assert not [m for m in modules if m.startswith("snakemake")]


def test_the_shipped_search_picks_are_what_the_search_picks():
    picks = searched.shipped_picks()
    for dataset in ("cifar10", "cifar100"):
        key = searched.cache_key(dataset, searched.DEFAULT_STEP)
        assert picks[key] == search.searched_models(dataset, searched.DEFAULT_STEP), (
            "stale archopt/searched.json: run `python -m archopt.searched`"
        )


def test_rules_spell_no_artifact_path_themselves():
    """Every results/ and resources/ path comes from archopt.paths (or another rule's
    ``rules.X.output``): a path template lives in one place, not in each rule using it."""
    import re
    from pathlib import Path

    literal = re.compile(r"""["'](results|resources)/""")
    rules = sorted((Path(__file__).parents[1] / "workflow" / "rules").glob("*.smk"))
    spelled = [f"{path.name}:{number}: {line.strip()}"
               for path in rules
               for number, line in enumerate(path.read_text().splitlines(), 1)
               if literal.search(line) and not line.lstrip().startswith("#")]
    assert rules and not spelled, "\n".join(spelled)
