"""How every benchmark of a study is run: one typed object, built once from the config.

The bench stage and the post-training stage (every compressed network it produces)
take the same :class:`BenchSettings`, so every network of the study, compressed or not,
is timed with one protocol. Torch-free: the workflow can build it while it is parsed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archopt.exclusive import runtime_threads
from archopt.runtimes import check_runtime_names, list_runtimes

# The protocol fields each timed runtime's entry of a bench JSON records (``repeats``
# among them), so that files can be compared on how they were measured.
PROTOCOL_KEYS = ("warmup", "min_queries", "min_duration_s", "repeats")


@dataclass(frozen=True)
class BenchSettings:
    """How to benchmark (the ``bench`` config section plus the job's threads)."""

    threads: int = 1
    warmup: int = 10
    # Every registered runtime unless the config names some.
    runtimes: tuple[str, ...] = field(default_factory=lambda: tuple(list_runtimes()))
    atol: float = 1e-3
    # Timing goes on over the images (cycling) until both are reached (MLPerf single-stream).
    min_queries: int = 0
    min_duration_s: float = 0.0
    # Fresh processes per runtime; 1 = timed in the job's one worker process.
    repeats: int = 1
    # The config's plugins, imported in each worker process so their runtimes exist there.
    plugins: tuple[str, ...] = ()
    # The first N test images (None: all of them).
    images: int | None = None

    def __post_init__(self) -> None:
        check_runtime_names(self.runtimes)
        if self.repeats < 1:
            raise ValueError(f"config key 'bench.repeats' must be at least 1, got {self.repeats}")
        if not math.isfinite(self.min_duration_s) or self.min_duration_s < 0:
            raise ValueError("config key 'bench.min_duration_s' must be a finite number >= 0, "
                             f"got {self.min_duration_s}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], threads: int | None = None) -> BenchSettings:
        """The settings of a validated config. ``threads``: the job's (Snakemake caps a
        rule's threads at ``--cores``); runtimes use ``bench.threads``, at most that many."""
        bench = config["bench"]
        return cls(
            threads=bench["threads"] if threads is None else runtime_threads(config, threads),
            warmup=bench["warmup"],
            runtimes=tuple(bench["runtimes"]),
            atol=float(bench["atol"]),
            min_queries=bench["min_queries"],
            min_duration_s=float(bench["min_duration_s"]),
            repeats=bench["repeats"],
            plugins=tuple(config.get("plugins") or ()),
            images=bench.get("images"),
        )

    def protocol(self) -> dict[str, Any]:
        """The :data:`PROTOCOL_KEYS` fields, as a bench JSON's runtime entry records them."""
        return {key: getattr(self, key) for key in PROTOCOL_KEYS}


def job_bench_settings(snakemake: Any) -> BenchSettings:
    """The settings of a job whose rule passes the ``bench`` section as ``params.bench``
    (``config_subset("bench", ...)``: what the job times with is what Snakemake reruns it
    on), with the config's plugins and the job's threads."""
    config = {"bench": snakemake.params.bench, "plugins": snakemake.config.get("plugins") or ()}
    return BenchSettings.from_config(config, threads=snakemake.threads)
