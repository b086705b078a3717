"""Import a target device's ``run_bench.py`` results into the study.

Each measured network becomes ``results/bench/{dataset}/{model}/{device}.json`` (post-
training results: next to their local ``cpu.json``) in the format of the local devices,
after two checks: the file follows the runner's schema, and the SHA-256 the device
verified is that of the study's own deployable file, so a result for a different network
(another study, a retrained or re-exported one) never lands under this study's name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from archopt.datasets import dataset_names
from archopt.device.bundle import sha256_of
from archopt.device.run_bench import FORMAT_VERSION, RESULTS_FORMAT
from archopt.io import write_json_atomic
from archopt.names import check_device_name, parse_name
from archopt.paths import deployable_path, device_result_path
from archopt.posttrain import SEPARATOR, SPEC_PATTERN
from archopt.runtimes import BENCH_HEADER_KEYS, RUNTIME_NAME

# Times and their spreads: a duration is a finite number of at least 0 (NaN and infinity
# are refused while parsing, see _finite_float).
DURATION = {"type": "number", "minimum": 0}
DURATION_KEYS = ("median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "ci95_ms", "iqr_ms",
                 "first_ms", "load_ms")
# A runtime that cannot run a file records why, as the bench stage does; else its timings.
RUNTIME_SKIPPED = {"type": "object", "properties": {"skipped": {"type": "string"},
                                                    "failed": {"type": "string"}}}
RUNTIME_TIMINGS = {
    "type": "object",
    "required": [*DURATION_KEYS, "n", "warning", "repeats"],
    "properties": {"n": {"type": "integer", "minimum": 2},
                   "repeats": {"type": "integer", "minimum": 1},
                   "warning": {"enum": [None, "noisy", "unreliable"]},
                   **dict.fromkeys(DURATION_KEYS, DURATION)},
}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["format", "version", "bundle", "settings", "env", "networks"],
    "properties": {
        "format": {"const": RESULTS_FORMAT},
        "version": {"const": FORMAT_VERSION},
        "env": {"type": "object", "required": ["cpu_model", "architecture", "os"]},
        "settings": {"type": "object", "required": ["runtimes", "threads"],
                     "properties": {
                         # a runtime's name becomes a key of the bench record, next to
                         # its header keys: "model" would overwrite the network's name
                         "runtimes": {"type": "array", "minItems": 1, "uniqueItems": True,
                                      "items": {"type": "string",
                                                "pattern": RUNTIME_NAME.pattern,
                                                "not": {"enum": list(BENCH_HEADER_KEYS)}}},
                         "threads": {"type": "integer", "minimum": 1}}},
        "networks": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["dataset", "network", "sha256", "images"],
            "properties": {"dataset": {"type": "string"}, "network": {"type": "string"},
                           "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "images": {"type": "integer", "minimum": 1}},
        }},
    },
}


def _finite_float(text: str) -> float:
    """json's number hook: ``1e999`` would be infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


def _no_constant(name: str) -> float:
    """json's hook for NaN, Infinity and -Infinity, which Python reads by default."""
    raise ValueError(f"{name} is not a number")


def parse_json(path: str | os.PathLike) -> Any:
    """The JSON of ``path`` with finite numbers only; ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text(), parse_float=_finite_float,
                          parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    except RecursionError:  # json's parser recurses once per nesting level
        raise ValueError(f"{path}: not a run_bench.py results file (JSON nested too "
                         "deeply)") from None
    except ValueError as error:  # from the hooks
        raise ValueError(f"{path}: not a run_bench.py results file ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """A runner's results file, validated; every runtime it timed has its statistics."""
    results = parse_json(path)
    try:
        jsonschema.validate(results, RESULTS_SCHEMA)
        for key, entry in results["networks"].items():
            for runtime in results["settings"]["runtimes"]:
                _validate_at(entry.get(runtime), runtime_schema(entry.get(runtime)),
                             ["networks", key, runtime])
    except jsonschema.ValidationError as error:
        raise ValueError(f"{path}: not a run_bench.py results file ({_where(error)}: "
                         f"{_message(error)})") from None
    return results


def runtime_schema(entry: Any) -> Mapping[str, Any]:
    """The schema of a runtime's object: a skip or failure reason, or timings."""
    untimed = isinstance(entry, dict) and ("skipped" in entry or "failed" in entry)
    return RUNTIME_SKIPPED if untimed else RUNTIME_TIMINGS


def _validate_at(instance: Any, schema: Mapping[str, Any], where: list[str]) -> None:
    """Validate ``instance``, its errors placed at ``where`` in the whole file."""
    try:
        jsonschema.validate(instance, schema)
    except jsonschema.ValidationError as error:
        error.path.extendleft(reversed(where))
        raise


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(map(str, error.absolute_path)) or "top level"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "not":  # "'model' should not be valid under {...}"
        return f"{error.instance!r} is a reserved name (one of {', '.join(BENCH_HEADER_KEYS)})"
    return error.message[:200]


def check_study_names(dataset: str, network: str) -> None:
    """Names from a results file become path parts only once they are names this study
    can have: a registered dataset, a canonical model name and a post-training spec
    (never ``..`` or a folder separator)."""
    if dataset not in dataset_names():
        raise ValueError(f"the device results name dataset {dataset!r:.80}, not one of this "
                         f"study's ({', '.join(dataset_names())})")
    model, _, spec = network.partition(SEPARATOR)
    try:
        canonical = parse_name(model).name
    except ValueError:
        canonical = None
    if canonical != model or (SEPARATOR in network and not SPEC_PATTERN.match(spec)):
        raise ValueError(f"the device results name network {network!r:.80}, which is not a "
                         "network name of this study")


def bench_record(results: Mapping[str, Any], entry: Mapping[str, Any], device: str,
                 size: int) -> dict[str, Any]:
    """The local devices' bench format: header, one object per runtime, env, storage."""
    runtimes = results["settings"]["runtimes"]
    provenance = {"imported_from": "run_bench.py", "bundle": results["bundle"],
                  "sha256": entry["sha256"], "settings": results["settings"]}
    return {"model": entry["network"], "dataset": entry["dataset"], "device": device,
            "images": entry["images"], **{runtime: entry[runtime] for runtime in runtimes},
            "env": {**results["env"], **provenance}, "storage": {"onnx_bytes": size}}


def checked_entry(results: Mapping[str, Any], dataset: str, network: str,
                  root: str | os.PathLike) -> tuple[Mapping[str, Any], Path]:
    """The network's entry and this study's file of it, refused unless their SHA-256 match."""
    check_study_names(dataset, network)
    entry = results["networks"].get(f"{dataset}/{network}")
    if entry is None:
        raise ValueError(f"the device results have no measurement of {dataset}/{network}: "
                         "run run_bench.py on the device until it completes")
    if (entry["dataset"], entry["network"]) != (dataset, network):
        raise ValueError(f"the device results' entry {dataset}/{network} names "
                         f"{entry['dataset']!r:.80}/{entry['network']!r:.80} inside: not "
                         "a file run_bench.py wrote")
    study_file = Path(root) / deployable_path(dataset, network)
    if not study_file.is_file():
        raise ValueError(f"network {dataset}/{network} of the device results is not in this "
                         f"study (no {study_file})")
    if sha256_of(study_file) != entry["sha256"]:
        raise ValueError(f"network {dataset}/{network}: the device measured a different file "
                         f"than this study's {study_file} (SHA-256 differs): results from "
                         "another bundle; measure this study's bundle")
    return entry, study_file


def write_record(results: Mapping[str, Any], entry: Mapping[str, Any], study_file: Path,
                 device: str, root: str | os.PathLike) -> Path:
    out = Path(root) / device_result_path(entry["dataset"], entry["network"], device)
    write_json_atomic(out, bench_record(results, entry, device, study_file.stat().st_size))
    return out


def import_network(results_path: str | os.PathLike, dataset: str, network: str, device: str,
                   root: str | os.PathLike = ".") -> Path:
    """Import one network (the workflow's job per network and device)."""
    check_device_name(device)
    results = read_results(results_path)
    entry, study_file = checked_entry(results, dataset, network, root)
    return write_record(results, entry, study_file, device, root)


def import_results(path: str | os.PathLike, device: str, root: str | os.PathLike = "."
                   ) -> list[Path]:
    """Import every network of a results file; all are checked before any is written."""
    check_device_name(device)
    results = read_results(path)
    checked = [checked_entry(results, e["dataset"], e["network"], root)
               for e in results["networks"].values()]
    return [write_record(results, entry, study_file, device, root)
            for entry, study_file in checked]
