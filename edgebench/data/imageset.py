"""In-memory labelled images: uint8 NHWC arrays, the one currency of the data layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

SPLITS = ("train", "test")


@dataclass(frozen=True, kw_only=True)
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W, C], C in {1, 3}
    labels: np.ndarray  # int64 [N]
    class_names: Tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 [N, H, W, 1|3], got {self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, indices: np.ndarray) -> "ImageSet":
        return ImageSet(images=self.images[indices], labels=self.labels[indices], class_names=self.class_names,
                        source=self.source)

    def sample(self, count: int, seed: int = 0) -> "ImageSet":
        """A seeded random subset of at most `count` images (all of them, shuffled, if fewer)."""
        order = np.random.default_rng(seed).permutation(len(self))[:count]
        return self.subset(np.sort(order))


def split_indices(count: int, test_fraction: float = 0.2, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """A deterministic train/test split for sources that ship one split only."""
    order = np.random.default_rng(seed).permutation(count)
    n_test = max(1, int(round(count * test_fraction)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])
