"""Which networks and datasets a configured study contains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt.datasets import PAIRED, get_dataset
from archopt.names import base_models, check_dataset, parse_name
from archopt.searched import DEFAULT_STEP, searched_models


def study_networks(config: Mapping[str, Any], dataset: str) -> list[str]:
    """Canonical names of the networks studied on ``dataset``.

    ``networks: null`` means every unscaled classifier of the zoo plus the equal-budget
    networks archopt's own search picks for that dataset (``archopt.search``; the
    dissertation's hand-picked rates stay in ``PAPER_SCALED_MODELS`` for comparison); a
    list keeps the networks of that list that belong to the dataset (classifiers on
    CIFAR, generators on maps). Unknown names fail with the offending name. Torch-free
    for the shipped techniques (``archopt.searched``).
    """
    if get_dataset(dataset).kind == PAIRED:
        return [parse_name(n).name for n in config["gan"]["variants"]]
    chosen = config.get("networks")
    if chosen is None:
        step = config.get("search", {}).get("step", DEFAULT_STEP)
        classifiers = [name for name in base_models() if not parse_name(name).is_gan]
        return classifiers + searched_models(dataset, step)
    names = []
    for name in chosen:
        try:
            info = parse_name(name)
        except ValueError as error:
            raise ValueError(f"config key 'networks': {error}") from None
        if not info.is_gan:
            check_dataset(info, dataset)
            names.append(info.name)
    return list(dict.fromkeys(names))
