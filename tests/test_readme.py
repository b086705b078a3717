"""The README's two set-up commands stay true: CI runs the test command verbatim."""

from __future__ import annotations

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def fenced_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in fenced_commands() if "pytest" in c)
    assert test_command in (REPO / ".ci/run").read_text()


def test_readme_main_command_runs_the_all_target():
    main_command = fenced_commands()[0]
    assert "pip install -e ." in main_command and "snakemake --cores 4 all" in main_command
