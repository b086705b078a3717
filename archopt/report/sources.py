"""Readers for every file the report aggregates.

Each reader checks what it relies on and fails with a :class:`ReportInputError` naming
the file, the key and what was expected, so a broken upstream output is found at once
instead of surfacing as a wrong number in the report.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from archopt.runtimes import BENCH_HEADER_KEYS, list_runtimes

CATALOG_COLUMNS = ("name", "family", "technique", "scaling", "width_factor", "params", "macs",
                   "state_dict_bytes")
SEARCH_COLUMNS = ("kind", "depth", "technique", "target_params", "model", "factor", "params",
                  "rel_gap")
PAPER_COLUMNS = ("table", "dataset", "model", "acc_metric", "acc", "acc_ci", "params", "gpu_ms",
                 "gpu_std", "cpu_ms", "cpu_std", "perceptual_error")
STUDY_COLUMNS = ("model", "volunteers", "images", "error_rate")
SUMMARY_KEYS = ("model", "dataset", "test_top1", "test_top5", "params", "storage_bytes")
RUNTIME_KEYS = ("mean_ms", "std_ms", "n")
GAN_KEYS = ("model", "pixel_acc", "params")
# Who a bench file is about: every writer puts these at its top (the bench stage, its
# skipped-device variant, the post-training stage's cpu.json, an imported device's file).
BENCH_HEADER = ("model", "dataset", "device")


class ReportInputError(ValueError):
    """An input of the report is missing, malformed or inconsistent; the message names it."""


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportInputError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:  # json's parser recurses once per nesting level
        raise ReportInputError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_csv(path: str | os.PathLike, columns: tuple[str, ...]) -> pd.DataFrame:
    """A CSV file that must have at least ``columns``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ReportInputError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ReportInputError(f"{path}: not a readable CSV file ({error})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected at least {', '.join(columns)}"
        )
    return frame


def require_keys(record: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise ReportInputError(f"{where}: missing key(s) {', '.join(missing)}")


def identity(record: dict[str, Any], keys: tuple[str, ...], where: str) -> tuple[str, ...]:
    """``record``'s values of ``keys``, each required to be a non-empty string: what a
    result says it is about (the report never reads that from the file's path)."""
    require_keys(record, keys, where)
    for key in keys:
        value = record[key]
        if not isinstance(value, str) or not value:
            raise ReportInputError(f"{where}: key {key!r} must be a non-empty string, "
                                   f"got {value!r}")
    return tuple(record[key] for key in keys)


def number(record: dict[str, Any], key: str, where: str) -> float | None:
    """``record[key]`` as a float; None where the key is absent or null."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportInputError(f"{where}: key {key!r} must be a number, got {value!r}")
    return float(value)


def interval(record: dict[str, Any], key: str, where: str, centre: float | None = None
             ) -> tuple[float, float] | None:
    """A 95% interval given either as ``[low, high]`` or as a half-width around ``centre``."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        low, high = float(value[0]), float(value[1])
        if low > high:
            raise ReportInputError(f"{where}: key {key!r} has low > high: {value!r}")
        return low, high
    if isinstance(value, (int, float)) and not isinstance(value, bool) and centre is not None:
        return centre - float(value), centre + float(value)
    expected = "[low, high]" if centre is None else "[low, high] or a half-width"
    raise ReportInputError(f"{where}: key {key!r} must be {expected}, got {value!r}")


def read_catalog(path: str | os.PathLike) -> pd.DataFrame:
    return read_csv(path, CATALOG_COLUMNS)


def read_search(path: str | os.PathLike) -> pd.DataFrame:
    return read_csv(path, SEARCH_COLUMNS)


def read_paper(path: str | os.PathLike) -> pd.DataFrame:
    return read_csv(path, PAPER_COLUMNS)


def read_study_results(path: str | os.PathLike) -> pd.DataFrame:
    """The perceptual study's per-network results (error_rate as a fraction in [0, 1])."""
    frame = read_csv(path, STUDY_COLUMNS)
    bad = frame[(frame["error_rate"] < 0) | (frame["error_rate"] > 1)]
    if len(bad):
        raise ReportInputError(
            f"{path}: error_rate must be a fraction in [0, 1], got {bad['error_rate'].tolist()}"
        )
    return frame


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """A selected training run (``results/models/{dataset}/{model}/summary.json``)."""
    summary = read_json(path)
    require_keys(summary, SUMMARY_KEYS, str(path))
    identity(summary, ("model", "dataset"), str(path))
    for key in ("test_top1", "test_top5", "params", "storage_bytes"):
        number(summary, key, str(path))
    return summary


def read_gan_summary(path: str | os.PathLike) -> dict[str, Any]:
    """A trained generator (``results/gan/{dataset}/{model}/summary.json``): ``model`` names it;
    ``dataset``, where given, must be a string (the generators' writer leaves it out: they
    all train on the paired-image dataset)."""
    summary = read_json(path)
    require_keys(summary, GAN_KEYS, str(path))
    identity(summary, ("model",), str(path))
    if "dataset" in summary:
        identity(summary, ("dataset",), str(path))
    number(summary, "pixel_acc", str(path))
    return summary


def read_bench(path: str | os.PathLike) -> dict[str, Any]:
    """A benchmark file (``results/bench/{dataset}/{model}/{device}.json`` or any other
    place: what it is about comes from its header, :data:`BENCH_HEADER`).

    The header, then either ``{"skipped": reason, "env": {...}}`` for a device that is
    absent, or one object per runtime (each itself possibly ``{"skipped": reason}``) plus
    ``env`` and ``storage``.
    """
    bench = read_json(path)
    identity(bench, BENCH_HEADER, str(path))
    if "skipped" in bench:
        if not isinstance(bench["skipped"], str):
            raise ReportInputError(f"{path}: key 'skipped' must be a string (the reason)")
        return bench
    runtimes = runtimes_present(bench)
    if not runtimes:
        raise ReportInputError(f"{path}: no runtime object (e.g. 'eager') and no 'skipped' reason")
    for runtime in runtimes:
        entry = bench[runtime]
        where = f"{path}: runtime {runtime!r}"
        if not_measured(entry) is None:
            require_keys(entry, RUNTIME_KEYS, where)
            for key in RUNTIME_KEYS:
                value = number(entry, key, where)
                if value is None or math.isnan(value):
                    raise ReportInputError(f"{where}: key {key!r} must be a number, got null")
    return bench


def not_measured(entry: dict[str, Any]) -> str | None:
    """Why a runtime's object holds no timings: ``skipped: reason`` (it cannot run there)
    or ``failed: reason`` (it raised, crashed or disagreed with eager); None when it has them."""
    return next((f"{key}: {entry[key]}" for key in ("skipped", "failed") if key in entry), None)


def runtimes_present(bench: dict[str, Any]) -> list[str]:
    """The runtimes a bench file has an object for (timings or a skip reason)."""
    # Besides one object per runtime the file holds header values (model, images, ...).
    return [k for k, v in bench.items() if isinstance(v, dict) and k not in BENCH_HEADER_KEYS]


def bench_runtimes(bench: dict[str, Any], configured: Sequence[str] = ()) -> list[str]:
    """The runtimes to report for a bench file: ``configured`` (every registered one when
    empty), so a skipped device or runtime still gets its rows, then any other it holds."""
    return list(dict.fromkeys([*(configured or list_runtimes()), *runtimes_present(bench)]))


def bench_identity(bench: dict[str, Any]) -> tuple[str, str, str]:
    """(dataset, model, device) of a bench file read by :func:`read_bench`."""
    return bench["dataset"], bench["model"], bench["device"]


def is_imported(bench: dict[str, Any]) -> bool:
    """Whether a bench file is a target device's, imported from ``run_bench.py``'s results
    (``archopt device import`` records that in its ``env``), rather than the bench stage's."""
    env = bench.get("env")
    return isinstance(env, dict) and "imported_from" in env


def unique(keys: list[tuple[tuple[str, ...], str | os.PathLike]], what: str) -> None:
    """Refuse two input files that say they hold the same result (a copied or misplaced file
    would otherwise silently replace another network's numbers)."""
    seen: dict[tuple[str, ...], str | os.PathLike] = {}
    for key, path in keys:
        if key in seen:
            raise ReportInputError(f"{path}: holds the same {what} as {seen[key]} "
                                   f"({', '.join(key)})")
        seen[key] = path
