"""An .npz of images and labels: `x_train, y_train, x_test, y_test` or one `images, labels` pair."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgebench.data.imageset import ImageSet, split_indices
from edgebench.data.readers import READERS, Reader
from edgebench.errors import EdgebenchError


def to_nhwc_uint8(images: np.ndarray, where: str) -> np.ndarray:
    """Accept [N,H,W], [N,H,W,C] or [N,C,H,W]; uint8, or float in [0, 1]."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise EdgebenchError(f"{where}: images must be [N, H, W(, C)], got shape {images.shape}")
    if images.shape[-1] not in (1, 3) and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.shape[-1] not in (1, 3):
        raise EdgebenchError(f"{where}: images need 1 or 3 channels, got shape {images.shape}")
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and float(images.max(initial=0)) <= 1.0:
            images = np.round(images * 255.0)
        images = np.clip(images, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(images)


def detect(path: Path) -> bool:
    return path.is_file() and path.suffix == ".npz"


def read(path: Path, split: str) -> ImageSet:
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EdgebenchError(f"{path} is not a readable .npz: {exc}") from None
    suffix = "train" if split == "train" else "test"
    if {f"x_{suffix}", f"y_{suffix}"} <= keys:
        images, labels = archive[f"x_{suffix}"], archive[f"y_{suffix}"]
    elif {"images", "labels"} <= keys:
        images, labels = archive["images"], archive["labels"]
        train_idx, test_idx = split_indices(len(labels))
        chosen = train_idx if split == "train" else test_idx
        images, labels = images[chosen], labels[chosen]
    else:
        raise EdgebenchError(f"{path} has keys {sorted(keys)}; expected x_train/y_train/x_test/y_test "
                             "or images/labels")
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if "class_names" in keys:
        names = tuple(str(n) for n in archive["class_names"])
    else:
        names = tuple(str(i) for i in range(int(labels.max(initial=0)) + 1))
    return ImageSet(to_nhwc_uint8(np.asarray(images), str(path)), labels, names, str(path))


READERS.add("npz", Reader("npz", detect, read, "an .npz with x_train/y_train/x_test/y_test or images/labels"))
