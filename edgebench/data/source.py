"""Resolve a `--data` value to an ImageSet: the embedded default, or a path in any registered format."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgebench.data.imageset import SPLITS, ImageSet
from edgebench.data.readers import READERS
from edgebench.errors import EdgebenchError

EMBEDDED = "digits"
_EMBEDDED_FILE = Path(__file__).parent / "embedded" / "digits.npz"


def embedded_path() -> Path:
    """The default data set shipped inside the package: scikit-learn's 1,797 real 8x8 handwritten digits."""
    return _EMBEDDED_FILE


def describe_formats() -> str:
    return "; ".join(f"{name}: {READERS.get(name).layout}" for name in READERS)


def load_split(data: Optional[str], split: str) -> ImageSet:
    if split not in SPLITS:
        raise EdgebenchError(f"unknown split '{split}': choose from {', '.join(SPLITS)}")
    if data in (None, "", EMBEDDED):
        imageset = READERS.get("npz").read(_EMBEDDED_FILE, split)
        return replace(imageset, source=EMBEDDED)
    path = Path(data).expanduser()
    if not path.exists():
        raise EdgebenchError(f"data path {data} does not exist (give a dataset path or '{EMBEDDED}' for the "
                             "embedded default)")
    for name in READERS:
        reader = READERS.get(name)
        if reader.detect(path):
            imageset = reader.read(path, split)
            if len(imageset) == 0:
                raise EdgebenchError(f"{data}: the {split} split is empty")
            return replace(imageset, source=str(path.resolve()))
    raise EdgebenchError(f"{data} is not a dataset edgebench can read; expected {describe_formats()}")


def limit(imageset: ImageSet, count: Optional[int], seed: int = 0) -> ImageSet:
    if count is None or count >= len(imageset):
        return imageset
    if count < 1:
        raise EdgebenchError(f"image limit {count} is out of range: give a positive count")
    return imageset.sample(count, seed)


def class_count(*sets: ImageSet) -> int:
    return max(max(s.num_classes, int(np.max(s.labels, initial=0)) + 1) for s in sets)
