"""Benchmark on the target device: a self-contained bundle (:mod:`archopt.device.bundle`)
whose standalone runner (``run_bench.py``) measures where the model is deployed, and the
import of its results into the study (:mod:`archopt.device.imports`)."""
