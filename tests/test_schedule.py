"""The plateau schedule on synthetic training-loss sequences."""

from __future__ import annotations

import pytest

from archopt.train.schedule import PlateauSchedule, Step


def replay(losses: list[float], lr: float = 0.1) -> tuple[PlateauSchedule, list[Step]]:
    schedule = PlateauSchedule(lr)
    return schedule, [schedule.step(loss) for loss in losses]


def events(steps: list[Step]) -> dict[int, Step]:
    """1-based epoch -> decision, for the epochs that did something."""
    return {epoch: step for epoch, step in enumerate(steps, start=1) if step is not Step.CONTINUE}


def test_steadily_improving_loss_never_decays():
    schedule, steps = replay([2.0 - 0.02 * i for i in range(50)])
    assert events(steps) == {}
    assert schedule.lr == 0.1 and schedule.stale_epochs == 0


def test_ten_flat_epochs_after_the_first_divide_the_lr_by_ten():
    # Epoch 1 has nothing to compare with; epochs 2..11 are the ten stale ones.
    schedule, steps = replay([1.0] * 11)
    assert events(steps) == {11: Step.DECAY}
    assert schedule.lr == pytest.approx(0.01) and schedule.stale_epochs == 0


def test_improvement_of_exactly_the_threshold_does_not_count():
    # 0.0078125 is exact in binary, so "not more than 0.01" is tested without rounding.
    schedule = PlateauSchedule(0.1, threshold=0.0078125)
    steps = [schedule.step(1.0 - 0.0078125 * i) for i in range(11)]
    assert events(steps) == {11: Step.DECAY}


def test_an_improving_epoch_resets_the_count():
    flat = [1.0] * 10  # epochs 1..10: nine stale epochs
    schedule, steps = replay(flat + [0.9] + [0.9] * 9)
    assert events(steps) == {}
    assert schedule.stale_epochs == 9
    assert schedule.step(0.9) is Step.DECAY  # the tenth stale epoch since the reset


def test_comparison_is_with_the_previous_epoch_not_the_best():
    # Epoch 2 jumps up (stale); epoch 3 improves on epoch 2 although it is worse than
    # epoch 1, so it counts as progress and resets the count.
    schedule, _ = replay([1.0, 1.5])
    assert schedule.stale_epochs == 1
    schedule.step(1.45)
    assert schedule.stale_epochs == 0


def test_three_decays_then_stop_at_the_fourth_plateau():
    schedule, steps = replay([1.0] * 50)
    assert events(steps) == {11: Step.DECAY, 21: Step.DECAY, 31: Step.DECAY, 41: Step.STOP}
    assert schedule.lr == pytest.approx(0.1 / 1000) and schedule.plateaus == 4


def test_the_count_restarts_after_a_decay():
    schedule, steps = replay([1.0] * 11 + [0.5] + [0.5] * 5)
    assert events(steps) == {11: Step.DECAY}
    assert schedule.stale_epochs == 5


def test_state_round_trip_continues_identically():
    losses = [1.0] * 15 + [0.9, 0.95] + [0.95] * 30
    whole, expected = replay(losses)
    first = PlateauSchedule(0.1)
    steps = [first.step(loss) for loss in losses[:20]]
    second = PlateauSchedule.from_state_dict(first.state_dict())
    steps += [second.step(loss) for loss in losses[20:]]
    assert steps == expected and second == whole


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="plateau schedule"):
        PlateauSchedule(0.0)
