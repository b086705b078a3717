"""Pick one run of the LR x batch x seed grid on validation data, and summarize it.

Selection reads validation top-1 only (ties: validation top-5, then grid order); the
test set is evaluated once, afterwards, on the selected weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archopt.train.metrics import Tally, wilson_interval

GRID_KEYS = ("lr", "batch_size", "seed", "val_top1", "val_top5", "epochs", "train_seconds")
METRICS_KEYS = (
    "model", "dataset", *GRID_KEYS, "best_epoch", "stop_reason", "device", "gpu_name",
)  # fmt: skip


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """A training run's ``metrics.json``; errors name the file and what is wrong."""
    path = Path(path)
    try:
        metrics = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable metrics.json ({error})") from None
    missing = (
        [key for key in METRICS_KEYS if key not in metrics] if isinstance(metrics, dict) else ["*"]
    )
    if missing:
        raise ValueError(f"{path}: metrics.json lacks the keys {missing}")
    return metrics


def select_run(runs: Sequence[Mapping[str, Any]]) -> int:
    """Index of the run with the best validation top-1 (then top-5; then the first)."""
    if not runs:
        raise ValueError("no training runs to select from")
    return max(range(len(runs)), key=lambda i: (runs[i]["val_top1"], runs[i]["val_top5"], -i))


def grid_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {key: metrics[key] for key in (*GRID_KEYS, "best_epoch", "stop_reason")}


def percent_interval(hits: int, total: int) -> list[float]:
    low, high = wilson_interval(hits, total)
    return [100.0 * low, 100.0 * high]


def build_summary(
    runs: Sequence[Mapping[str, Any]],
    chosen: int,
    test: Tally,
    params: int,
    storage_bytes: int,
) -> dict[str, Any]:
    """``summary.json``: the chosen run, its test accuracy with 95% Wilson intervals, the grid."""
    best = runs[chosen]
    return {
        "model": best["model"],
        "dataset": best["dataset"],
        "test_top1": test.top1,
        "test_top5": test.top5,
        "test_top1_ci95": percent_interval(test.top1_hits, test.n),
        "test_top5_ci95": percent_interval(test.top5_hits, test.n),
        "test_images": test.n,
        "params": params,
        "lr": best["lr"],
        "batch_size": best["batch_size"],
        "seed": best["seed"],
        "val_top1": best["val_top1"],
        "val_top5": best["val_top5"],
        "epochs": best["epochs"],
        "best_epoch": best["best_epoch"],
        "storage_bytes": storage_bytes,
        "train_seconds": best["train_seconds"],
        "device": best["device"],
        "gpu_name": best["gpu_name"],
        # Runs of an archopt before train.precision were fp32 (without TF32 on the CPU).
        "precision": best.get("precision", "fp32"),
        "tf32": best.get("tf32_conv", False) or best.get("tf32_matmul", False),
        "selected_by": "val_top1",
        "grid": [grid_row(run) for run in runs],
    }
