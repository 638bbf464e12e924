"""What to remove: an importance criterion, one registry entry each, chosen apart from the method that removes.

Each criterion scores single weights (for unstructured pruning) and provides Torch-Pruning's importance class
for whole channels (structured pruning), so any criterion goes with any method:

- `l1`: |w| (the study's), channels by the L1 norm of their weights (Torch-Pruning's GroupMagnitudeImportance)
- `l2`: w squared; channels by their L2 norm. For single weights it ranks exactly as `l1` does.
- `taylor`: |w * dL/dw|, the first-order Taylor estimate of the loss change when a weight is removed
  (Molchanov et al.), gradients from a few training batches before each step; channels by GroupTaylorImportance.
"""

from __future__ import annotations

from typing import Callable

from edgebench.errors import EdgebenchError
from edgebench.registry import Registry


class Importance:
    """A criterion: `weight_scores` for single weights, `channel_importance` for Torch-Pruning's pruner."""

    needs_gradients = False  # True: the caller runs a backward pass on training images before each step

    def weight_scores(self, module, name: str):
        raise NotImplementedError

    def channel_importance(self):
        raise NotImplementedError


def _dense(module, name: str):
    """The weight as a plain tensor and its trainable parameter (`NAME_orig` once torch's pruning masks it)."""
    original = getattr(module, f"{name}_orig", None)
    return getattr(module, name), original if original is not None else getattr(module, name)


class Magnitude(Importance):
    def __init__(self, p: int):
        self.p = p

    def weight_scores(self, module, name: str):
        weight, _ = _dense(module, name)
        return weight.detach().abs() ** self.p

    def channel_importance(self):
        import torch_pruning as tp  # torch_pruning: pulls torch, loaded only when channels are pruned

        return tp.importance.GroupMagnitudeImportance(p=self.p)


class Taylor(Importance):
    needs_gradients = True

    def weight_scores(self, module, name: str):
        weight, parameter = _dense(module, name)
        if parameter.grad is None:
            raise EdgebenchError("the taylor importance needs gradients: none were computed before this step")
        return (weight.detach() * parameter.grad.detach()).abs()

    def channel_importance(self):
        import torch_pruning as tp  # torch_pruning: pulls torch, loaded only when channels are pruned

        return tp.importance.GroupTaylorImportance()


IMPORTANCES: "Registry[Callable[[], Importance]]" = Registry("pruning importance")
IMPORTANCES.add("l1", lambda: Magnitude(1))
IMPORTANCES.add("l2", lambda: Magnitude(2))
IMPORTANCES.add("taylor", Taylor)
