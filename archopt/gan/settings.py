"""How the Pix2Pix generators are trained and evaluated: one typed object, built once from
the ``gan`` section (and the ``train`` section's ``runs_per_gpu``).

The ``gan_palette``, ``train_gan`` and ``evaluate_gan`` jobs get it from
:func:`archopt.workflow.start_job` (:func:`job_gan_settings`). Torch-free: the workflow
can build it while it is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.settings import list_setting, optional_setting, setting

SECTION = "gan"


@dataclass(frozen=True)
class GanSettings:
    """The ``gan`` config section, typed (docs/pix2pix.md); ``threads`` are the job's."""

    variants: tuple[str, ...]
    epochs: int  # at the constant learning rate, then
    epochs_decay: int  # decaying linearly to zero
    train_subset: int | None  # the first N training pairs (None: all)
    val_subset: int | None  # the first N validation pairs, the test set (None: all)
    load_size: int  # training: both halves resized to this, then randomly cropped to
    crop_size: int  # the network's input side (evaluation: resized straight to it)
    palette_size: int  # k of the k-means palette behind pixel accuracy
    samples: int  # validation pairs saved as PNG samples
    seed: int
    threads: int
    # Instructions, not inputs: changing them reruns nothing.
    restart: bool  # discard saved per-epoch states
    runs_per_gpu: int  # train.runs_per_gpu: training-type jobs sharing one GPU

    @classmethod
    def from_config(cls, config: Mapping[str, Any], threads: int | None = None) -> GanSettings:
        """The settings of a validated config; ``threads``: the job's (the GAN rules take
        ``train.threads``, capped by Snakemake at ``--cores``), ``train.threads`` where None."""
        gan, train = config[SECTION], config["train"]
        return cls(
            variants=list_setting(SECTION, gan, "variants", str),
            epochs=setting(SECTION, gan, "epochs", int),
            epochs_decay=setting(SECTION, gan, "epochs_decay", int),
            train_subset=optional_setting(SECTION, gan, "train_subset", int),
            val_subset=optional_setting(SECTION, gan, "val_subset", int),
            load_size=setting(SECTION, gan, "load_size", int),
            crop_size=setting(SECTION, gan, "crop_size", int),
            palette_size=setting(SECTION, gan, "palette_size", int),
            samples=setting(SECTION, gan, "samples", int),
            seed=setting(SECTION, gan, "seed", int),
            threads=setting("train", train, "threads", int) if threads is None else threads,
            restart=setting(SECTION, gan, "restart", bool),
            runs_per_gpu=setting("train", train, "runs_per_gpu", int),
        )

    def subset(self, split: str) -> int | None:
        """The pairs of ``split`` a job uses: ``train_subset`` or ``val_subset``."""
        return self.train_subset if split == "train" else self.val_subset


def job_gan_settings(snakemake: Any) -> GanSettings:
    """The settings of a GAN job: the config's ``gan`` section with the values its rule
    passes as ``params.gan`` (each rule the keys its outputs depend on) laid over it, and
    the job's threads."""
    gan = {**snakemake.config[SECTION], **snakemake.params.gan}
    return GanSettings.from_config({**snakemake.config, SECTION: gan}, threads=snakemake.threads)
