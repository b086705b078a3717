"""Paths and targets of the post-training stage (read while Snakemake parses the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt.posttrain import SEPARATOR, get_posttrain_method
from archopt.study import study_networks

POSTTRAIN_DIR = "results/posttrain/{dataset}/{model}" + SEPARATOR + "{method}"
# What every post-training job writes, relative to its folder; ``artifacts/`` holds the
# method's own files (int8: every recipe and the runtimes' logits; prune: the weights).
OUTPUT_FILES = {"summary": "summary.json", "deployable": "model.onnx", "bench": "cpu.json"}
ARTIFACTS = "artifacts"


def posttrain_results(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(dataset, model, spec) of every post-training result the config asks for."""
    section = config.get("posttrain", {})
    results = []
    for dataset in config["studies"]:
        for model in study_networks(config, dataset):
            for name in section.get("methods", []):
                for spec in get_posttrain_method(name).variants(model, dataset, config):
                    results.append((dataset, model, spec))
    return results


def posttrain_dir(dataset: str, model: str, spec: str) -> str:
    return POSTTRAIN_DIR.format(dataset=dataset, model=model, method=spec)


def posttrain_targets(config: Mapping[str, Any], files: tuple[str, ...] = ("summary", "bench")
                      ) -> list[str]:
    """The listed output files of every configured post-training result."""
    return [f"{posttrain_dir(*result)}/{OUTPUT_FILES[key]}"
            for result in posttrain_results(config) for key in files]
