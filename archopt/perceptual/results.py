"""Perceptual error rate per network from the volunteers' votes.

The paper's definition: the share of a network's generated images, shown in scored
(non-training) trials, that the majority of the volunteers who saw them judged real.
"Majority" is strict: an image with as many "real" as "fake" votes is not judged real.
The 95% CI resamples volunteers (not votes) with replacement, because one person's
answers are correlated; each resample recomputes the majority per image.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Vote:
    """One scored answer of a volunteer who finished the test, on a generated image."""

    volunteer: int
    network: str
    image: str
    answer: str  # "real" or "fake"


@dataclass(frozen=True)
class NetworkResult:
    model: str
    volunteers: int  # finished tests
    images: int  # generated images with at least one scored vote
    error_rate: float | None  # fraction in [0, 1]; None without votes
    ci95_low: float | None
    ci95_high: float | None
    votes: int  # scored votes on generated images
    vote_error_rate: float | None  # share of those votes that said "real"


RESULT_COLUMNS = tuple(field.name for field in fields(NetworkResult))


def judged_real(real_votes: np.ndarray, fake_votes: np.ndarray) -> np.ndarray:
    """Per image: did a strict majority of its voters answer "real"?"""
    return real_votes > fake_votes


def majority_error_rate(real_votes: np.ndarray, fake_votes: np.ndarray) -> np.ndarray:
    """Error rate over the last axis (images); images nobody voted on are left out.

    Works on one network (1-D counts) or a stack of bootstrap resamples (2-D); NaN where
    no image has a vote.
    """
    voted = (real_votes + fake_votes) > 0
    real = (judged_real(real_votes, fake_votes) & voted).sum(axis=-1)
    counted = voted.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, real / np.maximum(counted, 1), np.nan)


def vote_counts(votes: Sequence[Vote]) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) vote counts as (volunteers x images) matrices for one network."""
    volunteers = {v: i for i, v in enumerate(sorted({vote.volunteer for vote in votes}))}
    images = {m: i for i, m in enumerate(sorted({vote.image for vote in votes}))}
    real = np.zeros((len(volunteers), len(images)), dtype=np.int64)
    fake = np.zeros_like(real)
    for vote in votes:
        target = real if vote.answer == "real" else fake
        target[volunteers[vote.volunteer], images[vote.image]] += 1
    return real, fake


def bootstrap_ci(
    real: np.ndarray, fake: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile 95% CI of the majority error rate, resampling volunteers (rows)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, real.shape[0], size=(samples, real.shape[0]))
    rates = majority_error_rate(real[picks].sum(axis=1), fake[picks].sum(axis=1))
    low, high = np.nanpercentile(rates, [2.5, 97.5])
    return float(low), float(high)


def network_result(
    model: str, votes: Sequence[Vote], volunteers: int, samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> NetworkResult:
    if not votes:
        return NetworkResult(model, volunteers, 0, None, None, None, 0, None)
    real, fake = vote_counts(votes)
    rate = float(majority_error_rate(real.sum(axis=0), fake.sum(axis=0)))
    low, high = bootstrap_ci(real, fake, samples, seed)
    said_real = sum(vote.answer == "real" for vote in votes)
    return NetworkResult(model, volunteers, real.shape[1], rate, low, high, len(votes),
                         said_real / len(votes))


def network_results(
    networks: Iterable[str],
    votes: Sequence[Vote],
    finished: dict[str, int],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> list[NetworkResult]:
    """One result per network, in the order given; ``finished`` counts finished tests."""
    return [
        network_result(
            model, [vote for vote in votes if vote.network == model], finished.get(model, 0),
            samples, seed,
        )
        for model in networks
    ]


def results_csv(results: Iterable[NetworkResult]) -> str:
    """CSV of the networks with at least one finished test (the report's Table 13)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        if result.volunteers > 0 and result.error_rate is not None:
            writer.writerow({k: _format(v) for k, v in asdict(result).items()})
    return buffer.getvalue()


def _format(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value
