"""A recipe's learning-rate schedule and early stopping behind one `step` call, as timm's schedulers.

The trainer calls `step()` after every optimizer step and `step(epoch_loss=...)` once at the end of every
epoch; the schedule decides which of the two moves the learning rate (OneCycle: every batch; plateau: every
epoch on the train loss) and whether training stops (plateau only: the train loss stopped improving)."""

from __future__ import annotations

from typing import Optional

from edgebench.train.recipe import Schedule
from edgebench.train.recipe import TrainSpec

MIN_IMPROVEMENT = 1e-4  # a train loss this much below the best so far counts as progress


class TrainSchedule:
    STATE_KEYS = ("scheduler", "best_loss", "stale")  # what `state_dict` adds to a saved training state

    def __init__(self, optimizer, spec: TrainSpec, steps_per_epoch: int):
        import torch  # torch: heavy, loaded only when this runs

        self.optimizer = optimizer
        self.name = Schedule(spec.schedule)
        self.early_stop_patience = spec.early_stop_patience
        if self.name is Schedule.ONECYCLE:
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=spec.lr, epochs=spec.epochs, steps_per_epoch=steps_per_epoch,
                pct_start=spec.pct_start)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=spec.plateau_patience)
        self.best_loss = float("inf")
        self.stale = 0  # epochs since the train loss last improved

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, epoch_loss: Optional[float] = None) -> bool:
        """After a batch (no argument) or at the end of an epoch (its mean train loss). True: stop training."""
        if epoch_loss is None:
            if self.name is Schedule.ONECYCLE:
                self.scheduler.step()
            return False
        if self.name is Schedule.ONECYCLE:
            return False
        self.scheduler.step(epoch_loss)
        if epoch_loss < self.best_loss - MIN_IMPROVEMENT:
            self.best_loss, self.stale = epoch_loss, 0
        else:
            self.stale += 1
        return self.stale >= self.early_stop_patience

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(), "best_loss": self.best_loss, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_loss, self.stale = state["best_loss"], state["stale"]
