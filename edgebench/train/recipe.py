"""The training recipe as a typed spec; the study's recipe is the default."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Optional, Tuple

from edgebench.errors import BadOptionError, EdgebenchError


class Schedule(str, Enum):
    ONECYCLE = "onecycle"  # stepped per batch
    PLATEAU = "plateau"  # stepped per epoch on the train loss, with early stopping


SCHEDULES = tuple(schedule.value for schedule in Schedule)
AUGMENTATIONS = ("crop", "flip")
DEVICES = ("cpu", "cuda")  # cuda may name its card: cuda:1
AUTO_DEVICE = "auto"  # CUDA when present, else the CPU


@dataclass(frozen=True, kw_only=True)
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
            raise BadOptionError(f"epochs {self.epochs} is out of range: give at least 1")
        if self.batch_size < 1:
            raise BadOptionError(f"batch size {self.batch_size} is out of range: give at least 1")
        for name, value in (("learning rate", self.lr), ("momentum", self.momentum),
                            ("weight decay", self.weight_decay), ("pct_start", self.pct_start)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BadOptionError(f"{name} {value} is not a finite number")
        if self.lr <= 0:
            raise BadOptionError(f"learning rate {self.lr} is out of range: give a positive value")
        if self.weight_decay < 0:
            raise BadOptionError(f"weight decay {self.weight_decay} is out of range: give 0 or more")
        if not 0 <= self.momentum < 1:
            raise BadOptionError(f"momentum {self.momentum} is out of range: give a value in [0, 1)")
        if not 0 < self.pct_start < 1:
            raise BadOptionError(f"pct_start {self.pct_start} is out of range: give a value in (0, 1)")
        if self.train_limit is not None and self.train_limit < 1:
            raise BadOptionError(f"train limit {self.train_limit} is out of range: give a positive count")

    @classmethod
    def for_schedule(cls, schedule: str, **overrides) -> "TrainSpec":
        base = cls(schedule=schedule)
        if schedule == Schedule.PLATEAU:
            base = replace(base, lr=0.01, weight_decay=5e-4)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict:
        out = asdict(self)
        out["augment"] = list(self.augment)
        return out


def resolve_device(device: str, *, allow_auto: bool = False) -> str:
    """`cpu`, `cuda[:N]` when CUDA is present, or with `allow_auto` `auto` (CUDA when present, else cpu)."""
    choices = ((AUTO_DEVICE,) if allow_auto else ()) + DEVICES
    if device not in choices and not device.startswith("cuda"):
        raise EdgebenchError(f"unknown device '{device}': choose {', '.join(choices[:-1])} or {choices[-1]}")
    if device == "cpu":
        return device
    import torch  # torch: heavy, loaded only when this runs

    if torch.cuda.is_available():
        return "cuda" if device == AUTO_DEVICE else device
    if device == AUTO_DEVICE:
        return "cpu"
    raise EdgebenchError(f"device '{device}' is not available here: use --device cpu"
                         f"{' or ' + AUTO_DEVICE if allow_auto else ''}")
