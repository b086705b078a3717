"""No module-level import cycle inside ``archopt``.

The graph is built from the source with ``ast``: an edge M -> T for every ``import`` or
``from ... import`` that runs when M is imported (module level, including ``try``/``if``
blocks, but not function bodies nor ``if TYPE_CHECKING:`` blocks). ``from P import n``
is an edge to ``P.n`` where that is a module, and to ``P`` unless P is a package above
the importer and every ``n`` is a submodule (P's ``__init__`` is already running then,
and only the submodules are needed). Importing a module imports the packages above it,
so those are edges as well, except the importer's own (already running).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

PACKAGE = "archopt"


def module_files(root: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` under ``root/archopt``."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run on import: not in functions, classes' methods or
    ``if TYPE_CHECKING:`` blocks."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            pending += node.orelse if _is_type_checking(node.test) else [*node.body, *node.orelse]
        elif isinstance(node, (ast.Try, ast.With, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending += child.body if isinstance(child, ast.ExceptHandler) else [child]


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - node.level + int(is_package)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _with_packages(target: str) -> list[str]:
    parts = target.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the ``archopt`` modules its module-level imports run."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        own_packages = set(_with_packages(module))
        targets: set[str] = set()
        for node in module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                parent = _resolve(module, is_package, node)
                submodules = [f"{parent}.{alias.name}" for alias in node.names]
                # From its own package, a module depending only on submodules does not
                # depend on the package's __init__ (it is already running).
                uses_parent = parent not in own_packages or not all(
                    name in files for name in submodules)
                names = [*([parent] if uses_parent else []), *submodules]
            for name in names:
                above = set(_with_packages(name)[:-1]) - own_packages
                targets.update(t for t in [*above, name] if t in files)
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each once (starting at its smallest module name)."""
    found = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target == start:
                found.append(path)
            elif target > start and target not in path:
                walk(start, target, [*path, target])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def test_archopt_has_no_module_level_import_cycle() -> None:
    found = cycles(import_graph(REPO))
    assert not found, "module-level import cycles:\n" + "\n".join(
        " -> ".join([*cycle, cycle[0]]) for cycle in found)


def test_the_cycle_finder_sees_a_cycle_through_a_package_init(tmp_path: Path) -> None:
    """The shape the registries had: a package's ``__init__`` importing, at its bottom,
    a plugin module that imports the package."""
    package = tmp_path / PACKAGE / "kind"
    package.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (package / "__init__.py").write_text("class Base: ...\nfrom archopt.kind import plugin\n")
    (package / "plugin.py").write_text(
        "from archopt.kind import Base\n"
        "def later():\n    from archopt import other\n")
    (tmp_path / PACKAGE / "other.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import archopt.kind\n")
    assert cycles(import_graph(tmp_path)) == [["archopt.kind", "archopt.kind.plugin"]]
