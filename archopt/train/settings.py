"""How the classifiers are trained: one typed object, built once from the ``train`` section.

The ``train`` and ``select_best`` jobs get it from :func:`archopt.workflow.start_job`
(:func:`job_train_settings`). Torch-free: the workflow can build it while it is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.settings import list_setting, optional_setting, setting

SECTION = "train"
# The train rule's params: what a run's result depends on besides its wildcards (model,
# dataset, lr, batch size, seed); changing one reruns every training job.
TRAIN_RULE_PARAMS = (
    "max_epochs", "train_subset", "val_size", "momentum", "weight_decay", "precision", "compile",
)


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` config section, typed (docs/training.md); ``threads`` are the job's."""

    max_epochs: int
    train_subset: int | None  # None: every image left after the validation split
    val_size: int
    momentum: float
    weight_decay: float
    precision: str  # fp32 | tf32 | bf16 (archopt.train.precision)
    compile: bool
    lrs: tuple[float, ...]  # the grid; a job trains one point of it (its wildcards)
    batch_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    threads: int
    # Instructions, not inputs: changing them reruns nothing.
    restart: bool  # discard saved per-epoch states and train from epoch 1
    runs_per_gpu: int  # training-type jobs sharing one GPU (archopt.gpu)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], threads: int | None = None) -> TrainSettings:
        """The settings of a validated config; ``threads``: the job's (Snakemake caps a
        rule's threads at ``--cores``), ``train.threads`` where None."""
        train = config[SECTION]
        grid = f"{SECTION}.grid", train["grid"]
        return cls(
            max_epochs=setting(SECTION, train, "max_epochs", int),
            train_subset=optional_setting(SECTION, train, "train_subset", int),
            val_size=setting(SECTION, train, "val_size", int),
            momentum=setting(SECTION, train, "momentum", float),
            weight_decay=setting(SECTION, train, "weight_decay", float),
            precision=setting(SECTION, train, "precision", str),
            compile=setting(SECTION, train, "compile", bool),
            lrs=list_setting(*grid, "lr", float),
            batch_sizes=list_setting(*grid, "batch_size", int),
            seeds=list_setting(SECTION, train, "seeds", int),
            threads=setting(SECTION, train, "threads", int) if threads is None else threads,
            restart=setting(SECTION, train, "restart", bool),
            runs_per_gpu=setting(SECTION, train, "runs_per_gpu", int),
        )


def job_train_settings(snakemake: Any) -> TrainSettings:
    """The settings of a ``train`` or ``select_best`` job: the config's ``train`` section
    with the values the rule passes as params (:data:`TRAIN_RULE_PARAMS`; ``select_best``
    passes none) laid over it, and the job's threads."""
    passed = {key: getattr(snakemake.params, key) for key in TRAIN_RULE_PARAMS
              if hasattr(snakemake.params, key)}
    train = {**snakemake.config[SECTION], **passed}
    return TrainSettings.from_config({SECTION: train}, threads=snakemake.threads)
