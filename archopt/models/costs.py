"""Static costs of a named network (params, MACs, activation floats), cached.

Snakemake evaluates every job's ``resources`` while it builds the DAG: ~900 jobs in the
paper preset, whose memory and runtime estimates need these costs. Profiling a network
on the meta device takes up to a second, so the costs of every network the study
trains by default are shipped precomputed in ``costs.csv`` (regenerate with
``python -m archopt.models.costs``; a test checks the table against fresh
measurements). Networks outside the table are profiled once per process.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

from archopt.datasets import CLASSIFICATION, PAIRED, dataset_names
from archopt.names import PAPER_SCALED_MODELS, base_models, parse_name

TABLE = "costs.csv"
COLUMNS = ("name", "dataset", "params", "macs", "activation_floats")


@dataclass(frozen=True)
class NetworkCosts:
    params: int
    macs: int  # per image
    activation_floats: int  # per image, all leaf-module outputs of one forward pass


def measure_costs(name: str, dataset: str) -> NetworkCosts:
    """Profile ``name`` on the meta device (no weights allocated)."""
    import torch  # the shipped table answers the workflow's parse without it

    from archopt.models.profile import count_params, input_shape, profile_forward
    from archopt.models.registry import get_model

    build = partial(get_model, name, dataset)
    with torch.device("meta"):
        params = count_params(build())
    forward = profile_forward(build, input_shape(dataset))
    return NetworkCosts(params, forward.macs, forward.activation_floats)


@lru_cache(maxsize=1)
def shipped_costs() -> dict[tuple[str, str], NetworkCosts]:
    text = resources.files("archopt.models").joinpath(TABLE).read_text()
    return {
        (row["name"], row["dataset"]): NetworkCosts(
            int(row["params"]), int(row["macs"]), int(row["activation_floats"])
        )
        for row in csv.DictReader(text.splitlines())
    }


@lru_cache(maxsize=None)
def network_costs(name: str, dataset: str) -> NetworkCosts:
    """Costs of a network by name (any alias): shipped table first, else measured."""
    canonical = parse_name(name).name
    return shipped_costs().get((canonical, dataset)) or measure_costs(canonical, dataset)


def default_study_networks() -> list[tuple[str, str]]:
    """Every (network, dataset) the paper preset trains, plus the dissertation's own nets."""
    from archopt.search import DEFAULT_STEP, searched_models  # torch: regenerating only

    pairs = []
    for dataset in dataset_names(CLASSIFICATION):
        classifiers = [n for n in base_models() if not parse_name(n).is_gan]
        names = classifiers + searched_models(dataset, DEFAULT_STEP) + list(PAPER_SCALED_MODELS[dataset])
        pairs += [(name, dataset) for name in dict.fromkeys(names)]
    generators = [n for n in base_models() if parse_name(n).is_gan]
    pairs += [(name, dataset) for dataset in dataset_names(PAIRED) for name in generators]
    return pairs


def write_table(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for name, dataset in default_study_networks():
            writer.writerow({"name": name, "dataset": dataset, **asdict(measure_costs(name, dataset))})


if __name__ == "__main__":
    write_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(TABLE))
