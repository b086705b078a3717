"""One registry of named plugin entries, shared by every kind archopt opens to plugins.

Techniques, runtimes, datasets and post-training methods are each a :class:`Registry`:
the same name check, the same refusal of a taken name (naming who holds it), the same
lookup error listing the known names, and the same check of a config list. Each kind's
package adds only what is its own (its base class, its validation, its lookups).

A registry module imports none of its plugins. It names the modules of its shipped
plugins (``shipped``), and the registry loads them through :func:`archopt.plugins.load_plugins`,
the path a user's plugin takes, the first time it is read or added to: so the shipped
entries come first (registration order is the report's order) and a package's
``__init__`` never imports the modules that import it.

Torch-free: the workflow reads every registry while Snakemake parses the DAG.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from archopt.plugins import load_plugins

Entry = TypeVar("Entry")

# Lower-case, a letter first, no "-": model and result names are split on "-".
PLAIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def origin(obj: object) -> str:
    """Where a class (or an instance's class) is defined: ``module.QualName``."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Generic[Entry]):
    """Named entries in registration order (the order reports and listings use).

    ``kind`` names an entry in messages ("technique", "runtime", ...); ``shipped`` lists
    the modules of archopt's own plugins of that kind, loaded on first use;
    ``generation`` changes with every change, so caches derived from the registry can
    key on it.
    """

    def __init__(self, kind: str, shipped: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.shipped = shipped
        self._entries: dict[str, Entry] = {}
        self._origins: dict[str, str] = {}
        self._generation = 0
        self._discovered = not shipped

    def discover(self) -> None:
        """Load the shipped plugins once, before the first read or addition.

        Marked done before loading: a shipped module registering (or reading) this
        registry must not load the list again. Undone if one fails, so the next use
        reports the failure again instead of a registry missing entries."""
        if self._discovered:
            return
        self._discovered = True
        try:
            load_plugins(self.shipped)
        except BaseException:
            self._discovered = False
            raise

    @property
    def generation(self) -> int:
        self.discover()
        return self._generation

    def check_name(self, name: object, where: str, pattern: re.Pattern[str] = PLAIN_NAME,
                   reserved: tuple[str, ...] = ()) -> str:
        """``name`` when it is a string matching ``pattern`` and not reserved, else a
        ValueError naming ``where`` (the class or object being registered)."""
        if not isinstance(name, str) or not pattern.match(name) or name in reserved:
            rule = ("lower-case letters, digits or '_', starting with a letter"
                    if pattern is PLAIN_NAME else f"a match of {pattern.pattern!r}")
            not_reserved = f", and not {', '.join(map(repr, reserved))}" if reserved else ""
            raise ValueError(f"{self.kind} {where}: name {name!r} must be {rule}{not_reserved}")
        return name

    def check_class(self, cls: object, base: type, pattern: re.Pattern[str] = PLAIN_NAME,
                    reserved: tuple[str, ...] = (), labelled: bool = False) -> str:
        """The ``name`` of a class about to be registered, after checking it subclasses
        ``base``, its name (see :meth:`check_name`) and, if ``labelled``, its ``label``."""
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{self.kind} {cls!r} is not a subclass of {base.__qualname__}")
        name = self.check_name(getattr(cls, "name", None), origin(cls), pattern, reserved)
        if labelled and not isinstance(getattr(cls, "label", None), str):
            raise TypeError(f"{self.kind} {name!r} ({origin(cls)}): 'label' must be a string")
        return name

    def add(self, name: str, entry: Entry, source: str | None = None) -> Entry:
        """Register ``entry`` under ``name``; a taken name is refused naming both holders.

        ``source`` says who registers it in messages (default: the entry's class)."""
        self.discover()
        source = source or origin(entry)
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered by "
                             f"{self._origins[name]}; {source} cannot register it again")
        self._entries[name] = entry
        self._origins[name] = source
        self._entries = dict(sorted(self._entries.items(), key=lambda item: self._rank(item[0])))
        self._generation += 1
        return entry

    def _rank(self, name: str) -> int:
        """Shipped entries first, in ``shipped`` order, whichever module was imported
        first (importing one shipped module directly loads the others from inside it);
        then the plugins' entries in registration order (the sort is stable)."""
        source = self._origins[name]
        return next((rank for rank, module in enumerate(self.shipped)
                     if source == module or source.startswith(f"{module}.")), len(self.shipped))

    def remove(self, name: str) -> None:
        """Forget ``name`` if registered (for tests, so an entry they add does not leak)."""
        if self._entries.pop(name, None) is not None:
            del self._origins[name]
            self._generation += 1

    def get(self, name: str) -> Entry:
        """The entry called ``name``; a ValueError lists the registered names otherwise."""
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}: registered {self.kind}s are "
                             f"{', '.join(self._entries)}") from None

    def check_names(self, names: Iterable[str], config_key: str) -> None:
        """Refuse a config list naming unregistered entries, naming the key and each one."""
        self.discover()
        unknown = [name for name in names if name not in self._entries]
        if unknown:
            raise ValueError(
                f"config key {config_key!r}: unknown {self.kind} "
                f"{', '.join(map(repr, unknown))}; registered {self.kind}s: "
                f"{', '.join(self._entries)} (a plugin can register more)")

    def names(self) -> list[str]:
        self.discover()
        return list(self._entries)

    def values(self) -> list[Entry]:
        self.discover()
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
