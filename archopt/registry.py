"""One registry of named plugin entries, shared by every kind archopt opens to plugins.

Techniques, runtimes, datasets and post-training methods are each a :class:`Registry`:
the same name check, the same refusal of a taken name (naming who holds it), the same
lookup error listing the known names, and the same check of a config list. Each kind's
package adds only what is its own (its base class, its validation, its lookups).

Torch-free: the workflow reads every registry while Snakemake parses the DAG.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

Entry = TypeVar("Entry")

# Lower-case, a letter first, no "-": model and result names are split on "-".
PLAIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def origin(obj: object) -> str:
    """Where a class (or an instance's class) is defined: ``module.QualName``."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Generic[Entry]):
    """Named entries in registration order (the order reports and listings use).

    ``kind`` names an entry in messages ("technique", "runtime", ...); ``generation``
    changes with every change, so caches derived from the registry can key on it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._origins: dict[str, str] = {}
        self.generation = 0

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
        source = source or origin(entry)
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered by "
                             f"{self._origins[name]}; {source} cannot register it again")
        self._entries[name] = entry
        self._origins[name] = source
        self.generation += 1
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` if registered (for tests, so an entry they add does not leak)."""
        if self._entries.pop(name, None) is not None:
            del self._origins[name]
            self.generation += 1

    def get(self, name: str) -> Entry:
        """The entry called ``name``; a ValueError lists the registered names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}: registered {self.kind}s are "
                             f"{', '.join(self._entries)}") from None

    def check_names(self, names: Iterable[str], config_key: str) -> None:
        """Refuse a config list naming unregistered entries, naming the key and each one."""
        unknown = [name for name in names if name not in self._entries]
        if unknown:
            raise ValueError(
                f"config key {config_key!r}: unknown {self.kind} "
                f"{', '.join(map(repr, unknown))}; registered {self.kind}s: "
                f"{', '.join(self._entries)} (a plugin can register more)")

    def names(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[Entry]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))
