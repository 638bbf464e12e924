"""`device_agent run` on hand-edited and corrupted bundles: one line naming the field, exit 1, nothing read
outside the bundle, no file changed but the result."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

FAST = ("--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "3", "--min-seconds", "0", "--quiet")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_onnx(path: Path) -> None:
    """A real two-class classifier on 8x8 RGB: global average pool, then a 3x2 matrix."""
    pool_classifier_onnx(path, np.array([[1, -1], [0.5, 0.5], [-1, 1]], np.float32), size=8)


def pool_classifier_onnx(path: Path, weight: np.ndarray, size: int) -> None:
    """A real classifier on size x size RGB: global average pool, then the 3 x classes matrix `weight`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes = weight.shape[1]
    weight = numpy_helper.from_array(weight.astype(np.float32), "w")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["logits"])]
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                            ["N", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
                              [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))


def tiny_bundle(folder: Path, images: int = 16) -> Path:
    """A schema-valid bundle with one ONNX artifact and a real evaluation set, written by hand."""
    folder.mkdir(parents=True)
    tiny_onnx(folder / "model.fp32.onnx")
    rng = np.random.default_rng(0)
    np.savez(folder / "eval.npz", images=rng.integers(0, 256, (images, 8, 8, 3), dtype=np.uint8),
             labels=rng.integers(0, 2, images).astype(np.int64))
    artifact = {"name": "onnx-fp32", "format": "onnx", "precision": "fp32", "file": "model.fp32.onnx",
                "sha256": _sha(folder / "model.fp32.onnx"), "bytes": (folder / "model.fp32.onnx").stat().st_size,
                "input": {"name": "input", "shape": [-1, 3, 8, 8], "layout": "NCHW", "dtype": "float32"},
                "output": {"name": "logits", "shape": [-1, 2], "dtype": "float32"},
                "check": {"reference": "self", "count": images, "top1_agreement": 1.0, "max_abs_diff": 0.0}}
    manifest = {"schema_version": 1, "kind": "edgebench.bundle",
                "model": {"name": "tiny", "source": "onnx", "trained": False},
                "preprocess": {"input_size": [8, 8], "channels": 3, "mean": [0.5], "std": [0.25], "scale": 255.0},
                "class_names": ["a", "b"],
                "eval": {"file": "eval.npz", "sha256": _sha(folder / "eval.npz"), "count": images, "layout": "NHWC",
                         "dtype": "uint8"},
                "artifacts": [artifact, dict(artifact, name="onnx-fp32-again")]}
    write_manifest(folder, manifest)
    return folder


def write_manifest(folder: Path, manifest: Dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def read_manifest(folder: Path) -> Dict:
    return json.loads((folder / "manifest.json").read_text())


def snapshot(*folders: Path) -> Dict[str, str]:
    """Every file under the folders (following no links) with its size, mtime and content hash."""
    state = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                info = path.lstat()
                digest = _sha(path) if path.is_file() and not path.is_symlink() else ""
                state[str(path)] = f"{info.st_mode} {info.st_size} {info.st_mtime_ns} {digest}"
    return state


def agent(*args: str, env: Dict[str, str] = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device_agent", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=None if env is None else {**os.environ, **env})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture
def bundle(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def refused(bundle: Path, tmp_path: Path, *extra: str, code: int = 1) -> str:
    """Run on `bundle`; assert exit `code`, one stderr line without a traceback, nothing changed but the result.
    Return the line."""
    out = tmp_path / "result.json"
    before = snapshot(tmp_path)
    before.pop(str(out), None)
    done = agent("run", str(bundle), "--out", str(out), *FAST, *extra)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    after = snapshot(tmp_path)
    after.pop(str(out), None)
    assert after == before
    if code == 1 and out.exists():
        result = json.loads(out.read_text())
        assert lines[0] == f"error: {result['error']}" or result["runs"], (lines, result["error"])
    return lines[0]


def test_the_tiny_bundle_runs(bundle, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(bundle), "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [r["error"] for r in runs] == [None, None] and runs[0]["accuracy"]["count"] == 16


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("preprocess"), "manifest.json: preprocess is missing"),
    (lambda m: m["artifacts"][0].update(sha256="abc"), "artifacts[0].sha256 is \"abc\"; it must match"),
    (lambda m: m["artifacts"][1].update(bytes="12"), "artifacts[1].bytes must be integer, not string \"12\""),
    (lambda m: m["preprocess"].update(channels=4), "preprocess.channels is 4; valid: 1, 3"),
    (lambda m: m["eval"].update(count=0), "eval.count is 0; it must be at least 1"),
    (lambda m: m.update(artifacts=[]), "artifacts holds 0 item(s); it needs at least 1"),
    (lambda m: m["model"].update(trained="yes"), "model.trained must be boolean"),
    (lambda m: m["preprocess"].update(std=[0.0]), "preprocess.std[0] is 0.0; it must be greater than 0"),
    (lambda m: m["preprocess"].update(mean=[0.1, 0.2]), "preprocess.mean has 2 values; give 1 or one per channel"),
    (lambda m: m.update(schema_version=2), "schema_version 2 is not supported: this agent reads 1"),
    (lambda m: m.update(schema_version="1"), "schema_version '1' is not supported"),
    (lambda m: m.update(kind="something"), "is not an edgebench bundle manifest"),
    (lambda m: m["artifacts"][1].update(name="onnx-fp32"), "artifacts[1].name 'onnx-fp32' repeats artifacts[0]"),
])
def test_hand_edited_manifest_names_the_field(bundle, tmp_path, edit, message):
    manifest = read_manifest(bundle)
    edit(manifest)
    write_manifest(bundle, manifest)
    assert message in refused(bundle, tmp_path)


@pytest.mark.parametrize("text, message", [
    ("{\"schema_version\": 1,", "manifest.json is not valid JSON: Expecting"),
    ("[1, 2]", "is not an edgebench bundle manifest"),
    ("{\"schema_version\": NaN}", "NaN is not valid JSON"),
    ("\xff\xfe", "is not valid JSON"),
])
def test_broken_manifest_text(bundle, tmp_path, text, message):
    (bundle / "manifest.json").write_bytes(text.encode("latin-1"))
    assert message in refused(bundle, tmp_path)


@pytest.mark.parametrize("where", ["artifact", "eval"])
@pytest.mark.parametrize("path, message", [
    ("../../outside/secret.fifo", "goes up with '..'"),
    ("/etc/passwd", "is absolute"),
    ("link/secret.fifo", "outside"),
])
def test_paths_leaving_the_bundle_are_refused_unread(bundle, tmp_path, where, path, message):
    """The target is a FIFO outside the bundle: opening it to hash it would block, so a refusal within the
    timeout proves that nothing was opened."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "secret.fifo")
    (bundle / "link").symlink_to(outside)
    manifest = read_manifest(bundle)
    entry = manifest["artifacts"][1] if where == "artifact" else manifest["eval"]
    entry["file"] = path
    write_manifest(bundle, manifest)
    line = refused(bundle, tmp_path)
    field = "artifacts[1].file" if where == "artifact" else "eval.file"
    assert f"manifest.json: {field}: path '{path}'" in line and message in line


def test_checksum_mismatch_costs_only_that_artifact(bundle, tmp_path):
    manifest = read_manifest(bundle)
    manifest["artifacts"][1]["file"] = "copy.onnx"
    shutil.copy(bundle / "model.fp32.onnx", bundle / "copy.onnx")
    with open(bundle / "copy.onnx", "ab") as handle:
        handle.write(b"\0")
    write_manifest(bundle, manifest)
    line = refused(bundle, tmp_path)
    assert line.startswith("error: 1 of 2 artifact(s) failed: onnx-fp32-again: copy.onnx has sha256")
    runs = json.loads((tmp_path / "result.json").read_text())["runs"]
    assert runs[0]["error"] is None and runs[0]["latency_ms"]["n"] >= 3


def _rewrite_eval(bundle: Path, **arrays) -> None:
    np.savez(bundle / "eval.npz", **arrays)
    manifest = read_manifest(bundle)
    manifest["eval"]["sha256"] = _sha(bundle / "eval.npz")
    write_manifest(bundle, manifest)


@pytest.mark.parametrize("arrays, message", [
    (dict(images=np.zeros((16, 8, 8, 3), np.uint8), labels=np.zeros(15, np.int64)),
     "16 images and 15 labels; eval.count in the manifest says 16"),
    (dict(images=np.zeros((16, 8, 8, 3), np.uint8), labels=np.zeros(16, np.float32)),
     "labels are float32 [16]; expected one integer label per image"),
    (dict(images=np.zeros((16, 8, 8, 3), np.uint8), labels=np.full(16, 2)),
     "labels run from 2 to 2; class_names has 2 classes (0 to 1)"),
    (dict(images=np.zeros((16, 8, 8, 3), np.uint8), labels=np.full(16, -1)),
     "labels run from -1 to -1"),
    (dict(images=np.zeros((16, 4, 4, 3), np.uint8), labels=np.zeros(16, np.int64)),
     "images are uint8 [16, 4, 4, 3]; the manifest's preprocess asks for uint8 [N, 8, 8, 3]"),
    (dict(images=np.zeros((16, 8, 8, 3), np.float32), labels=np.zeros(16, np.int64)), "images are float32"),
    (dict(pictures=np.zeros((16, 8, 8, 3), np.uint8), labels=np.zeros(16, np.int64)), "has no 'images' array"),
])
def test_evaluation_set_problems_name_the_field(bundle, tmp_path, arrays, message):
    _rewrite_eval(bundle, **arrays)
    line = refused(bundle, tmp_path)
    assert line.startswith("error: evaluation set eval.npz: ") or "has no 'images'" in line
    assert message in line
    assert json.loads((tmp_path / "result.json").read_text())["runs"] == []


def test_corrupt_evaluation_archive(bundle, tmp_path):
    (bundle / "eval.npz").write_bytes(b"PK\x03\x04 not really a zip")
    manifest = read_manifest(bundle)
    manifest["eval"]["sha256"] = _sha(bundle / "eval.npz")
    write_manifest(bundle, manifest)
    assert "cannot read the evaluation set eval.npz: BadZipFile" in refused(bundle, tmp_path)


def test_changed_evaluation_set_is_refused_before_any_artifact(bundle, tmp_path):
    (bundle / "eval.npz").write_bytes(b"broken")
    assert "eval.npz has sha256" in refused(bundle, tmp_path)


def test_manifest_that_is_a_folder_or_missing(bundle, tmp_path):
    (bundle / "manifest.json").unlink()
    assert "manifest.json is missing" in refused(bundle, tmp_path)
    (bundle / "manifest.json").mkdir()
    assert "manifest.json is not a regular file" in refused(bundle, tmp_path)
    assert "does not exist" in refused(tmp_path / "nowhere", tmp_path)
