"""MNIST / Fashion-MNIST: the four original IDX files, gzipped or not."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from edgebench.data.imageset import ImageSet
from edgebench.data.readers.base import READERS, Reader
from edgebench.data.validate import Fields, checked_imageset
from edgebench.errors import EdgebenchError

_PREFIX = {"train": "train", "test": "t10k"}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def _find(root: Path, stem: str) -> Optional[Path]:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code not in _DTYPES:
            raise ValueError("bad magic number")
        shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        array = np.frombuffer(data, dtype=_DTYPES[dtype_code], offset=4 + 4 * ndim)
        return array.reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise EdgebenchError(f"{path} is not a valid IDX file: {exc}") from None


def detect(root: Path) -> bool:
    return root.is_dir() and _find(root, "train-images-idx3-ubyte") is not None


def read(root: Path, split: str) -> ImageSet:
    prefix = _PREFIX[split]
    images_path = _find(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise EdgebenchError(f"{root} has no {prefix}-images-idx3-ubyte[.gz] / {prefix}-labels-idx1-ubyte[.gz]")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise EdgebenchError(f"{images_path}: images have shape {list(images.shape)}; an IDX image file holds "
                             "[N, H, W]")
    names = FASHION_CLASSES if "fashion" in str(root).lower() else None
    fields = Fields(source=str(root), images=images_path.name, labels=labels_path.name)
    return checked_imageset(images, labels, fields, names)


READERS.add("idx", Reader(name="idx", detect=detect, read=read,
                          layout="a folder with train-images-idx3-ubyte.gz and friends (MNIST layout)"))
