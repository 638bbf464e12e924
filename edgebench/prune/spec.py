"""Typed pruning settings; the study's iterative schedule is the default."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import List, Optional

from edgebench.errors import EdgebenchError
from edgebench.registry import check_range

METHODS = ("l1-unstructured", "channel")
STUDY_ITERATIONS = 10  # l1-unstructured without a target: 0.2 per iteration reaches 89 % sparsity


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """l1-unstructured: global L1 magnitude pruning of Conv2d weights, `amount` of the remaining weights per
    iteration (sparsity after k iterations = 1 - (1 - amount)^k), fine-tuning after each.
    channel: structured channel pruning through torch-pruning's dependency graph (residual-safe); the network
    really shrinks. `target` is then the fraction of channels removed per prunable layer, in `iterations` steps."""

    method: str = "l1-unstructured"
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
        if self.method not in METHODS:
            raise EdgebenchError(f"unknown pruning method '{self.method}': choose from {', '.join(METHODS)}")
        check_range("pruning amount", self.amount, 0.0, 1.0, high_open=True)
        if self.amount == 0.0:
            raise EdgebenchError("pruning amount 0.0 is out of range: give a fraction in (0, 1)")
        if self.target is not None:
            check_range("target sparsity", self.target, 0.0, 1.0, high_open=True)
        if self.iterations is not None and self.iterations < 1:
            raise EdgebenchError(f"iterations {self.iterations} is out of range: give at least 1")
        if self.finetune_epochs < 0:
            raise EdgebenchError(f"fine-tune epochs {self.finetune_epochs} is out of range: give 0 or more")

    def schedule(self) -> List[float]:
        """The cumulative sparsity (or channel ratio) reached after each iteration."""
        if self.method == "channel":
            target = self.target if self.target is not None else self.amount
            steps = self.iterations or 1
            return [target * (k + 1) / steps for k in range(steps)]
        keep = 1.0 - self.amount
        if self.target is None:
            return [1.0 - keep ** (k + 1) for k in range(self.iterations or STUDY_ITERATIONS)]
        if self.target == 0.0:
            return []
        steps = self.iterations or max(1, math.ceil(math.log(1.0 - self.target) / math.log(keep) - 1e-9))
        levels = [1.0 - keep ** (k + 1) for k in range(steps - 1)]
        return [level for level in levels if level < self.target] + [self.target]

    def as_dict(self) -> dict:
        return asdict(self)
