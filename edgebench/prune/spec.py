"""Typed pruning settings; the study's iterative schedule is the default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional

from edgebench.errors import BadOptionError
from edgebench.prune.importance import IMPORTANCES
from edgebench.prune.methods import METHODS, PRUNERS, STUDY_ITERATIONS
from edgebench.registry import check_range

IMPORTANCE_NAMES = tuple(IMPORTANCES.names())
__all__ = ["IMPORTANCE_NAMES", "METHODS", "PruneSpec", "STUDY_ITERATIONS"]


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """`method` says how weights are removed, `importance` which ones (any importance with any method):
    unstructured: global pruning of single Conv2d weights, `amount` of the remaining weights per iteration
    (sparsity after k iterations = 1 - (1 - amount)^k), fine-tuning after each; with `l1` importance this is
    the study's method.
    channel: structured channel pruning through Torch-Pruning's dependency graph (residual-safe); the network
    really shrinks. `target` is then the fraction of channels removed per prunable layer, in `iterations` steps."""

    method: str = "unstructured"
    importance: str = "l1"
    amount: float = 0.2
    iterations: Optional[int] = None
    target: Optional[float] = None
    finetune_epochs: int = 1
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    seed: int = 0
    train_limit: Optional[int] = None  # fine-tune on at most this many training images

    def __post_init__(self):
        PRUNERS.get(self.method)  # an unknown name fails with the close matches
        IMPORTANCES.get(self.importance)
        check_range("pruning amount", self.amount, 0.0, 1.0, high_open=True)
        if self.amount == 0.0:
            raise BadOptionError("pruning amount 0.0 is out of range: give a fraction in (0, 1)")
        if self.target is not None:
            check_range("target sparsity", self.target, 0.0, 1.0, high_open=True)
        if self.iterations is not None and self.iterations < 1:
            raise BadOptionError(f"iterations {self.iterations} is out of range: give at least 1")
        if self.finetune_epochs < 0:
            raise BadOptionError(f"fine-tune epochs {self.finetune_epochs} is out of range: give 0 or more")

    @property
    def label(self) -> str:
        """Importance and method, as checkpoint files and tables name a run: `l1-unstructured`, `taylor-channel`."""
        return f"{self.importance}-{self.method}"

    def schedule(self) -> List[float]:
        """The cumulative sparsity (or channel ratio) reached after each iteration: the method's own rule."""
        return PRUNERS.get(self.method).schedule(self.amount, self.iterations, self.target)

    def as_dict(self) -> dict:
        return asdict(self)
