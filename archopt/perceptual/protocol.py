"""The paper's test protocol: which image each of a volunteer's trials shows.

A test shows every image of one network's bundle once: ``n`` generated and ``n`` real
maps (the paper: n = 25, so 50 trials). The first ``2 * TRAINING_PER_CLASS`` trials are
training trials with feedback (5 generated, 5 real, in random order); the rest (20
generated, 20 real in the paper) are scored without feedback.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

TRAINING_PER_CLASS = 5
PAPER_IMAGES_PER_CLASS = 25
ANSWERS = ("real", "fake")


@dataclass(frozen=True)
class Trial:
    position: int  # 1-based, the order the volunteer sees
    image: str  # image id from the bundle manifest
    kind: str  # "real" or "fake": the correct answer
    training: bool


def minimum_images_per_class(training_per_class: int = TRAINING_PER_CLASS) -> int:
    """At least one scored trial per class must follow the training trials."""
    return training_per_class + 1


def trial_sequence(
    fakes: Sequence[str],
    reals: Sequence[str],
    rng: random.Random,
    training_per_class: int = TRAINING_PER_CLASS,
) -> list[Trial]:
    """A random test over ``fakes`` and ``reals`` (image ids) that obeys the protocol."""
    if len(fakes) != len(reals):
        raise ValueError(f"a test needs as many real as generated images, got "
                         f"{len(reals)} real and {len(fakes)} generated")
    if len(fakes) < minimum_images_per_class(training_per_class):
        raise ValueError(f"a test needs at least {minimum_images_per_class(training_per_class)} "
                         f"images per class ({training_per_class} training + 1 scored), "
                         f"got {len(fakes)}")
    fake_order = rng.sample(list(fakes), len(fakes))
    real_order = rng.sample(list(reals), len(reals))
    training = _shuffled(rng, fake_order[:training_per_class], real_order[:training_per_class])
    scored = _shuffled(rng, fake_order[training_per_class:], real_order[training_per_class:])
    return [
        Trial(position, image, kind, position <= len(training))
        for position, (image, kind) in enumerate(training + scored, start=1)
    ]


def _shuffled(rng: random.Random, fakes: list[str], reals: list[str]) -> list[tuple[str, str]]:
    block = [(image, "fake") for image in fakes] + [(image, "real") for image in reals]
    rng.shuffle(block)
    return block
