"""The reader registry: one entry per on-disk format, each able to recognise its own layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgebench.data.imageset import ImageSet
from edgebench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Reader:
    name: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, str], ImageSet]
    layout: str  # what the reader expects, for error messages


READERS: "Registry[Reader]" = Registry("data format")
