"""Post-training pruning: the study's iterative L1 unstructured pruning and structured channel pruning."""

from edgebench.prune.spec import METHODS, PruneSpec

__all__ = ["METHODS", "PruneSpec"]
