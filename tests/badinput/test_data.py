"""Bad data sets, as `edgebench train --data` meets them: every reader goes through the one check in the data
layer, which names the file, the field and what is valid; nothing is trained and nothing is written."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.data import load_split
from edgebench.errors import EdgebenchError
from .conftest import assert_unchanged, one_error_line, tree_snapshot


def train_on(tmp_path: Path, data: Path):
    """Run `train` on `data` from inside tmp_path; return (exit code, the one error line)."""
    before = tree_snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["train", "test_vgg", "--data", str(data), "--epochs", "1",
                                      "--out", str(tmp_path / "out" / "m.pt")])
    assert_unchanged(before, tmp_path)
    return result.exit_code, one_error_line(result.output)


def npz(tmp_path: Path, **arrays) -> Path:
    path = tmp_path / "set.npz"
    np.savez(path, **arrays)
    return path


def digits(count: int, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 8, 8, channels), dtype=np.uint8)


@pytest.mark.parametrize("labels, message", [
    (np.linspace(0, 0.9, 64), "labels holds the non-integer label 0.0142857 at index 1: labels must be whole-number class indices"),
    (np.r_[np.arange(63) % 3, -1], "labels holds the negative label -1 at index 63"),
    (np.r_[np.arange(63) % 3, np.nan], "labels holds nan at index 63"),
    (np.array(["a"] * 64), "labels has dtype <U1: expected whole-number class indices"),
    (np.eye(3)[np.arange(64) % 3], "labels has shape [64, 3]: expected one class index per image, shape [N] "
                                   "(one-hot rows? store their argmax)"),
])
def test_bad_labels_are_named(tmp_path, labels, message):
    path = npz(tmp_path, images=digits(64), labels=labels)
    code, line = train_on(tmp_path, path)
    assert code == 1 and line.startswith(f"error: {path}: ") and message in line


def test_labels_beyond_the_class_names(tmp_path):
    path = npz(tmp_path, images=digits(64), labels=np.arange(64) % 5, class_names=np.array(["a", "b", "c"]))
    code, line = train_on(tmp_path, path)
    assert code == 1
    assert line == (f"error: {path}: labels holds label 4 at index 4 but there are 3 class_names: valid labels "
                    "are 0..2")


def test_image_and_label_counts_differ(tmp_path):
    path = npz(tmp_path, images=digits(64), labels=np.arange(60) % 3)
    code, line = train_on(tmp_path, path)
    assert code == 1
    assert line == f"error: {path}: 64 images in images but 60 labels in labels: give one label per image"


def test_split_keys_counts_differ(tmp_path):
    path = npz(tmp_path, x_train=digits(64), y_train=np.arange(64) % 3, x_test=digits(10), y_test=np.arange(9) % 3)
    with pytest.raises(EdgebenchError, match="10 images in x_test but 9 labels in y_test"):
        load_split(str(path), "test")
    assert len(load_split(str(path), "train")) == 64


def test_empty_data_set(tmp_path):
    path = npz(tmp_path, images=np.zeros((0, 8, 8), np.uint8), labels=np.zeros(0, np.int64))
    code, line = train_on(tmp_path, path)
    assert code == 1 and line == f"error: {path}: images holds no images: the data set is empty"


def test_duplicate_class_names(tmp_path):
    path = npz(tmp_path, images=digits(64), labels=np.arange(64) % 2, class_names=np.array(["cat", "cat"]))
    code, line = train_on(tmp_path, path)
    assert code == 1 and line == f"error: {path}: class_names lists 'cat' twice: give each class once"


@pytest.mark.parametrize("images, message", [
    (np.zeros((64, 64), np.uint8), "images has shape [64, 64]: expected [N, H, W], [N, H, W, C] or [N, C, H, W]"),
    (np.zeros((64, 8, 8, 5), np.uint8), "images has shape [64, 8, 8, 5]: images need 1 or 3 channels"),
    (np.zeros((64, 8, 8), bool), "images has dtype bool: expected uint8 pixels, or floats in [0, 1]"),
    (np.zeros((64, 8, 8), np.complex64), "images has dtype complex64"),
    (np.where(np.arange(64)[:, None, None] == 7, np.nan, np.zeros((64, 8, 8))),
     "images: image 7 holds NaN or infinite pixels"),
    (np.full((64, 8, 8), 300.0), "images holds pixel values in [300, 300]: valid pixels are in [0, 255]"),
    (np.full((64, 8, 8), -2, np.int16), "images holds pixel values in [-2, -2]"),
])
def test_bad_images_are_named(tmp_path, images, message):
    path = npz(tmp_path, images=images, labels=np.arange(64) % 3)
    code, line = train_on(tmp_path, path)
    assert code == 1 and line.startswith(f"error: {path}: ") and message in line


def _idx(path: Path, array: np.ndarray, code: int) -> None:
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def test_idx_negative_label_and_count_mismatch(tmp_path):
    root = tmp_path / "mnist"
    root.mkdir()
    images = digits(20)[..., 0]
    _idx(root / "train-images-idx3-ubyte.gz", images, 0x08)
    _idx(root / "train-labels-idx1-ubyte.gz", np.r_[np.zeros(19), -3].astype(np.int8), 0x09)
    code, line = train_on(tmp_path, root)
    assert code == 1
    assert line == (f"error: {root}: train-labels-idx1-ubyte.gz holds the negative label -3 at index 19: labels "
                    "must be class indices 0, 1, 2, ...")
    _idx(root / "train-labels-idx1-ubyte.gz", np.zeros(18, np.uint8), 0x08)
    code, line = train_on(tmp_path, root)
    assert code == 1 and "20 images in train-images-idx3-ubyte.gz but 18 labels in train-labels-idx1-ubyte.gz" in line


def test_cifar_batch_with_fractional_labels(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rows = np.zeros((4, 3072), np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(root / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": [0.5, 1.0, 2.0, 3.0]}, handle)
    code, line = train_on(tmp_path, root)
    assert code == 1 and line.startswith(f"error: {root}: data_batch_1") and "non-integer label 0.5 at index 0" in line


def test_imagefolder_with_a_broken_image(tmp_path):
    from PIL import Image

    root = tmp_path / "pets"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for index in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * index, np.uint8)).save(root / label / f"{index}.png")
    (root / "dog" / "9.png").write_text("not a png")
    code, line = train_on(tmp_path, root)
    assert code == 1 and line.startswith(f"error: cannot read image {root / 'dog' / '9.png'}")
