"""Single-image inference benchmarks in every registered runtime, CPU and GPU.

Names are imported on first use (:mod:`archopt.lazy`): the workflow reads
:mod:`archopt.bench.settings` while Snakemake parses the DAG, without torch. The
benchmark itself is :func:`archopt.bench.benchmark.benchmark` (the submodule's name).
"""

from archopt.lazy import lazy_exports

_EXPORTS = {
    "environment": "archopt.bench.env",
    "BenchSettings": "archopt.bench.settings",
    "latency_stats": "archopt.bench.stats",
    "topk_accuracy": "archopt.bench.stats",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
