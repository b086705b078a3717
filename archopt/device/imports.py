"""Import a target device's ``run_bench.py`` results into the study.

Each measured network becomes ``results/bench/{dataset}/{model}/{device}.json`` (post-
training results: next to their local ``cpu.json``) in the format of the local devices,
after two checks: the file follows the runner's schema, and the SHA-256 the device
verified is that of the study's own deployable file, so a result for a different network
(another study, a retrained or re-exported one) never lands under this study's name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from archopt.bench.benchmark import DEVICES
from archopt.device.bundle import sha256_of
from archopt.device.run_bench import FORMAT_VERSION, RESULTS_FORMAT
from archopt.io import write_json_atomic
from archopt.paths import deployable_path, device_result_path

DEVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
RUNTIME_ENTRY = {"anyOf": [
    {  # a runtime that cannot run this file records why, as the bench stage does
        "type": "object", "required": ["skipped"], "properties": {"skipped": {"type": "string"}},
    },
    {
        "type": "object",
        "required": ["median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "ci95_ms", "n",
                     "iqr_ms", "warning", "first_ms", "load_ms", "repeats"],
        "properties": {"n": {"type": "integer", "minimum": 2},
                       "warning": {"enum": [None, "noisy", "unreliable"]}},
    },
]}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["format", "version", "bundle", "settings", "env", "networks"],
    "properties": {
        "format": {"const": RESULTS_FORMAT},
        "version": {"const": FORMAT_VERSION},
        "env": {"type": "object", "required": ["cpu_model", "architecture", "os"]},
        "settings": {"type": "object", "required": ["runtimes", "threads"],
                     "properties": {"runtimes": {"type": "array", "minItems": 1,
                                                 "items": {"type": "string"}}}},
        "networks": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["dataset", "network", "sha256", "images"],
            "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        }},
    },
}


def check_device_name(device: str) -> None:
    """A new file name next to the local devices' that none of them uses."""
    if not DEVICE_NAME.fullmatch(device) or device in DEVICES:
        raise ValueError(f"device name {device!r}: use lower-case letters, digits, '.', '_' "
                         f"or '-', and none of the local devices' names ({', '.join(DEVICES)})")


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """A runner's results file, validated; every runtime it timed has its statistics."""
    try:
        results = json.loads(Path(path).read_text())
        jsonschema.validate(results, RESULTS_SCHEMA)
        for key, entry in results["networks"].items():
            for runtime in results["settings"]["runtimes"]:
                jsonschema.validate(entry.get(runtime), RUNTIME_ENTRY)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    except jsonschema.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        raise ValueError(f"{path}: not a run_bench.py results file ({where}: "
                         f"{error.message})") from None
    return results


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
    entry = results["networks"].get(f"{dataset}/{network}")
    if entry is None:
        raise ValueError(f"the device results have no measurement of {dataset}/{network}: "
                         "run run_bench.py on the device until it completes")
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
