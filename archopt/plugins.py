"""Loading plugins: Python files or importable modules that register techniques, runtimes,
datasets or post-training methods. archopt's own plugins load through here too, by module
name, the first time their registry is used (``archopt.registry.Registry.discover``).

A plugin registers on import (``@register_technique``, ``@register_runtime``), so loading
one is importing it. A file is imported under a module name derived from its resolved
path, which makes loading the same file twice a no-op rather than a second registration.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path


class PluginError(ValueError):
    """A plugin could not be imported or registered a name that already exists."""


def load_plugins(specs: Iterable[str]) -> None:
    """Import every plugin of ``specs`` (a ``.py`` path or a module name), in order."""
    for spec in specs:
        import_plugin(spec)


def import_plugin(spec: str) -> None:
    """Import one plugin; every way its import can end other than normally is a
    :class:`PluginError` naming it, ``SystemExit`` included: a plugin calling
    ``sys.exit(0)`` made ``snakemake -n all`` exit 0 having done nothing. Only Ctrl-C
    (``KeyboardInterrupt``) goes through as itself."""
    try:
        _import(spec)
    except (PluginError, KeyboardInterrupt):
        raise
    except BaseException as error:  # any failure of foreign code is the plugin's
        raise PluginError(f"plugin {spec!r} failed to load: {_describe(error)}") from error


def _describe(error: BaseException) -> str:
    # A registry's ValueError already names the taken name and both classes.
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r}) while being imported"
    return f"{type(error).__name__}: {error}"


def _import(spec: str) -> None:
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        _import_file(Path(spec))
    else:
        importlib.import_module(spec)


def _import_file(path: Path) -> None:
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise PluginError(f"plugin {str(path)!r}: no such file")
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    name = f"archopt_plugin_{resolved.stem}_{digest}"
    if name in sys.modules:
        return
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a failed plugin may be fixed and loaded again
        raise
