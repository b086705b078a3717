"""Config resolution for the workflow: config.yaml < preset overlay < command line.

Snakemake merges ``config.yaml`` with ``--configfile``/``--config`` before the
Snakefile can look, so the preset overlay is slotted in between here: the overlay of
the preset the *merged* config asks for is applied over config.yaml, then the command
line's values are applied again on top.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PRESETS = ("paper", "quick")


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names the key."""


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; lists and scalars of ``overlay`` replace those of ``base``."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def preset_overlay(preset: str) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ConfigError(f"config key 'preset': {preset!r} is not one of {PRESETS}")
    text = resources.files("archopt.presets").joinpath(f"{preset}.yaml").read_text()
    return yaml.safe_load(text) or {}


def resolve_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """config.yaml (``base``) < overlay of the chosen preset < command line (``overrides``)."""
    preset = overrides.get("preset", base.get("preset", "paper"))
    return deep_merge(deep_merge(base, preset_overlay(preset)), overrides)


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = _key_path(error)
        names = ", ".join(f"'{k}'" if where == "<top level>" else f"'{where}.{k}'" for k in extra)
        return f"unknown config key {names}; allowed here: {', '.join(allowed)}"
    if error.validator == "required":
        return f"config key '{_key_path(error)}': {error.message}"
    return f"config key '{_key_path(error)}': {error.message}"


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` naming every offending key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({schema_path}):\n{lines}")


def load_config(
    config_yaml: str | Path, schema_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Resolve and validate a config the way the workflow does (for scripts and tests)."""
    base = yaml.safe_load(Path(config_yaml).read_text()) or {}
    config = resolve_config(base, overrides or {})
    validate_config(config, schema_path)
    return config
