"""Package namespaces whose names are imported on first use.

The workflow reads names, paths and dataset facts while Snakemake parses the DAG; a
package ``__init__`` that imported its torch-based modules eagerly would put torch on
that path (seconds per ``snakemake -n``). Packages list their public names here instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
