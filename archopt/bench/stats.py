"""Summary statistics of per-image latencies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

# Two-sided 95% quantile of the standard normal. A benchmark times hundreds to 10,000
# images, where Student's t quantile is within 0.6% of it (t_{0.975, 199} = 1.972).
Z_95 = NormalDist().inv_cdf(0.975)
# IQR / median above which a runtime's timings are flagged, as torch.utils.benchmark warns
# on a high spread: past 10% a difference of a few percent is noise, past 25% the median
# itself moves between runs.
WARNINGS = ((0.25, "unreliable"), (0.10, "noisy"))


def spread_warning(iqr_ms: float, median_ms: float) -> str | None:
    """``unreliable`` when IQR / median > 25%, ``noisy`` when > 10%, else None."""
    ratio = iqr_ms / median_ms if median_ms > 0 else 0.0
    return next((label for bound, label in WARNINGS if ratio > bound), None)


def latency_stats(samples_ns: Sequence[int] | np.ndarray) -> dict[str, float | int]:
    """Median, mean, std (ddof=1), p90, p99, IQR and the 95% CI half-width of the mean, in ms.

    Percentiles interpolate linearly between order statistics (numpy's default), the
    confidence interval is ``mean +- ci95_ms`` with ``ci95_ms = 1.96 * std / sqrt(n)``,
    and ``warning`` is :func:`spread_warning` of the IQR (null when the spread is low).
    """
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.ndim != 1 or ms.size < 2:
        raise ValueError(f"latency statistics need at least 2 timings, got {ms.size}")
    std = float(ms.std(ddof=1))
    median = float(np.median(ms))
    q1, q3 = np.percentile(ms, [25, 75])
    iqr = float(q3 - q1)
    return {
        "median_ms": median,
        "mean_ms": float(ms.mean()),
        "std_ms": std,
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "ci95_ms": Z_95 * std / math.sqrt(ms.size),
        "n": int(ms.size),
        "iqr_ms": iqr,
        "warning": spread_warning(iqr, median),
    }


def between_processes(process_medians_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Spread of the per-process medians of ``bench.repeats`` fresh processes.

    ``std_ms`` (ddof=1) is between processes, unlike ``latency_stats``' std across images;
    null for a single process.
    """
    medians = np.asarray(process_medians_ms, dtype=np.float64)
    if medians.ndim != 1 or medians.size < 1:
        raise ValueError("between-process statistics need at least one process median")
    return {
        "processes": int(medians.size),
        "median_ms": float(np.median(medians)),
        "std_ms": float(medians.std(ddof=1)) if medians.size > 1 else None,
        "min_ms": float(medians.min()),
        "max_ms": float(medians.max()),
    }


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Percentage of rows whose label is among the ``k`` largest logits."""
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} outputs for {labels.shape[0]} labels")
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean() * 100)
