"""The training recipe as a typed spec; the study's recipe is the default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional, Tuple

from edgebench.errors import EdgebenchError

SCHEDULES = ("onecycle", "plateau")
AUGMENTATIONS = ("crop", "flip")


@dataclass(frozen=True)
class TrainSpec:
    """Defaults: SGD momentum 0.9, weight decay 2e-5, OneCycle max_lr 0.0125 (pct_start 0.1, stepped per
    batch), batch 128, 150 epochs, RandomCrop(pad 4) + horizontal flip. `plateau` is the first paper's
    schedule: lr 0.01, weight decay 5e-4, ReduceLROnPlateau on the train loss (patience 5), early stop."""

    epochs: int = 150
    batch_size: int = 128
    schedule: str = "onecycle"
    lr: float = 0.0125
    momentum: float = 0.9
    weight_decay: float = 2e-5
    pct_start: float = 0.1
    plateau_patience: int = 5
    early_stop_patience: int = 10
    augment: Tuple[str, ...] = ("crop", "flip")
    crop_padding: int = 4
    seed: int = 0
    device: str = "cpu"
    train_limit: Optional[int] = None

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise EdgebenchError(f"unknown schedule '{self.schedule}': choose from {', '.join(SCHEDULES)}")
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise EdgebenchError(f"unknown augmentation '{sorted(unknown)[0]}': choose from "
                                 f"{', '.join(AUGMENTATIONS)} or none")
        if self.epochs < 1:
            raise EdgebenchError(f"epochs {self.epochs} is out of range: give at least 1")
        if self.batch_size < 1:
            raise EdgebenchError(f"batch size {self.batch_size} is out of range: give at least 1")
        if self.lr <= 0:
            raise EdgebenchError(f"learning rate {self.lr} is out of range: give a positive value")

    @classmethod
    def for_schedule(cls, schedule: str, **overrides) -> "TrainSpec":
        base = cls(schedule=schedule)
        if schedule == "plateau":
            base = replace(base, lr=0.01, weight_decay=5e-4)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict:
        out = asdict(self)
        out["augment"] = list(self.augment)
        return out
