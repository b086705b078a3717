"""The README's two set-up commands stay true (CI runs the test command verbatim), the
README stays a short guide, and every relative link of the README and docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text()
README_MAX_LINES = 320
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]

FENCE = re.compile(r"^\s*```.*?^\s*```[ \t]*$", flags=re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", flags=re.M)


def fenced_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", README, flags=re.S)


def prose(markdown: str) -> str:
    """The text outside code fences and code spans, where links and headings live."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a page (duplicates get -1, -2, ...)."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no file {linked.relative_to(REPO)})")
        elif anchor and anchor not in github_anchors(linked.read_text()):
            broken.append(f"{target} (no heading #{anchor} in {linked.relative_to(REPO)})")
    return broken


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in fenced_commands() if "pytest" in c)
    assert test_command in (REPO / ".ci/run").read_text()


def test_readme_main_command_runs_the_all_target():
    main_command = fenced_commands()[0]
    assert "pip install -e ." in main_command and "snakemake --cores 4 all" in main_command


def test_readme_is_a_short_guide():
    lines = len(README.splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move reference text "
        "to the matching page of docs/")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_page_renders_with_one_title_and_closed_fences(page):
    text = page.read_text()
    fences = re.findall(r"^\s*```", text, flags=re.M)
    assert len(fences) % 2 == 0, f"{page.name}: a code fence is not closed"
    titles = re.findall(r"^# ", FENCE.sub("", text), flags=re.M)
    assert text.startswith("# ") and len(titles) == 1, f"{page.name}: one '# title' first"


def test_every_docs_page_is_indexed():
    index = (REPO / "docs/README.md").read_text()
    missing = [p.name for p in DOCS if p.name != "README.md" and f"]({p.name})" not in index]
    assert missing == []


def test_docs_name_no_file_users_do_not_have():
    """Users get the repository only: no page cites the project's private specification."""
    private = re.compile(r"CONTRACT\.md|STUDY\.md|\.\./shared|\bshared/")
    cited = [f"{p.relative_to(REPO)}: {m.group()}" for p in PAGES
             for m in private.finditer(p.read_text())]
    assert cited == []
