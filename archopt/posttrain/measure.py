"""Timing several candidate models of one network side by side, and scoring their outputs.

The int8 recipes of a network are compared with its fp32 export in the same runtime;
their latencies differ by tens of percent, about as much as a shared machine drifts in a
minute, so every image is run through every candidate in turn (the order rotating per
image) rather than one candidate after another: drift then hits all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from archopt.bench.settings import BenchSettings
from archopt.bench.stats import latency_stats
from archopt.bench.timing import warm_up
from archopt.runtimes import Runner
from archopt.train.metrics import wilson_interval


def time_interleaved(runners: Mapping[str, Runner], images: np.ndarray, protocol: BenchSettings
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """key -> (nanoseconds per query, outputs of the first pass, one row per image).

    Every query is run by every runner in turn, with the bench stage's ``protocol`` (the
    settings every network of the study is timed with): ``warmup`` queries each, then
    queries cycle over the images until at least ``min_queries`` were timed per runner
    and ``min_duration_s`` seconds have passed since the first."""
    keys = list(runners)
    for run in runners.values():
        warm_up(run, images, protocol.warmup)
    samples: dict[str, list[int]] = {key: [] for key in keys}
    outputs: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    started = time.perf_counter_ns()
    min_duration_ns = int(protocol.min_duration_s * 1e9)
    query = 0
    while (query < max(len(images), protocol.min_queries)
           or time.perf_counter_ns() - started < min_duration_ns):
        image = images[query % len(images) : query % len(images) + 1]
        for offset in range(len(keys)):
            key = keys[(query + offset) % len(keys)]
            start = time.perf_counter_ns()
            logits = runners[key](image)
            samples[key].append(time.perf_counter_ns() - start)
            if query < len(images):
                outputs[key].append(logits[0])
        query += 1
    return {key: (np.asarray(samples[key], dtype=np.int64), np.stack(outputs[key]))
            for key in keys}


def accuracy_of(logits: np.ndarray, labels: np.ndarray) -> dict[str, float | list[float]]:
    """``top1``/``top5`` (percent) with their 95% Wilson intervals, as bench entries hold them."""
    ranked = np.argsort(-logits, axis=1, kind="stable")
    result: dict[str, float | list[float]] = {}
    for metric, k in (("top1", 1), ("top5", min(5, logits.shape[1]))):
        hits = int((ranked[:, :k] == labels[:, None]).any(axis=1).sum())
        low, high = wilson_interval(hits, len(labels))
        result[metric] = 100.0 * hits / len(labels)
        result[f"{metric}_ci95"] = [100.0 * low, 100.0 * high]
    return result


def candidate_result(samples: np.ndarray, logits: np.ndarray, labels: np.ndarray
                     ) -> dict[str, float | int | list[float]]:
    """Latency statistics and accuracy of one candidate (a bench entry's fields)."""
    return latency_stats(samples) | accuracy_of(logits, labels)
