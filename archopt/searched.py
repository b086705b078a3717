"""The equal-budget networks the search picks, cached for the workflow's parse.

``networks: null`` studies the networks archopt's search (``archopt.search``) picks, and
the workflow needs their names while Snakemake parses the DAG. The search builds
candidate blocks with torch on the meta device (about 0.3 s per dataset plus the torch
import), so the picks for the shipped techniques are shipped in ``searched.json``, keyed
by dataset, grid step and the searched techniques. Any other key (a plugin technique, a
different step) runs the search. ``python -m archopt.searched`` rewrites the file; a
test checks it against a fresh search.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from archopt.io import write_text_atomic
from archopt.techniques import technique_names

CACHE = "searched.json"
DEFAULT_STEP = 0.01  # search.step; archopt.search uses the same default


def cache_key(dataset: str, step: float) -> str:
    return f"{dataset}|{float(step):g}|{','.join(technique_names('resnet'))}"


@cache
def shipped_picks() -> dict[str, list[str]]:
    return json.loads(resources.files("archopt").joinpath(CACHE).read_text())


def searched_models(dataset: str, step: float = DEFAULT_STEP) -> list[str]:
    """Canonical names the searches choose on ``dataset``, in search order."""
    picks = shipped_picks().get(cache_key(dataset, step))
    if picks is not None:
        return list(picks)
    from archopt import search  # torch: only for keys the shipped file lacks

    return search.searched_models(dataset, step)


def write_cache(datasets: tuple[str, ...] = ("cifar10", "cifar100")) -> None:
    from archopt import search

    picks = {cache_key(d, DEFAULT_STEP): search.searched_models(d, DEFAULT_STEP) for d in datasets}
    path = resources.files("archopt").joinpath(CACHE)
    write_text_atomic(str(path), json.dumps(picks, indent=1) + "\n")


if __name__ == "__main__":
    write_cache()
