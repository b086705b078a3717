"""Which implementation of each technique's layers a network runs with, per runtime.

A technique may offer interchangeable implementations of its layers
(:meth:`archopt.techniques.Technique.implementations`), numerically identical but not
equally fast in every runtime. The bench stage times each one through the runtime and
keeps the fastest; this module does that for every technique the network uses, through
the techniques' own hooks, so the bench names none of them.

A network's *variant* is a dict from each technique it uses that has implementations to the one
it runs: ``{}`` for a network with nothing to choose. The choices are recorded under keys
derived from the technique's name: ``{name}_impl`` and ``{name}_impl_ms`` (the probe
medians) in a bench JSON's runtime entry, ``archopt.{name}_impl`` and
``archopt.{name}_impl_ms`` in the metadata of the deployed ONNX file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import numpy as np
from torch import nn

from archopt.bench.timing import fastest, median_ms_interleaved
from archopt.runtimes import Runner
from archopt.techniques import Technique, list_techniques

PROBE_IMAGES = 5  # images timed to pick an implementation

Variant = dict[str, str]  # technique name -> implementation
ProbeTimings = dict[str, dict[str, float]]  # technique name -> implementation -> median ms


def choosable() -> list[Technique]:
    """The registered techniques that have implementations to choose from."""
    return [technique for technique in list_techniques() if technique.implementations()]


def used_by(model: nn.Module) -> list[Technique]:
    """The techniques with implementations that ``model`` uses, in registration order."""
    return [technique for technique in choosable() if technique.uses(model)]


def variant_of(model: nn.Module) -> Variant:
    """The implementation of each technique ``model`` uses that has several."""
    return {t.name: impl for t in used_by(model) if (impl := t.implementation_of(model))}


def set_variant(model: nn.Module, variant: Mapping[str, str]) -> nn.Module:
    """Switch ``model`` to ``variant`` (techniques it does not name keep theirs)."""
    for technique in used_by(model):
        if technique.name in variant:
            technique.set_implementation(model, variant[technique.name])
    return model


def set_reference(model: nn.Module) -> nn.Module:
    """Switch ``model`` to the implementations networks are built with (each first one)."""
    return set_variant(model, {t.name: t.implementations()[0] for t in used_by(model)})


def variant_file_stem(variant: Mapping[str, str]) -> str:
    """A file name for the export of ``variant``: ``network`` when there is nothing to
    choose, the implementation alone for one technique, ``name-impl`` pairs for several."""
    if not variant:
        return "network"
    if len(variant) == 1:
        return next(iter(variant.values()))
    return "_".join(f"{name}-{impl}" for name, impl in sorted(variant.items()))


def pick_implementations(
    model: nn.Module, make_runner: Callable[[nn.Module], Runner], images: np.ndarray, warmup: int
) -> tuple[Variant, ProbeTimings]:
    """Time every implementation of each technique ``model`` uses through
    ``make_runner(model)``; keep the fastest.

    Techniques are probed one after the other, each with the ones before it set to
    their choice (a product of every combination would grow multiplicatively). Returns
    ``({}, {})`` for a network with nothing to choose; ``model`` is left set to the choice.
    """
    variant: Variant = {}
    timings: ProbeTimings = {}
    for technique in used_by(model):
        runners = {impl: make_runner(technique.set_implementation(model, impl))
                   for impl in technique.implementations()}
        timings[technique.name] = median_ms_interleaved(runners, images[:PROBE_IMAGES], warmup)
        variant[technique.name] = fastest(timings[technique.name])
        technique.set_implementation(model, variant[technique.name])
    return variant, timings


def impl_field(technique: str) -> str:
    """The bench JSON field of ``technique``'s implementation; ``_ms`` appended: its timings."""
    return f"{technique}_impl"


def metadata_key(technique: str) -> str:
    """The ONNX metadata key of ``technique``'s implementation; ``_ms``: its timings."""
    return f"archopt.{impl_field(technique)}"


def as_metadata(variant: Mapping[str, str], timings: ProbeTimings) -> dict[str, str]:
    """ONNX metadata recording ``variant`` and the probe timings that chose it."""
    record = {}
    for name, impl in variant.items():
        record[metadata_key(name)] = impl
        record[f"{metadata_key(name)}_ms"] = json.dumps(timings.get(name, {}))
    return record


def from_metadata(metadata: Mapping[str, str]) -> tuple[Variant, ProbeTimings]:
    """The variant (and probe timings) a deployed file's metadata records."""
    variant: Variant = {}
    timings: ProbeTimings = {}
    for technique in choosable():
        key = metadata_key(technique.name)
        if key in metadata:
            variant[technique.name] = metadata[key]
            timings[technique.name] = json.loads(metadata.get(f"{key}_ms", "{}"))
    return variant, timings


def result_fields(variant: Mapping[str, str], timings: ProbeTimings) -> dict[str, object]:
    """A runtime entry's fields for every technique with implementations: the one timed
    (None where the network does not use the technique) and the probe medians."""
    fields: dict[str, object] = {}
    for technique in choosable():
        fields[impl_field(technique.name)] = variant.get(technique.name)
        fields[f"{impl_field(technique.name)}_ms"] = timings.get(technique.name, {})
    return fields
