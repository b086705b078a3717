"""Equal-budget width search for the CIFAR ResNets (the dissertation picked its rates by hand).

Three searches per depth (20/56/110) and registered technique with a ``resnet_body``
hook (shipped: DSC, Shift, Shuffle):

* ``expand``: the rate r < 1 whose widened optimized net ``resnet{d}-{t}-{r}`` comes
  closest to the base ``resnet{d}``'s parameter count;
* ``reduce_channels``: the divisor r > 1 whose thinner base net ``resnet{d}-{r}`` comes
  closest to the optimized ``resnet{d}-{t}``;
* ``reduce_block``: the bottleneck rate r > 1 whose ``resnet{d}-{r}_block`` does the same.

Rates lie on a grid of ``step`` (expand: step, 2*step, ... < 1; reduce: 1 + step, ... <=
``MAX_REDUCTION_RATE``). The smallest absolute parameter gap wins; ties go to the rate
closer to 1 (the smaller change). Parameters are counted from the same
:class:`ResNetSpec` the model zoo builds from the candidate's *name*, so a chosen name
always means the widths that were counted: each distinct block (body, channels, stride)
is built once on the meta device and its count memoized, which works for any technique
without a formula; ``tests/test_search.py`` checks the sums against
``count_params(get_model(...))``. Both datasets' searches together take a fraction of a
second, which keeps ``snakemake -n all`` fast although the searched networks are part of
the DAG.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from archopt.datasets import CLASSIFICATION, get_dataset
from archopt.models.registry import (
    RESNET_DEPTHS,
    ModelInfo,
    format_rate,
    parse_name,
    resnet_spec,
)
from archopt.models.resnet import (
    ResNetSpec,
    block_plans,
    body_call,
    param_parts,
    scaled_widths,
    spec_params,
)
from archopt.searched import DEFAULT_STEP
from archopt.techniques import BASE, generation, technique_names

SEARCH_KINDS = ("expand", "reduce_channels", "reduce_block")
# At r = 10 the thinnest candidate already has widths 1/3/6 (bottleneck 1/3/6); beyond 16
# the first stage would have no channel left. Every budget in the study is met far below.
MAX_REDUCTION_RATE = 10

SEARCH_COLUMNS = (
    "kind", "depth", "technique", "target_params", "model", "factor", "params", "rel_gap",
    "abs_gap", "paper_model", "paper_factor", "paper_params", "paper_rel_gap",
)


# --- parameter counts -----------------------------------------------------------------------


def resnet_params(name: str, dataset: str) -> int:
    """Parameters of the ResNet called ``name`` on ``dataset``, without building it whole.

    :func:`archopt.models.resnet.spec_params` builds each distinct block once on the meta
    device and memoizes its count, so any technique's blocks are counted, not modelled.
    """
    info = parse_name(name)
    if info.family != "resnet":
        raise ValueError(f"block-wise parameter counts cover CIFAR ResNets only, not {name!r}")
    return spec_params(resnet_spec(info), classes_of(dataset), get_dataset(dataset).image_shape[0])


def classes_of(dataset: str) -> int:
    """The classifier's output count on ``dataset``; a ValueError names anything else."""
    registered = get_dataset(dataset)
    if registered.kind != CLASSIFICATION:
        raise ValueError(f"the equal-budget search covers classification datasets, not {dataset!r}")
    return registered.num_classes


# --- the search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """The network one search picked for one budget."""

    kind: str
    depth: int
    technique: str
    target_params: int
    model: str
    factor: float
    params: int

    @property
    def abs_gap(self) -> int:
        """Signed gap in parameters: ``params - target_params``."""
        return self.params - self.target_params

    @property
    def rel_gap(self) -> float:
        return self.abs_gap / self.target_params


def rate_grid(kind: str, step: float = DEFAULT_STEP) -> list[float]:
    """Candidate rates: expand [step, 1), reductions (1, MAX_REDUCTION_RATE], on a step grid.

    Decimal arithmetic keeps every rate the float its printed name parses back to (0.29,
    never 0.29000000000000004).
    """
    if not 0 < step < 1:
        raise ValueError(f"config key 'search.step': {step!r} must be in (0, 1)")
    delta = Decimal(str(step))
    if kind == "expand":
        start, stop = delta, Decimal(1)
        rates = _decimal_range(start, stop, delta, include_stop=False)
    else:
        start, stop = Decimal(1) + delta, Decimal(MAX_REDUCTION_RATE)
        rates = _decimal_range(start, stop, delta, include_stop=True)
    return [float(rate) for rate in rates]


def _decimal_range(
    start: Decimal, stop: Decimal, delta: Decimal, *, include_stop: bool
) -> Iterator[Decimal]:
    value = start
    while value < stop or (include_stop and value == stop):
        yield value
        value += delta


def candidate(kind: str, depth: int, technique: str, rate: float) -> ModelInfo:
    """The parsed name of a candidate network; raises if the name would not parse back."""
    text = format_rate(rate)
    name = {
        "expand": f"resnet{depth}-{technique}-{text}",
        "reduce_channels": f"resnet{depth}-{text}",
        "reduce_block": f"resnet{depth}-{text}_block",
    }[kind]
    info = parse_name(name)
    if info.factor != rate:
        raise ValueError(
            f"search rate {rate!r} prints as {name!r}, which parses to another rate; "
            "use a coarser 'search.step'"
        )
    return info


def target_name(kind: str, depth: int, technique: str) -> str:
    """The network whose parameter count is the budget of a search."""
    return f"resnet{depth}" if kind == "expand" else f"resnet{depth}-{technique}"


def search_budget(
    kind: str, depth: int, technique: str, dataset: str, step: float = DEFAULT_STEP
) -> SearchResult:
    """The candidate of ``kind`` closest to the budget (ties: the rate closer to 1).

    Candidates go from the thinnest to the widest, and a candidate's parts are summed
    only until the sum exceeds the budget by more than the best gap so far: counts are
    never negative, so such a candidate cannot win, and its remaining blocks (those of the
    widest, never-chosen networks) are never built. The result is that of a full scan.
    """
    if kind not in SEARCH_KINDS:
        raise ValueError(f"unknown search kind {kind!r}: expected one of {SEARCH_KINDS}")
    target = resnet_params(target_name(kind, depth, technique), dataset)
    classes, channels = classes_of(dataset), get_dataset(dataset).image_shape[0]
    # A reduced net is a plain ResNet whatever budget it chases: share its candidates.
    pool = candidates(kind, depth, technique if kind == "expand" else BASE, step)
    best: tuple[tuple[int, float], float, str, int] | None = None
    for rate, name, spec in pool:
        limit = target + (best[0][0] if best else math.inf)
        params = bounded_sum(param_parts(spec, classes, channels), limit)
        if params is None:
            continue
        key = (abs(params - target), abs(rate - 1))
        if best is None or key < best[0]:
            best = (key, rate, name, params)
    if best is None:
        raise ValueError(f"search {kind} for resnet{depth}-{technique}: no candidate can be built")
    _, rate, name, params = best
    return SearchResult(kind, depth, technique, target, name, rate, params)


def bounded_sum(parts: Iterable[int], limit: float) -> int | None:
    """``sum(parts)``, or None as soon as the running sum exceeds ``limit``."""
    total = 0
    for part in parts:
        total += part
        if total > limit:
            return None
    return total


def candidates(
    kind: str, depth: int, technique: str, step: float
) -> tuple[tuple[float, str, ResNetSpec], ...]:
    """``(rate, name, spec)`` of the distinct candidates of one search, thinnest first; cached."""
    return _candidates(kind, depth, technique, step, generation())


@cache
def _candidates(
    kind: str, depth: int, technique: str, step: float, _generation: int
) -> tuple[tuple[float, str, ResNetSpec], ...]:
    # Rates whose widths round to the same network tie; keep the one a tie goes to.
    chosen: dict[tuple, tuple[float, str, ResNetSpec]] = {}
    for rate in rate_grid(kind, step):
        if kind == "expand" and min(scaled_widths(rate, technique)) < 1:
            continue  # a coarse width_multiple rounds this width down to no channel
        info = candidate(kind, depth, technique, rate)
        spec = resnet_spec(info)
        key = structure(spec)
        if key not in chosen or abs(rate - 1) < abs(chosen[key][0] - 1):
            chosen[key] = (info.factor, info.name, spec)
    # Widths are c / rate for every kind: the largest rate is the thinnest network.
    return tuple(sorted(chosen.values(), key=lambda c: -c[0]))


def structure(spec: ResNetSpec) -> tuple:
    """What decides the layers of a candidate: two specs with equal keys build equal nets."""
    return (spec.widths, tuple(body_call(spec, plan) for plan, _ in block_plans(spec)))


def search_techniques() -> list[str]:
    """Techniques the searches cover: every registered one with a ``resnet_body`` hook."""
    return technique_names("resnet")


def search_all(dataset: str, step: float = DEFAULT_STEP) -> tuple[SearchResult, ...]:
    """Every search (kind x depth x technique) for ``dataset``, in table order; cached."""
    return _search_all(dataset, step, generation())


@cache
def _search_all(dataset: str, step: float, _generation: int) -> tuple[SearchResult, ...]:
    return tuple(
        search_budget(kind, depth, technique, dataset, step)
        for kind in SEARCH_KINDS
        for depth in RESNET_DEPTHS
        for technique in search_techniques()
    )


def searched_models(dataset: str, step: float = DEFAULT_STEP) -> list[str]:
    """Canonical names of the networks the searches chose (duplicates removed, in order)."""
    return list(dict.fromkeys(result.model for result in search_all(dataset, float(step))))


# --- comparison with the dissertation's choices -------------------------------------------------


def paper_choices(param_counts_csv: str | Path, dataset: str) -> dict[tuple[str, int, str], str]:
    """The dissertation's scaled network per (kind, depth, technique) on ``dataset``.

    Read from ``resources/paper/param_counts.csv`` (Tables 5-12). A reduced network's
    technique is that of the unscaled optimized ResNet of the same depth in its table.
    """
    rows = [
        (row["table"], row["model"], parse_name(row["model"]))
        for row in _read_csv(param_counts_csv)
        if row["dataset"] == dataset
    ]
    unscaled = [(table, info) for table, _, info in rows if info.scaling == "none"]
    choices = {}
    for table, printed, info in rows:
        if info.family != "resnet" or info.scaling == "none":
            continue
        if info.scaling == "expand":
            choices[("expand", info.depth, info.technique)] = info.name
            continue
        techniques = {
            other.technique
            for other_table, other in unscaled
            if other_table == table and other.depth == info.depth and other.technique != "base"
        }
        if len(techniques) != 1:
            raise ValueError(
                f"{param_counts_csv}: table {table} does not name the one optimized "
                f"ResNet{info.depth} that {printed!r} is reduced to match"
            )
        choices[(info.scaling, info.depth, techniques.pop())] = info.name
    return choices


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise FileNotFoundError(f"paper parameter counts not found: {path}") from None
    missing = {"table", "dataset", "model"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(
            f"{path}: expected columns table, dataset, model; missing {sorted(missing)}"
        )
    return rows


def search_rows(
    dataset: str, step: float = DEFAULT_STEP, paper: dict[tuple[str, int, str], str] | None = None
) -> list[dict[str, object]]:
    """One CSV record per search, with the paper's choice and its gap where it made one."""
    records = []
    for result in search_all(dataset, float(step)):
        record = asdict(result) | {"rel_gap": result.rel_gap, "abs_gap": result.abs_gap}
        paper_model = (paper or {}).get((result.kind, result.depth, result.technique))
        record |= _paper_columns(paper_model, result.target_params, dataset)
        records.append(record)
    return records


def _paper_columns(paper_model: str | None, target: int, dataset: str) -> dict[str, object]:
    if paper_model is None:
        return {"paper_model": "", "paper_factor": "", "paper_params": "", "paper_rel_gap": ""}
    params = resnet_params(paper_model, dataset)
    return {
        "paper_model": paper_model,
        "paper_factor": parse_name(paper_model).factor,
        "paper_params": params,
        "paper_rel_gap": (params - target) / target,
    }


def rows_to_csv(records: Iterable[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SEARCH_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()
