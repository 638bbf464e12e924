"""Pruning methods, one registry entry each. "What to remove" is an L1 magnitude importance in both; "how"
differs: masks on Conv2d weights (unstructured) or removed channels through a dependency graph (structured)."""

from __future__ import annotations

from typing import Callable, Dict

from edgebench.registry import Registry


class Pruner:
    """Prunes a model step by step to the cumulative levels of a schedule."""

    def step(self, level: float) -> None:
        raise NotImplementedError

    def export_copy(self):
        """A plain module (no masks, no hooks) with the pruning baked in."""
        raise NotImplementedError

    def achieved(self) -> float:
        raise NotImplementedError


def conv_weights(model):
    from torch import nn

    return [(module, "weight") for module in model.modules() if isinstance(module, nn.Conv2d)]


def conv_sparsity(model) -> float:
    """Fraction of Conv2d weights that are exactly zero (after the masks are applied)."""
    zeros = total = 0
    for module, name in conv_weights(model):
        weight = getattr(module, name)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / max(1, total)


class L1Unstructured(Pruner):
    """The study's method: global L1 magnitude pruning of Conv2d weights only."""

    def __init__(self, model, example_inputs, num_classes: int):
        self.model = model
        self.level = 0.0

    def step(self, level: float) -> None:
        from torch.nn.utils import prune

        # torch prunes `amount` of the weights that are still unpruned: convert the cumulative level.
        amount = (level - self.level) / (1.0 - self.level)
        if amount > 0:
            prune.global_unstructured(conv_weights(self.model), pruning_method=prune.L1Unstructured, amount=amount)
        self.level = level

    def export_copy(self):
        import copy

        from torch.nn.utils import prune

        clone = copy.deepcopy(self.model)
        for module, name in conv_weights(clone):
            if prune.is_pruned(module):
                prune.remove(module, name)
        return clone

    def achieved(self) -> float:
        return conv_sparsity(self.model)


class ChannelPruner(Pruner):
    """Structured: torch-pruning's dependency graph removes whole channels, residual connections included."""

    def __init__(self, model, example_inputs, num_classes: int):
        import torch_pruning as tp
        from torch import nn

        self.model = model
        self.example_inputs = example_inputs
        self.ignored = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
        self.ignored += [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == num_classes]
        self.tp = tp
        self.base_channels = self._channels()
        self.level = 0.0

    def _channels(self) -> int:
        from torch import nn

        return sum(m.out_channels for m in self.model.modules() if isinstance(m, nn.Conv2d))

    def step(self, level: float) -> None:
        tp = self.tp
        # One pruner per step, each asked for the share of the *remaining* channels that reaches `level`.
        ratio = (level - self.level) / (1.0 - self.level)
        if ratio > 0:
            pruner = tp.pruner.BasePruner(self.model, self.example_inputs,
                                          importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=ratio,
                                          ignored_layers=self.ignored, round_to=None)
            pruner.step()
        self.level = level

    def export_copy(self):
        import copy

        return copy.deepcopy(self.model)

    def achieved(self) -> float:
        return 1.0 - self._channels() / self.base_channels


PRUNERS: "Registry[Callable[..., Pruner]]" = Registry("pruning method")
PRUNERS.add("l1-unstructured", L1Unstructured)
PRUNERS.add("channel", ChannelPruner)


def summary(method: str, level: float, achieved: float, model) -> Dict:
    return {"method": method, "requested": round(level, 6), "achieved": round(achieved, 6),
            "conv_sparsity": round(conv_sparsity(model), 6)}
