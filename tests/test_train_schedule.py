"""The recipe's schedule on hand-written loss sequences: learning rates per step and the early stop."""

import math

import pytest
import torch

from edgebench.train.recipe import TrainSpec
from edgebench.train.schedule import TrainSchedule


def _optimizer(lr: float):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


def test_onecycle_moves_every_batch_as_torch_does():
    spec = TrainSpec(epochs=3, lr=0.1, pct_start=0.25)
    optimizer = _optimizer(spec.lr)
    schedule = TrainSchedule(optimizer, spec, steps_per_epoch=4)
    reference_optimizer = _optimizer(spec.lr)
    reference = torch.optim.lr_scheduler.OneCycleLR(reference_optimizer, max_lr=0.1, epochs=3, steps_per_epoch=4,
                                                    pct_start=0.25)
    seen, expected = [schedule.lr], [reference_optimizer.param_groups[0]["lr"]]
    for _ in range(3):
        for _ in range(4):
            optimizer.step()
            assert schedule.step() is False
            reference_optimizer.step()
            reference.step()
            seen.append(schedule.lr)
            expected.append(reference_optimizer.param_groups[0]["lr"])
        before = schedule.lr
        assert schedule.step(epoch_loss=5.0) is False  # the epoch's end neither moves OneCycle nor stops it
        assert schedule.lr == before
    assert seen == expected
    # Cosine annealing from max_lr / 25 up to max_lr at step 2 (pct_start 0.25 of 12 steps), down to max_lr / 25e4
    # at step 11; the step after the last batch leaves the value the history records.
    assert seen[0] == pytest.approx(0.1 / 25)
    assert seen[2] == pytest.approx(0.004 + (0.1 - 0.004) * (1 - math.cos(math.pi * 2 / 2)) / 2)
    assert max(seen) == pytest.approx(0.1) and seen.index(max(seen)) == 2
    assert seen[11] == pytest.approx(0.1 / 25 / 1e4) and len(seen) == 13


def test_plateau_moves_per_epoch_on_the_train_loss_and_stops_early():
    spec = TrainSpec.for_schedule("plateau", epochs=50, plateau_patience=1, early_stop_patience=3)
    schedule = TrainSchedule(_optimizer(spec.lr), spec, steps_per_epoch=10)
    for _ in range(10):
        assert schedule.step() is False and schedule.lr == 0.01  # batches leave the plateau schedule alone
    # 1.0 improves; 0.99995 is within 1e-4 of the best, which counts as no progress for the early stop
    # (torch's plateau threshold is relative 1e-4, so 0.99995 is no progress for it either).
    losses = [1.0, 0.5, 0.49995, 0.6, 0.4, 0.4, 0.4, 0.4]
    lrs, stops, stale = [], [], []
    for loss in losses:
        stops.append(schedule.step(epoch_loss=loss))
        lrs.append(schedule.lr)
        stale.append(schedule.stale)
    assert stale == [0, 0, 1, 2, 0, 1, 2, 3]
    assert stops == [False] * 7 + [True]
    # ReduceLROnPlateau(patience=1, factor=0.1): the lr drops after the second epoch without progress and the
    # count restarts after each drop.
    reference_optimizer = _optimizer(0.01)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_optimizer, patience=1)
    expected = []
    for loss in losses:
        reference.step(loss)
        expected.append(reference_optimizer.param_groups[0]["lr"])
    assert lrs == expected
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001, 0.0001])


def test_onecycle_never_stops_early():
    spec = TrainSpec(epochs=30, early_stop_patience=2)
    schedule = TrainSchedule(_optimizer(spec.lr), spec, steps_per_epoch=1)
    assert not any(schedule.step(epoch_loss=1.0) for _ in range(10))
    assert schedule.stale == 0


def test_state_round_trip_continues_the_same_sequence():
    spec = TrainSpec.for_schedule("plateau", plateau_patience=0, early_stop_patience=2)
    first = TrainSchedule(_optimizer(spec.lr), spec, steps_per_epoch=1)
    first.step(epoch_loss=1.0)
    first.step(epoch_loss=1.0)
    state = first.state_dict()
    assert set(state) == set(TrainSchedule.STATE_KEYS) and (state["best_loss"], state["stale"]) == (1.0, 1)
    resumed_optimizer = _optimizer(spec.lr)
    resumed_optimizer.param_groups[0]["lr"] = first.lr  # the optimizer's own state carries the lr
    resumed = TrainSchedule(resumed_optimizer, spec, steps_per_epoch=1)
    resumed.load_state_dict(state)
    assert resumed.step(epoch_loss=1.0) is True and first.step(epoch_loss=1.0) is True
    assert resumed.lr == first.lr == pytest.approx(1e-4)  # 0.01 cut by 10 after each epoch without progress
