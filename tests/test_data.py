import gzip
import pickle
import re
import struct
import time

import numpy as np
import pytest
from PIL import Image

from edgebench.data import EMBEDDED, Preprocess, fit_normalisation, load_split, normalise, resize_images
from edgebench.data.validate import class_balance
from edgebench.errors import EdgebenchError
from tests.conftest import shared_dataset


def write_idx(path, array):
    codes = {np.uint8: 0x08}
    header = struct.pack(">HBB", 0, codes[array.dtype.type], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def test_embedded_default_is_real_digits():
    train, test = load_split(None, "train"), load_split(EMBEDDED, "test")
    assert (len(train), len(test)) == (1437, 360)
    assert train.images.shape[1:] == (8, 8, 1) and train.images.dtype == np.uint8
    assert sorted(np.unique(train.labels)) == list(range(10))
    assert train.images.std() > 30  # real strokes, not a constant image


def test_idx_reader(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (count, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    test = load_split(str(tmp_path), "test")
    assert test.images.shape == (5, 28, 28, 1)
    assert test.labels.tolist() == [0, 1, 2, 3, 4]


def test_idx_reader_rejects_corrupt_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04garbage"))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"))
    with pytest.raises(EdgebenchError, match="not a valid IDX file"):
        load_split(str(tmp_path), "train")


def test_cifar_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    train = load_split(str(tmp_path), "train")
    assert train.images.shape == (20, 32, 32, 3)
    assert train.class_names[9] == "truck"
    # Channel order: the first 1024 values of a row are the red plane.
    raw = pickle.loads((folder / "test_batch").read_bytes())["data"][0]
    test = load_split(str(folder), "test")
    assert test.images[0, 0, 1, 0] == raw[1] and test.images[0, 0, 0, 2] == raw[2048]


def test_imagefolder_reader_converts_greyscale(tmp_path):
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for index in range(3):
                array = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(array).save(tmp_path / split / cls / f"{index}.png")
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), mode="L").save(tmp_path / "val" / "dog" / "g.png")
    test = load_split(str(tmp_path), "test")
    assert test.images.shape == (7, 16, 16, 3)
    assert test.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    grey = test.images[6]  # val/dog/g.png sorts after 0-2.png
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_npz_reader_both_layouts(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.random((50, 3, 12, 12)).astype(np.float32)  # NCHW floats in [0, 1]
    np.savez(tmp_path / "one.npz", images=images, labels=np.arange(50) % 5)
    train, test = load_split(str(tmp_path / "one.npz"), "train"), load_split(str(tmp_path / "one.npz"), "test")
    assert train.images.shape == (40, 12, 12, 3) and test.images.shape == (10, 12, 12, 3)
    np.savez(tmp_path / "split.npz", x_train=np.zeros((6, 8, 8), np.uint8), y_train=np.arange(6),
             x_test=np.zeros((2, 8, 8), np.uint8), y_test=np.array([1, 2]))
    assert load_split(str(tmp_path / "split.npz"), "test").labels.tolist() == [1, 2]


def test_missing_and_unknown_data(tmp_path):
    with pytest.raises(EdgebenchError, match="does not exist"):
        load_split(str(tmp_path / "nope"), "train")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(EdgebenchError, match="not a dataset edgebench can read"):
        load_split(str(tmp_path / "notes.txt"), "train")


def test_resize_and_normalisation_roundtrip():
    train = resize_images(load_split(None, "train"), (32, 32), 3)
    assert train.images.shape[1:] == (32, 32, 3)
    mean, std = fit_normalisation(train)
    x = normalise(train.images[:64], Preprocess(input_size=(32, 32), channels=3, mean=mean, std=std))
    assert x.shape == (64, 3, 32, 32) and x.dtype == np.float32
    full = normalise(train.images, Preprocess(input_size=(32, 32), channels=3, mean=mean, std=std))
    assert np.allclose(full.mean(axis=(0, 2, 3)), 0, atol=1e-3)
    assert np.allclose(full.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_shared_fashion_mnist_reads_real_files():
    path = shared_dataset("fashion-mnist")
    test = load_split(str(path), "test")
    assert test.images.shape == (10000, 28, 28, 1)
    assert test.class_names[9] == "Ankle boot"
    assert np.bincount(test.labels).tolist() == [1000] * 10


def test_shared_tiny_imagenet_reads_real_jpegs():
    test = load_split(str(shared_dataset("tiny-imagenet-10")), "test")
    assert test.images.shape == (500, 64, 64, 3) and test.num_classes == 10


def test_the_one_check_accepts_the_usual_encodings():
    from edgebench.data.validate import Fields, checked_imageset

    fields = Fields(source="set.npz")
    images = np.linspace(0.0, 1.0, 4 * 3 * 5 * 5, dtype=np.float32).reshape(4, 3, 5, 5)  # NCHW floats in [0, 1]
    labels = np.array([[0.0], [2.0], [1.0], [2.0]])  # [N, 1] whole-number floats, as Keras saves them
    imageset = checked_imageset(images, labels, fields, ["a", "b", "c"])
    assert imageset.images.shape == (4, 5, 5, 3) and imageset.images.dtype == np.uint8
    assert imageset.images[0, 0, 0].tolist() == [0, 21, 43] and imageset.images.max() == 255
    assert imageset.labels.tolist() == [0, 2, 1, 2] and imageset.labels.dtype == np.int64
    assert imageset.class_names == ("a", "b", "c")
    grey = checked_imageset(np.full((2, 4, 4), 300 // 2, np.int32), np.array([0, 3]), fields)
    assert grey.images.shape == (2, 4, 4, 1) and int(grey.images.max()) == 150 and grey.num_classes == 4


# -- sizes that cannot fit, degenerate labels -------------------------------------------------------------------
def _cli(*args):
    from click.testing import CliRunner

    from edgebench.cli import cli

    return CliRunner().invoke(cli, list(args))


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_resizing_beyond_memory_is_refused_before_allocation():
    started = time.monotonic()
    digits = load_split(EMBEDDED, "test")
    with pytest.raises(EdgebenchError, match=rf"^the images resized to 100000x100000 cannot fit in memory: "
                                             rf"{len(digits)} image\(s\) of 100000x100000x3 need [\d.]+ TB and "):
        resize_images(digits, (100000, 100000), 3)
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_an_input_size_that_cannot_fit_is_refused_before_allocation(tmp_path):
    from edgebench.data.validate import available_bytes

    started = time.monotonic()
    line = _one_error_line(_cli("export", "test_resnet", "--input-size", "100000", "--format", "onnx",
                                "--out", str(tmp_path / "b")))
    assert re.fullmatch(r"error: the images resized to 100000x100000 cannot fit in memory: \d+ image\(s\) of "
                        r"100000x100000x3 need [\d.]+ TB and [\d.]+ GB is available; choose a smaller --input-size",
                        line), line
    assert time.monotonic() - started < 30 and not (tmp_path / "b").exists()
    assert available_bytes() > 0


def test_normalised_inputs_are_estimated_too():
    from edgebench.data import Preprocess, normalise
    from edgebench.data.validate import available_bytes

    rows = int(available_bytes() // (8 * 3 * 1000)) + 1  # one more row than float32 room
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(rows, 1000, 1, 3), strides=(0, 0, 0, 0))
    with pytest.raises(EdgebenchError, match=r"^the normalised float32 inputs cannot fit in memory: \d+ image\(s\) "
                                             r"of 1000x1x3 need"):
        normalise(huge, Preprocess(input_size=(1000, 1), channels=3, mean=(0.5,), std=(0.25,)))


def test_one_class_labels_are_refused_for_training_and_export(tmp_path):
    data = tmp_path / "one.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8),
             labels=np.full(40, 3))
    expected = (f"error: {data}: labels hold one class (3) in all 40 images: training and accuracy need at least "
                "two classes")
    assert _one_error_line(_cli("train", "test_resnet", "--data", str(data), "--epochs", "1",
                                "--out", str(tmp_path / "m.pt"))) == expected
    assert _one_error_line(_cli("export", "test_resnet", "--data", str(data), "--format", "onnx",
                                "--out", str(tmp_path / "b"))) == expected
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "b").exists()


def test_class_balance_flags_a_majority_over_90_percent():
    from edgebench.data.validate import class_balance

    names = ("a", "b", "c")
    assert class_balance(np.array([0] * 91 + [1] * 9), names) == {
        "majority_class": "a", "majority_share": 0.91, "imbalanced": True}
    assert class_balance(np.array([2] * 90 + [1] * 10), names) == {
        "majority_class": "c", "majority_share": 0.9, "imbalanced": False}


def test_an_imbalanced_eval_set_is_flagged_in_the_report(tmp_path):
    from edgebench.report.load import load_results
    from edgebench.report.table import rows_from_results
    from tests.badinput.test_agent_bundle import _sha, agent, read_manifest, tiny_bundle, write_manifest

    bundle = tiny_bundle(tmp_path / "bundle")
    labels = np.array([1] * 15 + [0])  # what the export writes for it: 15 of 16 images are class b
    np.savez(bundle / "eval.npz", images=np.load(bundle / "eval.npz")["images"], labels=labels)
    manifest = read_manifest(bundle)
    manifest["eval"].update(sha256=_sha(bundle / "eval.npz"), balance=class_balance(labels, ("a", "b")))
    write_manifest(bundle, manifest)
    out = tmp_path / "r.json"
    done = agent("run", str(bundle), "--out", str(out), "--artifacts", "onnx-fp32", "--rounds", "1",
                 "--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "5", "--min-seconds", "0")
    assert done.returncode == 0, done.stderr
    (row,), failures = rows_from_results(load_results([str(out)]))
    assert not failures and row.accuracy is not None and row.eval_count == 16
    assert "imbalanced eval set: class b is 93.8 % of its images, so its accuracy says little" in row.flags


@pytest.mark.slow
def test_the_export_writes_the_eval_balance_into_the_manifest(tmp_path):
    import json

    rng = np.random.default_rng(0)
    data = tmp_path / "skewed.npz"
    np.savez(data, x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8), y_train=np.arange(64) % 2,
             x_test=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), y_test=np.array([0] * 38 + [1] * 2))
    result = _cli("export", "test_resnet", "--data", str(data), "--format", "onnx", "--input-size", "8",
                  "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    balance = json.loads((tmp_path / "b" / "manifest.json").read_text())["eval"]["balance"]
    assert balance == {"majority_class": "0", "majority_share": 0.95, "imbalanced": True}
