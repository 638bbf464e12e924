"""The one check every reader's arrays go through before they become an ImageSet.

Each refusal is one line naming the file, the field and what is valid: labels are whole numbers in
[0, classes), one per image, of at least two classes; images are [N, H, W], [N, H, W, C] or [N, C, H, W] with C
in {1, 3}, uint8 in [0, 255] or float in [0, 1] (or [0, 255]), without NaN. Arrays about to be made (resized
images, float inputs) are first estimated against the memory available (`check_fits`), so a size that cannot
fit is refused in one line instead of ending in a MemoryError.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from edgebench.data.imageset import ImageSet
from edgebench.errors import EdgebenchError


@dataclass(frozen=True, kw_only=True)
class Fields:
    """Where the arrays came from, for the messages: the file (or folder) and the name of each field."""

    source: str
    images: str = "images"
    labels: str = "labels"
    class_names: str = "class names"


def checked_labels(labels, fields: Fields, class_count: Optional[int] = None) -> np.ndarray:
    """Labels as int64 [N], refused when they are not whole numbers in [0, class_count)."""
    where = f"{fields.source}: {fields.labels}"
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise EdgebenchError(f"{where} is not an array of class indices ({exc})") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        hint = " (one-hot rows? store their argmax)" if array.ndim == 2 else ""
        raise EdgebenchError(f"{where} has shape {list(array.shape)}: expected one class index per image, "
                             f"shape [N]{hint}")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise EdgebenchError(f"{where} has dtype {array.dtype}: expected whole-number class indices (int)")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all():
            raise EdgebenchError(f"{where} holds {array[~finite][0]} at index {int(np.argmin(finite))}: expected "
                                 "whole-number class indices")
        fractional = array != np.round(array)
        if fractional.any():
            index = int(np.argmax(fractional))
            raise EdgebenchError(f"{where} holds the non-integer label {array[index]:g} at index {index}: labels must "
                                 "be whole-number class indices 0, 1, 2, ...")
    if len(array) and array.min() < 0:
        index = int(np.argmin(array))
        raise EdgebenchError(f"{where} holds the negative label {array[index]:g} at index {index}: labels must be "
                             "class indices 0, 1, 2, ...")
    if class_count is not None and len(array) and array.max() >= class_count:
        index = int(np.argmax(array))
        raise EdgebenchError(f"{where} holds label {array[index]:g} at index {index} but there are {class_count} "
                             f"{fields.class_names}: valid labels are 0..{class_count - 1}")
    return array.astype(np.int64)


def checked_images(images, fields: Fields) -> np.ndarray:
    """Images as uint8 [N, H, W, C], C in {1, 3}, from any of the accepted layouts and dtypes."""
    where = f"{fields.source}: {fields.images}"
    try:
        array = np.asarray(images)
    except (TypeError, ValueError) as exc:
        raise EdgebenchError(f"{where} is not an image array ({exc})") from None
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise EdgebenchError(f"{where} has shape {list(array.shape)}: expected [N, H, W], [N, H, W, C] or "
                             "[N, C, H, W] with C = 1 or 3")
    if array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        array = array.transpose(0, 2, 3, 1)
    if array.shape[-1] not in (1, 3):
        raise EdgebenchError(f"{where} has shape {list(array.shape)}: images need 1 or 3 channels")
    if min(array.shape[1:3]) < 1:
        raise EdgebenchError(f"{where} has shape {list(array.shape)}: images have no pixels")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise EdgebenchError(f"{where} has dtype {array.dtype}: expected uint8 pixels, or floats in [0, 1]")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all():
            image = int(np.argmin(finite.reshape(len(array), -1).all(axis=1)))
            raise EdgebenchError(f"{where}: image {image} holds NaN or infinite pixels; pixels must be finite")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise EdgebenchError(f"{where} holds pixel values in [{low:g}, {high:g}]: valid pixels are in [0, 255] "
                             "(uint8) or [0, 1] (float)")
    if np.issubdtype(array.dtype, np.floating) and high <= 1.0:
        array = array * 255.0
    return np.ascontiguousarray(np.round(array).astype(np.uint8))


def checked_imageset(images, labels, fields: Fields, class_names: Optional[Sequence] = None) -> ImageSet:
    """The one validation of a data set: images, labels, their counts and the class names, together."""
    names = None
    if class_names is not None:
        names = tuple(str(name) for name in np.asarray(class_names).reshape(-1)) \
            if not isinstance(class_names, (tuple, list)) else tuple(str(name) for name in class_names)
        if not names:
            raise EdgebenchError(f"{fields.source}: {fields.class_names} is empty: give one name per class")
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise EdgebenchError(f"{fields.source}: {fields.class_names} lists '{duplicate}' twice: give each "
                                 "class once")
    label_array = checked_labels(labels, fields, len(names) if names is not None else None)
    image_array = checked_images(images, fields)
    if len(image_array) != len(label_array):
        raise EdgebenchError(f"{fields.source}: {len(image_array)} images in {fields.images} but "
                             f"{len(label_array)} labels in {fields.labels}: give one label per image")
    if len(label_array) == 0:
        raise EdgebenchError(f"{fields.source}: {fields.images} holds no images: the data set is empty")
    present = np.unique(label_array)
    if len(present) < 2:
        raise EdgebenchError(f"{fields.source}: {fields.labels} hold one class ({int(present[0])}) in all "
                             f"{len(label_array)} images: training and accuracy need at least two classes")
    if names is None:
        names = tuple(str(i) for i in range(int(label_array.max()) + 1))
    return ImageSet(images=image_array, labels=label_array, class_names=names, source=fields.source)


# A class above this share of an eval set makes its accuracy say little (always answering it scores that much).
MAJORITY_FLAG = 0.9


def class_balance(labels: np.ndarray, class_names: Sequence[str]) -> Dict:
    """The eval set's largest class and its share; `imbalanced` when that share is over MAJORITY_FLAG."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    top = int(np.argmax(counts))
    share = float(counts[top]) / max(1, int(counts.sum()))
    return {"majority_class": str(class_names[top]) if top < len(class_names) else str(top),
            "majority_share": round(share, 4), "imbalanced": bool(share > MAJORITY_FLAG)}


def available_bytes() -> Optional[int]:
    """Memory available to a new allocation without swapping (Linux's MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional: the host extras install it

        return int(psutil.virtual_memory().available)
    except Exception:  # not installed, or no answer on this system
        return None


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} PB"


def check_fits(what: str, count: int, shape: Sequence[int], item_bytes: int, hint: str) -> None:
    """Refuse, before it is allocated, an array of `count` items of `shape` that cannot fit in available memory."""
    need = count * math.prod(int(n) for n in shape) * item_bytes
    available = available_bytes()
    if available is not None and need > available:
        dims = "x".join(str(int(n)) for n in shape)
        raise EdgebenchError(f"{what} cannot fit in memory: {count} image(s) of {dims} need {_bytes(need)} and "
                             f"{_bytes(available)} is available; {hint}")
