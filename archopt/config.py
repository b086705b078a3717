"""Config resolution for the workflow: config.yaml < preset overlay < command line.

Snakemake merges ``config.yaml`` with ``--configfile``/``--config`` before the
Snakefile can look, so the preset overlay is slotted in between here: the overlay of
the preset the *merged* config asks for is applied over config.yaml, then the command
line's values are applied again on top.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from archopt.datasets import CLASSIFICATION, dataset_names
from archopt.names import check_device_name, family_models
from archopt.plugins import PluginError, load_plugins
from archopt.posttrain import check_posttrain_methods
from archopt.runtimes import check_runtime_names

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
    if error.validator == "uniqueItems":
        return (f"config key '{_key_path(error)}': {first_repeat(error.instance)!r} appears more "
                "than once; each entry must be different")
    return f"config key '{_key_path(error)}': {error.message}"


def first_repeat(items: list[Any]) -> Any:
    """The first entry of ``items`` equal to an earlier one (JSON Schema's equality:
    ``1`` and ``1.0`` are the same number)."""
    seen: list[Any] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def _schema_types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in schema:
        return root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _coerce(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: _coerce(v, properties[k], root) if k in properties else v for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [_coerce(item, schema["items"], root) for item in value]
    if isinstance(value, str) and "string" not in _schema_types(schema):
        parsed = yaml.safe_load(value)
        return value if isinstance(parsed, str) else parsed
    return value


def coerce_command_line_values(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Turn strings where the schema expects numbers, booleans, null or lists into them.

    Snakemake reads nested ``--config`` values (``--config 'train={max_epochs: 7}'``) with
    YAML's base loader, which leaves every scalar a string; a plain YAML reading of those
    strings gives what the user meant.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    return _coerce(dict(config), schema, schema)


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` naming every offending key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({schema_path}):\n{lines}")


def _non_finite(value: Any, where: str) -> list[str]:
    if isinstance(value, Mapping):
        return [bad for k, v in value.items() for bad in _non_finite(v, f"{where}.{k}" if where else k)]
    if isinstance(value, list):
        return [bad for i, v in enumerate(value) for bad in _non_finite(v, f"{where}.{i}")]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"config key '{where}': {value} is not a finite number"]
    return []


def check_finite(config: Mapping[str, Any]) -> None:
    """JSON Schema's bounds let NaN and infinity through (``nan > 0`` is merely false);
    a NaN learning rate would only surface as a missing ``lr~nan`` file."""
    problems = _non_finite(config, "")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def check_dataset_names(config: Mapping[str, Any]) -> None:
    """``studies`` are registered classification datasets; ``datasets`` keys registered."""
    classification = dataset_names(CLASSIFICATION)
    for name in config["studies"]:
        if name not in classification:
            raise ValueError(
                f"config key 'studies': {name!r} is not a registered classification dataset; "
                f"registered: {', '.join(classification)}"
            )
    for name in config.get("datasets", {}):
        if name not in dataset_names():
            raise ValueError(
                f"config key 'datasets.{name}': no such dataset; registered: "
                f"{', '.join(dataset_names())} (a plugin can register more)"
            )


def check_gan_variants(variants: list[str]) -> None:
    """Raise ValueError naming every ``gan.variants`` entry that is not a generator."""
    known = family_models("pix2pix")
    unknown = [name for name in variants if name not in known]
    if unknown:
        raise ValueError(
            f"config key 'gan.variants': unknown generator {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(known)} (pix2pix-T exists for every registered technique T "
            "with an encoder_conv hook)"
        )


def check_external_devices(config: Mapping[str, Any]) -> None:
    """``bench.external_devices``: names that cannot overwrite a file archopt writes next
    to device results, each used once."""
    names: list[str] = []
    for index, entry in enumerate(config["bench"].get("external_devices", [])):
        where = f"config key 'bench.external_devices.{index}.name'"
        name = check_device_name(entry["name"], where)
        if name in names:
            raise ValueError(f"{where}: device {name!r} appears more than once; each device "
                             "must have its own name")
        names.append(name)


def load_configured_plugins(config: Mapping[str, Any]) -> None:
    """Import the files and modules of config key ``plugins``."""
    try:
        load_plugins(config.get("plugins", []))
    except PluginError as error:
        raise ConfigError(f"config key 'plugins': {error}") from None


def check_registered_names(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for a name the registries lack (``bench.runtimes``,
    ``gan.variants``).

    Not in the schema: plugins add names, so the check runs after they are imported.
    """
    try:
        check_dataset_names(config)
        check_external_devices(config)
        check_runtime_names(config["bench"]["runtimes"])
        check_gan_variants(config["gan"]["variants"])
        check_posttrain_methods(config.get("posttrain", {}).get("methods", []))
    except ValueError as error:
        raise ConfigError(f"invalid configuration:\n  - {error}") from None


def load_config_mapping(
    base: Mapping[str, Any], overrides: Mapping[str, Any], schema_path: str | Path
) -> dict[str, Any]:
    """config.yaml's content < preset < ``overrides``, coerced and validated."""
    config = coerce_command_line_values(resolve_config(base, overrides), schema_path)
    validate_config(config, schema_path)
    check_finite(config)
    load_configured_plugins(config)  # before names are looked up: plugins add names
    check_registered_names(config)
    return config


def load_config(
    config_yaml: str | Path, schema_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Resolve and validate a config the way the workflow does (for scripts and tests)."""
    base = yaml.safe_load(Path(config_yaml).read_text()) or {}
    return load_config_mapping(base, overrides or {}, schema_path)
