"""The post-training method registry: what can be done to a *trained* network.

The study's techniques (``archopt.techniques``) change an architecture before training;
a post-training method takes a selected, trained network
(``results/models/{dataset}/{model}/best.pt``) and produces a deployable model with its
accuracy and latency: int8 quantization (``int8``) and structured pruning (``prune``)
ship, plugins add more with :func:`register_posttrain_method` (config key ``plugins``),
exactly like techniques and runtimes.

A result is named ``{model}+{spec}``: ``resnet20+int8``, ``resnet20-shift+int8``,
``resnet56+prune-shift`` (ResNet56 pruned to ResNet56-Shift's parameter count),
``squeezenet+prune-0.5``. ``spec`` is the method's name, optionally followed by ``-`` and
an argument the method defines.

This module imports no torch: the workflow expands the post-training targets while
Snakemake parses the DAG. Methods import their libraries inside :meth:`run`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from archopt.registry import Registry, origin

if TYPE_CHECKING:
    import pandas as pd

    from archopt.posttrain.jobs import PostTrainJob
    from archopt.report.flowchart import Leaf
    from archopt.report.posttrain import MethodFinding, PostTrainData

SEPARATOR = "+"  # between the network and the method spec; model names never contain it
SPEC_PATTERN = re.compile(r"^(?P<method>[a-z][a-z0-9_]*)(?:-(?P<arg>[a-z0-9._]+))?$")


class PostTrainMethod:
    """Base class of post-training methods; subclass it and decorate with
    :func:`register_posttrain_method`.

    ``variants`` says which results the method makes of one studied network; ``run``
    makes one of them inside its Snakemake job (see :class:`archopt.posttrain.jobs.PostTrainJob`
    for what it gets and must write).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    # True if ``run`` computes on a GPU where the job has one (pruning's fine-tuning): the
    # rule then asks for a GPU (``posttrain_gpus``) and the job claims it.
    uses_gpu: ClassVar[bool] = False

    def variants(self, model: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
        """The specs (``name`` or ``name-arg``) this method makes of ``model``; [] = none."""
        raise NotImplementedError

    def run(self, job: PostTrainJob) -> None:
        """Produce the job's outputs (summary, deployable file, bench JSON, artifacts)."""
        raise NotImplementedError

    def runtime_minutes(self, model: str, dataset: str, arg: str | None,
                        config: Mapping[str, Any], threads: int) -> int:
        """Upper bound of the job's wall time (the rule's ``runtime`` resource)."""
        return 30

    # The report's hooks: the report names no method; each says what it did, how it
    # fared, and what of its own it adds to the post-training section. The ones taking
    # the report's data (``PostTrainData``, the tidy table) import the report's modules
    # inside the hook: this module is read while Snakemake parses the DAG.

    def describe(self, summary: Mapping[str, Any]) -> str:
        """What was done to the network, in words, from the ``summary.json`` ``run``
        wrote: the report's "post-training" column."""
        return self.label

    def verdict(self, result: Outcome, base: Outcome) -> str:
        """The report's verdict on one result against the network it was made from."""
        return compare_outcomes(result, base)

    def report_columns(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """results.csv attributes of the result's rows beyond its base network's, e.g.
        ``{"budget_of": "resnet20-shift"}`` (columns ``paper_name``, ``width_factor``,
        ``budget_of``)."""
        return {}

    def latency_note(self, summary: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
        """The ``note`` of the latency row of one timed runtime ``entry`` of the result's
        bench files (results.csv), e.g. which of the method's variants was timed."""
        return ""

    def report_tables(self, table: pd.DataFrame, data: PostTrainData, dataset: str
                      ) -> list[tuple[str, pd.DataFrame]]:
        """The method's own (title, table) pairs in ``dataset``'s post-training panel;
        ``table`` is the tidy table of the study's networks, ``data`` every result."""
        return []

    def findings(self, data: PostTrainData, table: pd.DataFrame) -> list[MethodFinding]:
        """Findings the method states on its results (findings.csv and the section)."""
        return []

    def flowchart_leaves(self, data: PostTrainData, table: pd.DataFrame,
                         low_compute: tuple[str, ...]) -> list[Leaf]:
        """Leaves the method adds to the flowchart; ``low_compute``: the devices whose
        latency need is the low-compute one (``report.low_compute_devices``)."""
        return []

    def __repr__(self) -> str:
        return f"<post-training method {self.name!r} ({origin(self)})>"


@dataclass(frozen=True)
class Outcome:
    """What the report knows of one network: ``accuracy`` (the dataset's primary metric,
    percent, of its outputs in the deployment runtime on the benchmarked images, the same
    images for every network), ``params`` and ``file_bytes`` (its deployable ONNX file);
    None where unknown."""

    accuracy: float | None
    params: float | None
    file_bytes: float | None


def compare_outcomes(result: Outcome, base: Outcome) -> str:
    """``accuracy -0.40 points, file 0.26x`` of ``result`` against ``base`` (what is known)."""
    parts = []
    if result.accuracy is not None and base.accuracy is not None:
        parts.append(f"accuracy {result.accuracy - base.accuracy:+.2f} points")
    for what, mine, theirs in (("parameters", result.params, base.params),
                               ("file", result.file_bytes, base.file_bytes)):
        if mine is not None and theirs:
            parts.append(f"{what} {mine / theirs:.2f}x")
    return ", ".join(parts) + " of the fp32 network" if parts else "not comparable"


# Each shipped method is one package (its registration, its worker, its report part),
# loaded on first use through the plugin loader, like a user's method.
METHODS: Registry[PostTrainMethod] = Registry(
    "post-training method", shipped=("archopt.posttrain.int8", "archopt.posttrain.prune"))
MethodClass = TypeVar("MethodClass", bound=type[PostTrainMethod])


def register_posttrain_method(cls: MethodClass) -> MethodClass:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    METHODS.add(METHODS.check_class(cls, PostTrainMethod, labelled=True), cls())
    return cls


_unregister_posttrain_method = METHODS.remove  # for tests: a method they register does not leak


list_posttrain_methods = METHODS.names  # in registration order, shipped ones first
get_posttrain_method = METHODS.get


def check_posttrain_methods(names: Iterable[str]) -> None:
    """Raise ValueError naming every unknown method of ``names`` and the registered ones."""
    METHODS.check_names(names, "posttrain.methods")


@dataclass(frozen=True)
class PostTrainName:
    """``resnet20+prune-shift`` -> model ``resnet20``, method ``prune``, arg ``shift``."""

    model: str
    method: str
    arg: str | None

    @property
    def spec(self) -> str:
        return self.method if self.arg is None else f"{self.method}-{self.arg}"

    def __str__(self) -> str:
        return f"{self.model}{SEPARATOR}{self.spec}"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``prune-shift`` -> (``prune``, ``shift``); ``int8`` -> (``int8``, None)."""
    match = SPEC_PATTERN.match(spec)
    if not match:
        raise ValueError(f"post-training spec {spec!r} is not METHOD or METHOD-ARG")
    return match["method"], match["arg"]


def parse_posttrain_name(name: str) -> PostTrainName:
    model, separator, spec = name.partition(SEPARATOR)
    if not separator or not model:
        raise ValueError(f"post-training result {name!r} is not MODEL{SEPARATOR}METHOD[-ARG]")
    return PostTrainName(model, *parse_spec(spec))
