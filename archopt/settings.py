"""Reading one config section's values into a stage's typed settings.

Each stage has one frozen settings object built once from the config (``from_config``)
or from its rule's ``params`` (``job_*_settings``): the training stage's
:class:`archopt.train.settings.TrainSettings`, Pix2Pix's
:class:`archopt.gan.settings.GanSettings`, the device bundle's
:class:`archopt.device.settings.DeviceSettings`, the post-training stage's
:class:`archopt.posttrain.settings.PostTrainSettings`, the bench's
:class:`archopt.bench.settings.BenchSettings`. The JSON schema has already checked a
workflow's config; :func:`setting` only converts, and names the key where a value that
did not go through the schema (a test's, a hand-built mapping's) has the wrong type.

A job's settings are its config section with the values its rule passes as ``params``
laid over it: those are what Snakemake reruns the job on, so they are what it computes
with; the section's other keys are instructions that rerun nothing (``restart``,
``runs_per_gpu``).

Imports nothing of archopt, so that every stage's settings module may use it without an
import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

Value = TypeVar("Value", int, float, bool, str)

EXPECTED = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
EXPECTED_LIST = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def setting(section: str, values: Mapping[Any, Any], key: Any, kind: type[Value]) -> Value:
    """``values[key]`` as ``kind`` (an int is a float too; a bool is no int); ValueError
    naming ``section.key`` and what was expected otherwise."""
    return _converted(section, values, key, kind, optional=False)


def optional_setting(
    section: str, values: Mapping[Any, Any], key: Any, kind: type[Value]
) -> Value | None:
    """:func:`setting`, or None where the config says null."""
    return _converted(section, values, key, kind, optional=True)


def list_setting(
    section: str, values: Mapping[str, Any], key: str, kind: type[Value]
) -> tuple[Value, ...]:
    """``values[key]``, a list, as a tuple of ``kind``: each item as :func:`setting` reads it."""
    items = values.get(key)
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"config key '{section}.{key}' must be a list of "
                         f"{EXPECTED_LIST[kind]}, got {items!r}")
    return tuple(setting(f"{section}.{key}", dict(enumerate(items)), index, kind)
                 for index in range(len(items)))


def _converted(
    section: str, values: Mapping[Any, Any], key: Any, kind: type[Value], optional: bool
) -> Any:
    where = f"config key '{section}.{key}'"
    expected = EXPECTED[kind] + (" or null" if optional else "")
    if key not in values:
        raise ValueError(f"{where} is missing: expected {expected}")
    value = values[key]
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ValueError(f"{where} must be {expected}, got {value!r}")
