"""`edgebench bench` on broken bundles, bad options, unreachable hosts and a failing agent, with a bundle
written by hand (a small ONNX classifier and eight images), so no training or export is needed."""

import hashlib
import json
import socket
import shutil

import numpy as np
import pytest

from tests.badinput.conftest import assert_unchanged, tree_snapshot
from tests.badinput.test_report_inputs import invoke, refused

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1"]


def _onnx_classifier(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(10, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"]),
             helper.make_node("Flatten", ["g"], ["logits"])]
    graph = helper.make_graph(nodes, "handmade", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(bundle, manifest):
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def make_bundle(folder):
    bundle = folder / "bundle"
    bundle.mkdir()
    _onnx_classifier(bundle / "model.onnx")
    rng = np.random.default_rng(1)
    np.savez(bundle / "eval.npz", images=rng.integers(0, 256, size=(8, 8, 8, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, size=8).astype(np.int64))
    write_manifest(bundle, {
        "schema_version": 1, "kind": "edgebench.bundle",
        "model": {"name": "handmade", "source": "onnx", "trained": False},
        "preprocess": {"input_size": [8, 8], "channels": 3, "mean": [0.0], "std": [1.0], "scale": 1 / 255},
        "class_names": [str(i) for i in range(10)],
        "eval": {"file": "eval.npz", "sha256": _sha(bundle / "eval.npz"), "count": 8, "layout": "NHWC",
                 "dtype": "uint8"},
        "artifacts": [{"name": "onnx-fp32", "format": "onnx", "precision": "fp32", "file": "model.onnx",
                       "sha256": _sha(bundle / "model.onnx"), "bytes": (bundle / "model.onnx").stat().st_size,
                       "input": {"name": "input", "shape": [1, 3, 8, 8], "layout": "NCHW", "dtype": "float32"},
                       "output": {"name": "logits", "shape": [1, 10], "dtype": "float32"},
                       "check": {"reference": "onnx", "count": 8, "top1_agreement": 1.0, "max_abs_diff": 0.0}}],
    })
    return bundle


def manifest_of(bundle):
    return json.loads((bundle / "manifest.json").read_text())


@pytest.fixture
def folder(tmp_path):
    make_bundle(tmp_path)
    return tmp_path


def test_missing_or_broken_bundles(folder):
    refused(["bench", "nowhere"], folder, "bundle folder nowhere does not exist")
    (folder / "plain").mkdir()
    refused(["bench", "plain"], folder, "is not a bundle: manifest.json is missing")
    (folder / "bundle" / "manifest.json").write_text("{ not json")
    refused(["bench", "bundle"], folder, "manifest.json is not valid JSON")


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m["artifacts"][0].update(file="../../../../etc/passwd"), "goes up with '..'"),
    (lambda m: m["artifacts"][0].update(file="/etc/passwd"), "is absolute"),
    (lambda m: m.update(schema_version=7), "schema_version 7 is not supported"),
    (lambda m: m["artifacts"][0].update(sha256="0" * 64), "model.onnx has sha256"),
    (lambda m: m["artifacts"].append(dict(m["artifacts"][0])), "names must be unique"),
])
def test_edited_manifests(folder, edit, fragment):
    manifest = manifest_of(folder / "bundle")
    edit(manifest)
    write_manifest(folder / "bundle", manifest)
    refused(["bench", "bundle", "--results", "results"], folder, fragment)


def test_changed_artifact_is_refused_before_anything_runs(folder):
    with open(folder / "bundle" / "model.onnx", "ab") as handle:
        handle.write(b"\x00")
    refused(["bench", "bundle"], folder, "model.onnx has sha256", "the file is corrupt or was changed")


@pytest.mark.parametrize("options, fragment", [
    (["--min-runs", "0"], "--min-runs 0 is out of range"),
    (["--min-seconds", "nan"], "--min-seconds nan is out of range"),
    (["--max-seconds", "0"], "--max-seconds 0.0 is out of range"),
    (["--min-seconds", "5", "--max-seconds", "1"], "--min-seconds 5 is more than --max-seconds 1"),
    (["--warmup-runs", "-1"], "--warmup-runs -1 is out of range"),
    (["--threads", "-2"], "--threads -2 is out of range"),
    (["--artifacts", "tflite-int8"], "--artifacts: 'tflite-int8' is not in the bundle; valid: onnx-fp32"),
    (["--artifacts", ","], "--artifacts ',' names no artifact"),
    (["--rounds", "0"], "--rounds 0 is out of range: give 1 or more"),
    (["--threads", "1,x"], "--threads 'x' is not a whole number"),
    (["--xnnpack", "maybe"], "--xnnpack 'maybe' is unknown; valid: on, off"),
    (["--ort-execution-mode", "fast"], "--ort-execution-mode 'fast' is unknown; valid: sequential, parallel"),
    (["--target-ci", "0"], "--target-ci 0 is out of range"),
    (["--sustained", "inf"], "--sustained inf is out of range"),
    (["--cooldown", "9X"], "--cooldown 9X is out of range"),
    (["--profile-runs", "0"], "--profile-runs 0 is out of range"),
])
def test_bad_options(folder, options, fragment):
    refused(["bench", "bundle", *options], folder, fragment)


def test_results_that_is_a_file(folder):
    (folder / "results").write_text("my notes")
    refused(["bench", "bundle", "--results", "results"], folder,
            "Invalid value for '--results': Directory 'results' is a file", code=2)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_unreachable_host(folder):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = refused(["bench", "bundle", "--device", f"ssh://root@127.0.0.1:{port}", "--results", "results"], folder,
                   f"cannot reach root@127.0.0.1:{port}")
    assert "Connection refused" in line


def test_local_bench_then_report(folder):
    before = tree_snapshot(folder / "bundle")
    result = invoke(["bench", "bundle", "--results", "results", *FAST], folder)
    assert result.exit_code == 0, result.output
    (path,) = (folder / "results" / "local").glob("*.json")
    document = json.loads(path.read_text())
    assert document["complete"] is True and [r["error"] for r in document["runs"]] == [None]
    assert not list((folder / "results" / "local").glob(".*"))  # no partial or temporary left
    assert_unchanged(before, folder / "bundle")
    report = invoke(["report", "results"], folder)
    assert report.exit_code == 0 and "handmade  onnx-fp32" in report.stdout


def test_damaged_partial_result_of_an_earlier_run(folder):
    local = folder / "results" / "local"
    local.mkdir(parents=True)
    (local / ".bundle.partial.json").write_text('{"kind": "edgebench.res')  # cut off mid-write
    result = invoke(["bench", "bundle", "--results", "results", *FAST], folder)
    assert result.exit_code == 0, result.output
    assert "is not a readable result; starting afresh" in result.output
    assert len(list(local.glob("*.json"))) == 1 and not (local / ".bundle.partial.json").exists()


def test_failing_agent_keeps_the_result_and_says_so(folder):
    """An artifact the runtime cannot load (its checksum matches, so only the device can tell)."""
    bundle = folder / "bundle"
    (bundle / "model.onnx").write_bytes(b"this is not an ONNX model")
    manifest = manifest_of(bundle)
    manifest["artifacts"][0].update(sha256=_sha(bundle / "model.onnx"), bytes=25)
    write_manifest(bundle, manifest)
    before = tree_snapshot(bundle)
    result = invoke(["bench", "bundle", "--results", "results", *FAST], folder)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: 1 artifact(s) failed on the device, first: ") and "(result kept: " in lines[-1]
    (path,) = (folder / "results" / "local").glob("*.json")
    assert json.loads(path.read_text())["runs"][0]["error"]
    assert_unchanged(before, bundle)
    report = invoke(["report", str(path)], folder)
    assert report.exit_code == 1 and "failed: local handmade onnx-fp32" in report.stdout


def test_read_only_results_folder(folder, read_only_dir):
    refused(["bench", "bundle", "--results", read_only_dir, *FAST], folder, f"cannot write {read_only_dir / 'local'}")
    assert not any(read_only_dir.iterdir())


def test_resume_with_other_settings_is_refused(folder):
    """A result an earlier run left on the device is continued only with the same settings, never relabelled."""
    first = invoke(["bench", "bundle", "--results", "results", *FAST], folder)
    assert first.exit_code == 0, first.output
    local = folder / "results" / "local"
    (done,) = local.glob("*.json")
    shutil.copy(done, local / ".bundle.partial.json")  # as if the device had kept it after a cut connection
    before = tree_snapshot(folder)
    line = refused(["bench", "bundle", "--results", "results", "--min-runs", "7", "--min-seconds", "0.05",
                    "--warmup-runs", "1"], folder, "the agent on this machine refused the run: --resume")
    assert "min_runs 5, this run asks for 7" in line
    assert_unchanged(before, folder)
