"""Lint and format checks CI runs with the tests: ruff, snakefmt, snakemake --lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, snakemake_bin

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_rules_are_snakefmt_formatted():
    result = run(str(BIN / "snakefmt"), "--check", "Snakefile", "workflow")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_snakemake_lint_is_clean():
    result = run(snakemake_bin(), "--lint", "--cores", "1")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Congratulations" in output, output[-4000:]
