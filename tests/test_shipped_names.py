"""The bench and report stages name no shipped technique, dataset or post-training method.

They read the registries, so a plugin takes part exactly as a shipped entry does. The one
exception is the module stating the dissertation's own findings and flowchart: they are
claims about named techniques (DSC, Shift, Shuffle), kept as data in that one place.

Checked like a grep, on the words of every identifier and string (docstrings included)
of each module; comments are free to explain.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from archopt.datasets import DATASETS
from archopt.posttrain import METHODS
from archopt.registry import Registry
from archopt.techniques import TECHNIQUES

PACKAGE = Path(__file__).resolve().parent.parent / "archopt"
# Where the report states the dissertation's claims about named techniques.
CLAIMS_MODULE = PACKAGE / "report" / "findings.py"

CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def shipped_names(registry: Registry) -> set[str]:
    """The names of ``registry``'s shipped plugins: each shipped module is named after the
    entry it registers (checked, so a renamed plugin cannot slip out of this test)."""
    names = {module.rsplit(".", 1)[1] for module in registry.shipped}
    assert names <= set(registry.names()), (registry.kind, names, registry.names())
    return names


FORBIDDEN = frozenset(set().union(*(shipped_names(r) for r in (TECHNIQUES, DATASETS, METHODS))))


def words(text: str) -> list[str]:
    """Lower-case words of an identifier or string: split on anything not a letter or
    digit and on camelCase (``SHIFT_IMPL_KEY`` and ``ChannelShift`` both hold ``shift``)."""
    return [part.lower() for run in re.findall(r"[A-Za-z0-9]+", text)
            for part in CAMEL.split(run) if part]


# Identifiers and strings (f-strings are split into parts from Python 3.12 on).
CODE_TOKENS = {tokenize.NAME, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def named_in(source: str) -> list[tuple[int, str]]:
    """(line, word) for each forbidden word of ``source``'s identifiers and strings."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start[0], word) for token in tokens if token.type in CODE_TOKENS
            for word in words(token.string) if word in FORBIDDEN]


def offenders(stage: str) -> list[str]:
    """``path:line: word`` for each shipped name in the package ``stage``."""
    return [f"{path.relative_to(PACKAGE.parent)}:{line}: {word}"
            for path in sorted((PACKAGE / stage).rglob("*.py")) if path != CLAIMS_MODULE
            for line, word in named_in(path.read_text())]


def test_the_forbidden_words_are_the_shipped_plugins():
    assert {"shift", "dsc", "shuffle", "cifar10", "cifar100", "maps", "int8", "prune"} <= FORBIDDEN


def test_the_scan_finds_names_in_identifiers_and_strings_not_comments():
    source = ('SHIFT_IMPL_KEY = 1\nclass ChannelShuffle: ...\nx = f"resnet20-{y}+int8"\n'
              "# cifar10 in a comment explains, it does not name\nshifted = 'remaps'\n")
    assert named_in(source) == [(1, "shift"), (2, "shuffle"), (3, "int8")]


def test_the_bench_stage_names_no_shipped_plugin():
    assert offenders("bench") == []


def test_the_report_names_no_shipped_plugin_outside_its_findings():
    assert offenders("report") == []
