"""CIFAR-10 / CIFAR-100 in the official python format: pickled dicts of uint8 [N, 3072] rows."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from edgebench.data.imageset import ImageSet
from edgebench.data.readers.base import READERS, Reader
from edgebench.data.validate import Fields, checked_imageset
from edgebench.errors import EdgebenchError

# (folder name, train files, test files, meta file, label key, names key)
_LAYOUTS = (
    ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
     "labels", "label_names"),
    ("cifar-100-python", ["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
)


def _resolve(root: Path) -> Optional[Tuple[Path, tuple]]:
    for layout in _LAYOUTS:
        for folder in (root, root / layout[0]):
            if (folder / layout[2][0]).is_file():
                return folder, layout
    return None


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise EdgebenchError(f"{path} is not a CIFAR python batch: {exc}") from None


def detect(root: Path) -> bool:
    return root.is_dir() and _resolve(root) is not None


def read(root: Path, split: str) -> ImageSet:
    resolved = _resolve(root)
    if resolved is None:
        raise EdgebenchError(f"{root} holds no CIFAR python batches (data_batch_1 ... test_batch)")
    folder, (_, train_files, test_files, meta_file, label_key, names_key) = resolved
    rows: List[np.ndarray] = []
    labels: List = []
    files = train_files if split == "train" else test_files
    for name in files:
        batch = _unpickle(folder / name)
        try:
            data = np.asarray(batch["data"])
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"'data' has shape {list(data.shape)}, expected [N, 3072]")
            if len(data) != len(batch[label_key]):
                raise EdgebenchError(f"{folder / name}: {len(data)} images in 'data' but {len(batch[label_key])} "
                                     f"labels in '{label_key}': give one label per image")
            rows.append(data.reshape(-1, 3, 32, 32))
            labels.extend(batch[label_key])
        except (KeyError, ValueError, TypeError) as exc:
            raise EdgebenchError(f"{folder / name} is not a CIFAR python batch: {exc}") from None
    meta_path = folder / meta_file
    names = None
    if meta_path.is_file():
        try:
            names = list(_unpickle(meta_path)[names_key])
        except (KeyError, TypeError) as exc:
            raise EdgebenchError(f"{meta_path} has no class names ({exc})") from None
    fields = Fields(source=str(root), images=f"{', '.join(files)} 'data'", labels=f"{', '.join(files)} '{label_key}'",
                    class_names=f"{meta_file} '{names_key}'")
    return checked_imageset(np.concatenate(rows), np.asarray(labels), fields, names)


READERS.add("cifar", Reader(name="cifar", detect=detect, read=read,
                          layout="a cifar-10-batches-py or cifar-100-python folder"))
