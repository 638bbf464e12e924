"""Dataset readers: one registry entry per on-disk format, each able to recognise its own layout."""

from __future__ import annotations

from edgebench.data.readers import cifar, idx, imagefolder, npz  # noqa: F401  (each registers its format)
from edgebench.data.readers.base import READERS, Reader

__all__ = ["READERS", "Reader"]
