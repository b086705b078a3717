"""Single-image timing loops, the same for every runtime.

A *runner* (what a runtime's ``load`` returns) takes one image (a float32 array of
shape (1, C, H, W) in host memory) and returns its logits in host memory. Every runtime
is timed the same way: from the host input to the host output, one ``time.perf_counter_ns`` pair
around each call, so on a GPU the copies in and out are part of every timing, as they
are for a deployed model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from archopt.runtimes import Runner

Progress = Callable[[int], None]


def warm_up(run: Runner, images: np.ndarray, runs: int) -> None:
    """Untimed calls cycling over the first images (allocators, kernels, caches settle)."""
    for index in range(runs):
        run(images[index % len(images)][None])


def time_images(
    run: Runner,
    images: np.ndarray,
    warmup: int,
    progress: Progress | None = None,
    min_queries: int = 0,
    min_duration_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Time ``run`` one image at a time; returns (nanoseconds per query, logits per image).

    Every image is timed at least once; like MLPerf's single-stream scenario, timing then
    goes on cycling over the images until at least ``min_queries`` queries were timed
    and ``min_duration_s`` seconds have passed since the first. Logits are those of the
    first pass (one row per image).
    """
    warm_up(run, images, warmup)
    samples: list[int] = []
    outputs = []
    started = time.perf_counter_ns()
    min_duration_ns = int(min_duration_s * 1e9)
    while (len(samples) < max(len(images), min_queries)
           or time.perf_counter_ns() - started < min_duration_ns):
        index = len(samples) % len(images)
        image = images[index : index + 1]
        start = time.perf_counter_ns()
        logits = run(image)
        samples.append(time.perf_counter_ns() - start)
        if len(outputs) < len(images):
            outputs.append(logits[0])
        if progress is not None:
            progress(len(samples))
    return np.asarray(samples, dtype=np.int64), np.stack(outputs)


def load_timed(
    load: Callable[[], Runner], first: np.ndarray, compiles_on_first_call: bool
) -> tuple[Runner, float, float]:
    """``(runner, load_ms, first_ms)``: ``load()`` timed, then its first inference on ``first``.

    For a runtime that compiles on its first call, that call is part of ``load_ms`` and
    ``first_ms`` is the call after it.
    """
    start = time.perf_counter_ns()
    run = load()
    if compiles_on_first_call:
        run(first)
    load_ms = (time.perf_counter_ns() - start) / 1e6
    start = time.perf_counter_ns()
    run(first)
    return run, load_ms, (time.perf_counter_ns() - start) / 1e6


def median_ms_interleaved(
    runners: dict[str, Runner], images: np.ndarray, warmup: int, rounds: int = 3, runs: int = 10
) -> dict[str, float]:
    """Median latency (ms) of each runner, alternating between them in ``rounds``.

    Alternating spreads the drift of a shared machine over all candidates instead of
    penalising whichever ran during a busy spell.
    """
    samples: dict[str, list[int]] = {key: [] for key in runners}
    for run in runners.values():
        warm_up(run, images, warmup)
    for _ in range(rounds):
        for key, run in runners.items():
            for index in range(runs):
                image = images[index % len(images)][None]
                start = time.perf_counter_ns()
                run(image)
                samples[key].append(time.perf_counter_ns() - start)
    return {key: float(np.median(values)) / 1e6 for key, values in samples.items()}


def fastest(timings_ms: dict[str, float]) -> str:
    return min(timings_ms, key=timings_ms.__getitem__)


def progress_logger(
    log: logging.Logger, label: str, total: int, every_s: float = 10.0
) -> Progress:
    """A progress callback logging done/total, elapsed time and ETA at most every ``every_s``,
    and once when ``total`` is reached (timing may go on past it, until ``min_duration_s``)."""
    started = time.monotonic()
    last = started

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_s and done != total:
            return
        last = now
        elapsed = now - started
        eta = elapsed / done * max(total - done, 0)
        log.info("%s: %d/%d images, %.0f s elapsed, ETA %.0f s", label, done, total, elapsed, eta)

    return report


# A fixed computation whose time depends on nothing but the machine: single-threaded in
# every numpy build, under a millisecond, like a small network's query.
JITTER_REFERENCE = "numpy sort of 262,144 float32 numbers"
JITTER_SECONDS = 0.5


def machine_jitter(duration_s: float = JITTER_SECONDS) -> dict[str, float]:
    """The machine's own timing jitter, measured where the runtimes are timed: the
    reference computation timed query by query for ``duration_s``; its interquartile
    range over median (``iqr_ratio``) is what the same machine adds to any runtime's."""
    values = np.random.default_rng(0).random(262_144, dtype=np.float32)
    np.sort(values)  # untimed: page in the copy's buffer
    samples = []
    started = time.perf_counter_ns()
    while time.perf_counter_ns() - started < duration_s * 1e9:
        start = time.perf_counter_ns()
        np.sort(values)
        samples.append(time.perf_counter_ns() - start)
    q1, median, q3 = np.percentile(np.asarray(samples) / 1e6, [25, 50, 75])
    return {"median_ms": float(median), "iqr_ratio": float((q3 - q1) / median),
            "n": len(samples)}
