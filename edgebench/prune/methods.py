"""How to remove: pruning methods, one registry entry each. Each takes the importance criterion it ranks by
(`prune/importance.py`): masks on single Conv2d weights (unstructured) or whole channels removed through
Torch-Pruning's dependency graph (channel). A method also owns its schedule and what its checkpoints record."""

from __future__ import annotations

import copy
import math
from typing import Callable, Dict, List

from edgebench.models.structure import layer_shapes
from edgebench.prune.importance import Importance
from edgebench.registry import Registry

STUDY_ITERATIONS = 10  # unstructured without a target: 0.2 per iteration reaches 89 % sparsity


class Pruner:
    """Prunes a model step by step to the cumulative levels of a schedule."""

    def __init__(self, model, example_inputs, num_classes: int, importance: Importance):
        self.model, self.example_inputs, self.importance = model, example_inputs, importance
        self.level = 0.0

    @staticmethod
    def schedule(amount: float, iterations, target) -> List[float]:
        """The cumulative sparsity (or channel ratio) reached after each iteration."""
        raise NotImplementedError

    def step(self, level: float) -> None:
        raise NotImplementedError

    def export_copy(self):
        """A plain module (no masks, no hooks) with the pruning baked in."""
        raise NotImplementedError

    def achieved(self) -> float:
        raise NotImplementedError

    def checkpoint_extra(self, plain) -> Dict:
        """What a checkpoint of the pruned model must carry to be rebuilt."""
        return {}

    def _share_of_remaining(self, level: float) -> float:
        """The share of what is still unpruned that reaches the cumulative `level`."""
        return (level - self.level) / (1.0 - self.level)


def conv_weights(model):
    from torch import nn  # torch: heavy, loaded only when this runs

    return [(module, "weight") for module in model.modules() if isinstance(module, nn.Conv2d)]


def conv_sparsity(model) -> float:
    """Fraction of Conv2d weights that are exactly zero (after the masks are applied)."""
    zeros = total = 0
    for module, name in conv_weights(model):
        weight = getattr(module, name)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / max(1, total)


class Unstructured(Pruner):
    """Global pruning of single Conv2d weights (the study's, with L1 importance), by the importance's scores."""

    @staticmethod
    def schedule(amount: float, iterations, target) -> List[float]:
        keep = 1.0 - amount
        if target is None:
            return [1.0 - keep ** (k + 1) for k in range(iterations or STUDY_ITERATIONS)]
        if target == 0.0:
            return []
        steps = iterations or max(1, math.ceil(math.log(1.0 - target) / math.log(keep) - 1e-9))
        levels = [1.0 - keep ** (k + 1) for k in range(steps - 1)]
        return [level for level in levels if level < target] + [target]

    def step(self, level: float) -> None:
        from torch.nn.utils import prune  # torch: heavy, loaded only when this runs

        amount = self._share_of_remaining(level)  # torch prunes a share of the weights still unpruned
        if amount > 0:
            weights = conv_weights(self.model)
            scores = {(module, name): self.importance.weight_scores(module, name) for module, name in weights}
            prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=amount,
                                      importance_scores=scores)
        self.level = level

    def export_copy(self):
        from torch.nn.utils import prune  # torch: heavy, loaded only when this runs

        clone = copy.deepcopy(self.model)
        for module, name in conv_weights(clone):
            if prune.is_pruned(module):
                prune.remove(module, name)
        return clone

    def achieved(self) -> float:
        return conv_sparsity(self.model)


class ChannelPruner(Pruner):
    """Structured: Torch-Pruning's dependency graph removes whole channels, residual connections included."""

    def __init__(self, model, example_inputs, num_classes: int, importance: Importance):
        from torch import nn  # torch: heavy, loaded only when this runs

        super().__init__(model, example_inputs, num_classes, importance)
        self.ignored = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
        self.ignored += [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == num_classes]
        self.base_channels = self._channels()

    @staticmethod
    def schedule(amount: float, iterations, target) -> List[float]:
        target = target if target is not None else amount
        steps = iterations or 1
        return [target * (k + 1) / steps for k in range(steps)]

    def _channels(self) -> int:
        from torch import nn  # torch: heavy, loaded only when this runs

        return sum(m.out_channels for m in self.model.modules() if isinstance(m, nn.Conv2d))

    def step(self, level: float) -> None:
        import torch_pruning as tp  # torch_pruning: pulls torch, loaded only when channels are pruned

        ratio = self._share_of_remaining(level)  # one pruner per step, asked for a share of what remains
        if ratio > 0:
            tp.pruner.BasePruner(self.model, self.example_inputs, importance=self.importance.channel_importance(),
                                 pruning_ratio=ratio, ignored_layers=self.ignored, round_to=None).step()
        self.level = level

    def export_copy(self):
        return copy.deepcopy(self.model)

    def achieved(self) -> float:
        return 1.0 - self._channels() / self.base_channels

    def checkpoint_extra(self, plain) -> Dict:
        return {"layer_shapes": layer_shapes(plain)}  # the layers' new sizes, to rebuild the smaller network


PRUNERS: "Registry[Callable[..., Pruner]]" = Registry("pruning method")
PRUNERS.add("unstructured", Unstructured)
PRUNERS.add("channel", ChannelPruner)
METHODS = tuple(PRUNERS.names())


def summary(method: str, importance: str, level: float, achieved: float, model) -> Dict:
    return {"method": method, "importance": importance, "requested": round(level, 6), "achieved": round(achieved, 6),
            "conv_sparsity": round(conv_sparsity(model), 6)}
