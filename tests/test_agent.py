import json
import shutil

import jsonschema
import numpy as np
import pytest

from edgebench.export.manifest import schema
from tests.conftest import FAST_TIMING, run_agent


def test_agent_result_is_schema_valid(agent_result, int8_bundle):
    jsonschema.validate(agent_result, schema("result"))
    assert agent_result["complete"] is True and agent_result["error"] is None
    assert [run["artifact"] for run in agent_result["runs"]] == ["onnx-fp32", "onnx-int8"]
    manifest = json.loads((int8_bundle / "manifest.json").read_text())
    for run, artifact in zip(agent_result["runs"], manifest["artifacts"]):
        assert run["error"] is None and run["backend"] == "onnxruntime"
        latency = run["latency_ms"]
        assert latency["n"] >= 5
        assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert run["load_ms"] > 0 and run["first_inference_ms"] > 0
        assert run["memory"]["peak_rss_mb"] >= run["memory"]["rss_before_load_mb"] > 0
        # The device scores what export measured on the host, on the same images.
        assert run["accuracy"]["count"] == 360
        assert run["accuracy"]["top1"] == pytest.approx(artifact["check"]["accuracy"], abs=1e-6)
    assert agent_result["device"]["cores"] >= 1 and agent_result["settings"]["threads"] == 1


def test_named_artifact_and_null_backend(int8_bundle, tmp_path):
    out = tmp_path / "null.json"
    done = run_agent("run", str(int8_bundle), "--artifacts", "onnx-int8", "--backend", "null", "--samples",
                     "--out", str(out), *FAST_TIMING)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    assert run["artifact"] == "onnx-int8" and run["backend"] == "null" and run["accuracy"] is None
    assert len(run["samples_ms"]) == run["latency_ms"]["n"]
    assert run["latency_ms"]["p50"] < 0.05  # the harness costs microseconds, not milliseconds


def _copy(bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    return target


def _failed(bundle, tmp_path, *extra):
    out = tmp_path / "result.json"
    done = run_agent("run", str(bundle), "--out", str(out), *FAST_TIMING, "--quiet", *extra)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 6
    return json.loads(out.read_text()), done.stderr


def test_missing_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    result, stderr = _failed(tmp_path / "empty", tmp_path)
    assert "manifest.json is missing" in result["error"] and "manifest.json is missing" in stderr


def test_wrong_sha256_is_reported_per_artifact(int8_bundle, tmp_path):
    bundle = _copy(int8_bundle, tmp_path)
    data = bytearray((bundle / "model.int8.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bundle / "model.int8.onnx").write_bytes(bytes(data))
    result, stderr = _failed(bundle, tmp_path)
    fp32, int8 = result["runs"]
    assert fp32["error"] is None and "has sha256" in int8["error"]
    assert "1 of 2 artifact(s) failed" in stderr


def test_missing_file_unknown_format_and_corrupt_model(int8_bundle, tmp_path):
    bundle = _copy(int8_bundle, tmp_path)
    (bundle / "model.fp32.onnx").unlink()
    result, _ = _failed(bundle, tmp_path)
    assert "missing from the bundle" in result["runs"][0]["error"] and result["runs"][1]["error"] is None

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["artifacts"][1]["format"] = "coreml"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result, stderr = _failed(bundle, tmp_path)
    assert "manifest.json: artifacts[1].format is \"coreml\"; valid: \"onnx\", \"tflite\"" in stderr
    assert result["runs"] == [] and result["error"] in stderr

    bundle = _copy(int8_bundle, tmp_path / "second")
    garbage = b"this is not a protobuf" * 10
    (bundle / "model.int8.onnx").write_bytes(garbage)
    import hashlib

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["artifacts"][1]["sha256"] = hashlib.sha256(garbage).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result, _ = _failed(bundle, tmp_path / "second")
    assert "onnxruntime cannot load" in result["runs"][1]["error"]


def test_wrong_input_shape_and_unreadable_eval(int8_bundle, tmp_path):
    bundle = _copy(int8_bundle, tmp_path)
    with np.load(bundle / "eval.npz") as archive:
        images, labels = archive["images"][:, :16, :16], archive["labels"]
    np.savez(bundle / "eval.npz", images=images, labels=labels)
    import hashlib

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["eval"]["sha256"] = hashlib.sha256((bundle / "eval.npz").read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result, _ = _failed(bundle, tmp_path)
    assert "images are uint8 [360, 16, 16, 3]; the manifest's preprocess asks for uint8 [N, 32, 32, 3]" in \
        result["error"]
    manifest["preprocess"]["input_size"] = [16, 16]  # now the eval set agrees with the manifest, not the model
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result, _ = _failed(bundle, tmp_path)
    assert all("expects input" in run["error"] for run in result["runs"])

    (bundle / "eval.npz").write_bytes(b"broken")
    result, _ = _failed(bundle, tmp_path)
    assert "eval.npz has sha256" in result["error"] and result["runs"] == []


def test_agent_imports_neither_torch_nor_edgebench(int8_bundle, tmp_path):
    import subprocess
    import sys

    code = ("import json, sys, runpy; sys.argv=['device_agent','run',%r,'--out',%r,'--min-runs','2','--min-seconds','0',"
            "'--warmup-runs','1','--warmup-seconds','0'];\n"
            "try:\n runpy.run_module('device_agent', run_name='__main__'); code = 0\n"
            "except SystemExit as exc: code = exc.code\n"
            "bad=sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('torch','edgebench','tensorflow')})\n"
            "print(json.dumps({'code': code, 'leaked': bad, 'runner': 'device_agent.runner' in sys.modules}))"
            ) % (str(int8_bundle), str(tmp_path / "r.json"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    # the whole run, not an early exit: the agent ran every artifact and imported none of them
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "leaked": [], "runner": True}, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    manifest = json.loads((int8_bundle / "manifest.json").read_text())
    assert result["complete"] and len(result["runs"]) == len(manifest["artifacts"]) == 2
    assert all(run["error"] is None and run["latency_ms"]["p50"] > 0 for run in result["runs"])
