"""What a post-training job works with: one typed object, built once from the config.

Every method reads the same :class:`PostTrainSettings` (the ``posttrain`` section, the
training protocol's split and optimizer, and the bench stage's own
:class:`~archopt.bench.settings.BenchSettings`), so a compressed network is timed with
exactly the protocol of the fp32 network it is compared with. The config was validated
against the schema and merged over config.yaml before; :mod:`archopt.settings` gives the
values their types and names a key that is missing or of the wrong type. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.bench.settings import BenchSettings
from archopt.settings import list_setting, optional_setting, setting

SECTION = "posttrain"


@dataclass(frozen=True)
class PostTrainSettings:
    """The ``posttrain`` section with typed values, plus what the methods share with the
    other stages: the training split and optimizer, and the bench protocol."""

    methods: tuple[str, ...]
    bench: BenchSettings  # the bench stage's: every network timed alike
    # int8: calibration images (training split only), recipes, the runtimes timing them,
    # and the top-1 points a recipe may lose against fp32.
    calibration_images: int
    int8_recipes: tuple[str, ...]
    int8_runtimes: tuple[str, ...]
    int8_max_drop: float
    # prune: channel importance, SqueezeNet's fixed ratio, the fine-tuning.
    importance: str
    squeezenet_ratio: float
    finetune_epochs: int
    finetune_lr: float
    finetune_batch_size: int
    restart: bool
    # The training protocol's (``train`` section): the split, and the fine-tuning's SGD.
    val_size: int
    train_subset: int | None
    seed: int  # train.seeds' first
    momentum: float
    weight_decay: float
    train_threads: int
    runs_per_gpu: int  # train.runs_per_gpu: an instruction (archopt.gpu), not an input

    @classmethod
    def from_config(cls, config: Mapping[str, Any], threads: int | None = None
                    ) -> PostTrainSettings:
        """The settings of a validated config (``posttrain``, ``train`` and ``bench``
        sections, ``plugins``); ``threads``: the job's, as for the bench stage."""
        post, train = config[SECTION], config["train"]
        return cls(
            methods=list_setting(SECTION, post, "methods", str),
            bench=BenchSettings.from_config(config, threads),
            calibration_images=setting(SECTION, post, "calibration_images", int),
            int8_recipes=list_setting(SECTION, post, "int8_recipes", str),
            int8_runtimes=list_setting(SECTION, post, "int8_runtimes", str),
            int8_max_drop=setting(SECTION, post, "int8_max_drop", float),
            importance=setting(SECTION, post, "importance", str),
            squeezenet_ratio=setting(SECTION, post, "squeezenet_ratio", float),
            finetune_epochs=setting(SECTION, post, "finetune_epochs", int),
            finetune_lr=setting(SECTION, post, "finetune_lr", float),
            finetune_batch_size=setting(SECTION, post, "finetune_batch_size", int),
            restart=setting(SECTION, post, "restart", bool),
            val_size=setting("train", train, "val_size", int),
            train_subset=optional_setting("train", train, "train_subset", int),
            seed=list_setting("train", train, "seeds", int)[0],
            momentum=setting("train", train, "momentum", float),
            weight_decay=setting("train", train, "weight_decay", float),
            train_threads=setting("train", train, "threads", int),
            runs_per_gpu=setting("train", train, "runs_per_gpu", int),
        )


def job_posttrain_settings(snakemake: Any) -> PostTrainSettings:
    """The settings of a ``posttrain`` job, from its rule's ``params`` (what Snakemake
    reruns it on), the config's plugins and the job's threads."""
    params = snakemake.params
    # train.runs_per_gpu comes from the config: changing it reruns nothing.
    train = dict(params.train, runs_per_gpu=snakemake.config["train"]["runs_per_gpu"])
    config = {"posttrain": params.posttrain, "train": train, "bench": params.bench,
              "plugins": snakemake.config.get("plugins") or ()}
    return PostTrainSettings.from_config(config, threads=snakemake.threads)
