"""Single-image timing loops, the same for every runtime.

A *runner* (what a runtime's ``load`` returns) maps one image (a float32 array of shape
(1, C, H, W) in host memory) to its logits in host memory. Every runtime is timed the
same way: from the host input to the host output, one ``time.perf_counter_ns`` pair
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
    run: Runner, images: np.ndarray, warmup: int, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Time ``run`` on every image, one at a time; returns (nanoseconds, stacked logits)."""
    warm_up(run, images, warmup)
    samples = np.empty(len(images), dtype=np.int64)
    outputs = []
    for index in range(len(images)):
        image = images[index : index + 1]
        start = time.perf_counter_ns()
        logits = run(image)
        samples[index] = time.perf_counter_ns() - start
        outputs.append(logits[0])
        if progress is not None:
            progress(index + 1)
    return samples, np.stack(outputs)


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
    """A progress callback logging done/total, elapsed time and ETA at most every ``every_s``."""
    started = time.monotonic()
    last = started

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_s and done < total:
            return
        last = now
        elapsed = now - started
        eta = elapsed / done * (total - done)
        log.info("%s: %d/%d images, %.0f s elapsed, ETA %.0f s", label, done, total, elapsed, eta)

    return report
