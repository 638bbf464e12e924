"""An ImageFolder tree of JPEG/PNG files: `[train|val|test]/<class>/<image>`; greyscale becomes RGB."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from edgebench.data.imageset import ImageSet, split_indices
from edgebench.data.readers.base import READERS, Reader
from edgebench.data.validate import Fields, checked_imageset
from edgebench.errors import EdgebenchError

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val", "valid", "validation")}


def _class_dirs(root: Path) -> List[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def _class_names(root: Path, wnids: List[str]) -> tuple:
    """Human names from a `classes.tsv` (id<TAB>name) beside the tree, when there is one."""
    table: Dict[str, str] = {}
    tsv = root / "classes.tsv"
    if tsv.is_file():
        for line in tsv.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                table[parts[0]] = parts[1]
    return tuple(table.get(w, w) for w in wnids)


def _split_folder(root: Path, split: str) -> Optional[Path]:
    for name in _SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    return None


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    base = _split_folder(root, "train") or root
    return any(_images_in(d) for d in _class_dirs(base)[:3])


def _load_images(files: List[Path]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # Pillow: optional, loaded only when an image file is read

    arrays = []
    for path in files:
        try:
            with Image.open(path) as image:
                arrays.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        except (OSError, UnidentifiedImageError) as exc:
            raise EdgebenchError(f"cannot read image {path}: {exc}") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        # Mixed sizes: bring them to the most common size so the set stacks; the model's resize follows.
        from PIL import Image

        target = max(shapes, key=lambda s: sum(a.shape == s for a in arrays))
        arrays = [a if a.shape == target else
                  np.asarray(Image.fromarray(a).resize((target[1], target[0]), Image.BILINEAR)) for a in arrays]
    return np.stack(arrays)


def read(root: Path, split: str) -> ImageSet:
    split_root = _split_folder(root, split)
    train_root = _split_folder(root, "train")
    base = split_root or train_root or root
    classes = _class_dirs(train_root or root)
    if not classes:
        raise EdgebenchError(f"{root} has no class folders with images ({', '.join(sorted(SUFFIXES))})")
    wnids = [d.name for d in classes]
    files: List[Path] = []
    labels: List[int] = []
    for label, wnid in enumerate(wnids):
        folder = base / wnid
        found = _images_in(folder) if folder.is_dir() else []
        files += found
        labels += [label] * len(found)
    if not files:
        raise EdgebenchError(f"{base} holds no images of the classes {', '.join(wnids[:5])}")
    labels_array = np.asarray(labels, dtype=np.int64)
    if split_root is None and train_root is None:
        # One tree, no split folders: a fixed 80/20 split so train and test never overlap.
        train_idx, test_idx = split_indices(len(files))
        chosen = train_idx if split == "train" else test_idx
        files = [files[i] for i in chosen]
        labels_array = labels_array[chosen]
    elif split_root is None:
        raise EdgebenchError(f"{root} has a train/ folder but no {'/'.join(_SPLIT_FOLDERS[split])} folder")
    fields = Fields(source=str(base), images="image files", labels="class folders",
                    class_names="class folders of the train split")
    return checked_imageset(_load_images(files), labels_array, fields, _class_names(root, wnids))


READERS.add("imagefolder", Reader(name="imagefolder", detect=detect, read=read,
                          layout="an ImageFolder tree: [train|val]/<class>/<image>.jpg"))
