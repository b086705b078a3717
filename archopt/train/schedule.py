"""The dissertation's plateau schedule: LR / 10 after 10 epochs without progress, stop at the 4th.

"Progress" is measured on the training loss against the *previous* epoch (not the best
so far): an epoch does not improve when its loss is not lower than the previous epoch's
by more than ``threshold``. The count of such epochs restarts after every LR drop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Step(Enum):
    """What the schedule decided after one epoch."""

    CONTINUE = "continue"
    DECAY = "decay"  # a plateau: the next epoch runs at lr / divisor
    STOP = "stop"  # the last plateau: training ends after this epoch


@dataclass
class PlateauSchedule:
    lr: float
    threshold: float = 0.01
    patience: int = 10
    divisor: float = 10.0
    max_plateaus: int = 4
    previous_loss: float | None = None
    stale_epochs: int = 0
    plateaus: int = 0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.patience >= 1 and self.max_plateaus >= 1 and self.divisor > 1):
            raise ValueError(f"invalid plateau schedule settings: {self}")

    def step(self, train_loss: float) -> Step:
        """Record one epoch's mean training loss; say whether to go on, decay or stop."""
        improved = self.previous_loss is None or self.previous_loss - train_loss > self.threshold
        self.previous_loss = train_loss
        self.stale_epochs = 0 if improved else self.stale_epochs + 1
        if self.stale_epochs < self.patience:
            return Step.CONTINUE
        self.stale_epochs = 0
        self.plateaus += 1
        if self.plateaus >= self.max_plateaus:
            return Step.STOP
        self.lr /= self.divisor
        return Step.DECAY

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> PlateauSchedule:
        return cls(**state)
