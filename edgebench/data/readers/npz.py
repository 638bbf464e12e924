"""An .npz of images and labels: `x_train, y_train, x_test, y_test` or one `images, labels` pair."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgebench.data.imageset import ImageSet, split_indices
from edgebench.data.readers.base import READERS, Reader
from edgebench.data.validate import Fields, checked_imageset
from edgebench.errors import EdgebenchError


def detect(path: Path) -> bool:
    return path.is_file() and path.suffix == ".npz"


def read(path: Path, split: str) -> ImageSet:
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgebenchError(f"{path} is not a readable .npz: {exc}") from None
    suffix = "train" if split == "train" else "test"
    if {f"x_{suffix}", f"y_{suffix}"} <= keys:
        image_key, label_key, whole = f"x_{suffix}", f"y_{suffix}", False
    elif {"images", "labels"} <= keys:
        image_key, label_key, whole = "images", "labels", True
    else:
        raise EdgebenchError(f"{path} has keys {sorted(keys)}; expected x_train/y_train/x_test/y_test "
                             "or images/labels")
    fields = Fields(source=str(path), images=image_key, labels=label_key, class_names="class_names")
    try:
        images, labels = archive[image_key], archive[label_key]
        names = archive["class_names"] if "class_names" in keys else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgebenchError(f"{path}: cannot read its arrays ({exc}); the file is damaged") from None
    imageset = checked_imageset(images, labels, fields, names)
    if whole:  # one pair: a fixed 80/20 split so train and test never overlap
        train_idx, test_idx = split_indices(len(imageset))
        imageset = imageset.subset(train_idx if split == "train" else test_idx)
    return imageset


READERS.add("npz", Reader(name="npz", detect=detect, read=read,
                          layout="an .npz with x_train/y_train/x_test/y_test or images/labels"))
