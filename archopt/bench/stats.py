"""Summary statistics of per-image latencies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

# Two-sided 95% quantile of the standard normal. A benchmark times hundreds to 10,000
# images, where Student's t quantile is within 0.6% of it (t_{0.975, 199} = 1.972).
Z_95 = NormalDist().inv_cdf(0.975)


def latency_stats(samples_ns: Sequence[int] | np.ndarray) -> dict[str, float | int]:
    """Median, mean, std (ddof=1), p90, p99 and the 95% CI half-width of the mean, in ms.

    Percentiles interpolate linearly between order statistics (numpy's default), and the
    confidence interval is ``mean +- ci95_ms`` with ``ci95_ms = 1.96 * std / sqrt(n)``.
    """
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.ndim != 1 or ms.size < 2:
        raise ValueError(f"latency statistics need at least 2 timings, got {ms.size}")
    std = float(ms.std(ddof=1))
    return {
        "median_ms": float(np.median(ms)),
        "mean_ms": float(ms.mean()),
        "std_ms": std,
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "ci95_ms": Z_95 * std / math.sqrt(ms.size),
        "n": int(ms.size),
    }


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Percentage of rows whose label is among the ``k`` largest logits."""
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} outputs for {labels.shape[0]} labels")
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean() * 100)
