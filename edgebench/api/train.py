"""`edgebench.train`: train a zoo model with the study's recipe; returns a `Trained` (its checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from edgebench.api import rules
from edgebench.api.inputs import data_path
from edgebench.api.progress import reporting
from edgebench.api.tables import html_table, text_table
from edgebench.errors import BadOptionError
from edgebench.models import model_entry
from edgebench.train import train_model
from edgebench.train.recipe import SCHEDULES, TrainSpec, resolve_device


@dataclass(frozen=True, kw_only=True)
class Trained:
    """A checkpoint `edgebench train` wrote: where it is, its accuracy and history; `module()` rebuilds it."""

    path: Path
    checkpoint: Any = field(repr=False)

    @property
    def model(self) -> str:
        return self.checkpoint.model_name

    @property
    def accuracy(self) -> float:
        return self.checkpoint.accuracy

    @property
    def history(self):
        return self.checkpoint.history

    @property
    def stage_times(self):
        """[{"stage": "training (30 epochs)", "seconds": 812.4}, ...]: what the run spent where."""
        return list(self.checkpoint.extra.get("stage_times", []))

    def module(self):
        """The trained `torch.nn.Module`, in eval mode."""
        return self.checkpoint.build_model().eval()

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), "model": self.model, "accuracy": self.accuracy, "history": list(self.history),
                "dataset": dict(self.checkpoint.dataset)}

    def _table(self):
        rows = [(h["epoch"], h["train_loss"], h["train_accuracy"], h["test_accuracy"], h["lr"]) for h in self.history]
        return (f"Trained {self.model}: test accuracy {100 * self.accuracy:.2f} % at {self.path}",
                ("epoch", "train loss", "train acc", "test acc", "lr"), rows)

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def train(model: str, data: Any = None, *, epochs: Optional[int] = None, batch_size: Optional[int] = None,
          lr: Optional[float] = None, schedule: str = "onecycle", limit: Optional[int] = None, device: str = "cpu",
          seed: int = 0, weight_decay: Optional[float] = None, augment: Union[str, Sequence[str]] = ("crop", "flip"),
          input_size: Optional[int] = None, channels: int = 3, out=None, progress=False) -> Trained:
    """Train zoo model `model` on `data` (a path or numpy arrays; default the embedded digits) and save the
    checkpoint to `out` (default checkpoints/MODEL.pt). Options and defaults are `edgebench train`'s; unset
    `epochs`, `batch_size`, `lr`, `weight_decay` take the schedule's recipe. `progress`: see
    `edgebench.api.progress`; the stage times are in the checkpoint whatever it is (`Trained.stage_times`)."""
    spec = recipe(schedule=schedule, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                  augment=augment, seed=seed, device=device, limit=limit, schedules=SCHEDULES)
    rules.optional(rules.INPUT_SIZE, input_size, "input_size")
    if channels not in (1, 3):
        raise BadOptionError(f"channels {channels!r} is not one of 1, 3")
    model_entry(model)  # an unknown name fails before any data is read
    target = Path(out or f"checkpoints/{model}.pt")
    log, reporter = reporting(progress)
    with data_path(data) as data_ref:
        checkpoint = train_model(model, data_ref, spec, target, input_size=input_size, in_channels=channels,
                                 log=log, show_progress=False, progress=reporter)
    return Trained(path=target, checkpoint=checkpoint)


def recipe(*, schedule: str, epochs, batch_size, lr, weight_decay, augment, seed, device, limit, schedules,
           allow_auto: bool = False):
    """The `TrainSpec` for these options, each checked by its rule (shared by `train` and the ablation)."""
    rules.check_choice(schedule, schedules, "schedule")
    for label, value, rule in (("epochs", epochs, rules.POSITIVE_INT), ("batch_size", batch_size, rules.POSITIVE_INT),
                               ("lr", lr, rules.POSITIVE_FLOAT), ("weight_decay", weight_decay,
                                                                  rules.NON_NEGATIVE_FLOAT),
                               ("limit", limit, rules.POSITIVE_INT)):
        rules.optional(rule, value, label)
    if isinstance(augment, str):
        augment = [a for a in augment.split(",")]
    augmentations = tuple(a.strip() for a in augment if a.strip() and a.strip() != "none")
    return TrainSpec.for_schedule(schedule, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  augment=augmentations, seed=rules.SEED.check(seed, "seed"),
                                  device=resolve_device(device, allow_auto=allow_auto), train_limit=limit)
