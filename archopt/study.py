"""Which networks and datasets a configured study contains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt.models import models_for_dataset, parse_name
from archopt.models.registry import check_dataset


def study_networks(config: Mapping[str, Any], dataset: str) -> list[str]:
    """Canonical names of the networks studied on ``dataset``.

    ``networks: null`` means the dissertation's full list for that dataset; a list keeps
    the networks of that list that belong to the dataset (classifiers on CIFAR,
    generators on maps). Unknown names fail with the offending name.
    """
    if dataset == "maps":
        return [parse_name(n).name for n in config["gan"]["variants"]]
    chosen = config.get("networks")
    if chosen is None:
        return models_for_dataset(dataset)
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
