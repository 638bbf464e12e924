import json
import socket

import pytest

pytest.importorskip("onnx2tf")

from edgebench.errors import EdgebenchError  # noqa: E402
from edgebench.export.manifest import read_manifest  # noqa: E402
from edgebench.export.pipeline import export_bundle  # noqa: E402
from edgebench.export.spec import ExportSpec, Format, GateSpec, Layout, Precision  # noqa: E402
from tests.conftest import FAST_TIMING, run_agent  # noqa: E402
from tests.helpers import castlike_onnx, static_batch_onnx  # noqa: E402

ALL = (Precision.FP32, Precision.FP16, Precision.DYNAMIC, Precision.INT8)
BOTH = (Format.ONNX, Format.TFLITE)
QUIET = {"log": lambda line: None}


@pytest.fixture(scope="module")
def tflite_bundle(trained_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite") / "bundle"
    export_bundle("test_resnet", out, ExportSpec(precisions=ALL, formats=BOTH), checkpoint=str(trained_checkpoint),
                  **QUIET)
    return out


@pytest.fixture
def no_network(monkeypatch):
    """Every outgoing connection fails the test: conversion must never reach the network."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_every_precision_round_trips(tflite_bundle):
    artifacts = {a["name"]: a for a in read_manifest(tflite_bundle)["artifacts"]}
    assert set(artifacts) == {"onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8"}
    checks = {name: a["check"] for name, a in artifacts.items()}
    assert checks["tflite-fp32"]["top1_agreement"] == 1.0 and checks["tflite-fp32"]["max_abs_diff"] < 1e-4
    assert checks["tflite-fp16"]["top1_agreement"] >= 0.99 and checks["tflite-fp16"]["max_abs_diff"] < 0.05
    assert checks["tflite-dynamic"]["top1_agreement"] >= 0.95
    assert checks["tflite-int8"]["top1_agreement"] >= 0.95
    int8 = artifacts["tflite-int8"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["layout"] == "NHWC"
    assert int8["input"]["shape"][1:] == [32, 32, 3]
    assert int8["quantization"]["input"]["scale"] > 0 and int8["quantization"]["calibration_images"] == 100
    assert artifacts["tflite-fp16"]["bytes"] < artifacts["tflite-fp32"]["bytes"]


def test_agent_runs_every_tflite_precision(tflite_bundle, tmp_path):
    out = tmp_path / "r.json"
    done = run_agent("run", str(tflite_bundle), "--out", str(out), *FAST_TIMING)
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(tflite_bundle)
    expected = {a["name"]: a["check"]["accuracy"] for a in manifest["artifacts"]}
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 6
    for run in runs:
        assert run["error"] is None
        if run["format"] == "tflite":
            assert run["backend"] == "tflite" and run["backend_version"].startswith("ai-edge-litert")
            assert run["delegate"] == "xnnpack"
        else:
            assert run["delegate"] is None
        # The agent dequantizes int8 outputs itself and scores exactly what export measured.
        assert run["accuracy"]["top1"] == pytest.approx(expected[run["artifact"]], abs=1e-6)


def test_conversion_with_the_network_blocked(no_network, tmp_path):
    # A fixed batch of 1 with 3 channels last is exactly the input for which onnx2tf goes to the internet.
    source = static_batch_onnx(tmp_path / "static.onnx")
    manifest = export_bundle(str(source), tmp_path / "offline", ExportSpec(precisions=(Precision.INT8,),
                             formats=BOTH, eval_size=32), **QUIET)
    assert [a["name"] for a in manifest["artifacts"]] == ["onnx-fp32", "onnx-int8", "tflite-int8"]
    assert no_network == []


def test_nchw_layout_is_recorded_and_runs(trained_checkpoint, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)  # a relative bundle path, as `--out bundles/x` gives: conversion changes cwd
    out = Path("nchw")
    manifest = export_bundle("test_resnet", out, ExportSpec(formats=BOTH, layout=Layout.NCHW, eval_size=64),
                             checkpoint=str(trained_checkpoint), **QUIET)
    tflite = manifest["artifacts"][-1]
    assert tflite["input"]["layout"] == "NCHW" and tflite["input"]["shape"][1:] == [3, 32, 32]
    assert tflite["check"]["max_abs_diff"] < 1e-4
    done = run_agent("run", str(out.absolute()), "--artifacts", "tflite-fp32", "--out", str(tmp_path / "r.json"), *FAST_TIMING)
    assert done.returncode == 0, done.stderr


def test_grouped_conv_and_shuffle_at_4x4_is_fixed(tmp_path):
    manifest = export_bundle("tests.helpers:shuffle_net", tmp_path / "shuffle",
                             ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=BOTH, eval_size=64),
                             **QUIET)
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    fp32 = artifacts["tflite-fp32"]
    assert fp32["quantization"]["graph_fixes"] == {"grouped_convs_split": 1}
    assert fp32["check"]["top1_agreement"] == 1.0 and fp32["check"]["max_abs_diff"] < 1e-4


def test_unconvertible_model_keeps_the_onnx_artifacts(tmp_path):
    source = castlike_onnx(tmp_path / "castlike.onnx")
    manifest = export_bundle(str(source), tmp_path / "partial", ExportSpec(formats=BOTH, eval_size=16), **QUIET)
    assert [a["name"] for a in manifest["artifacts"]] == ["onnx-fp32"]
    assert [r["name"] for r in manifest["rejected"]] == ["tflite-fp32"]
    assert manifest["rejected"][0]["reason"].startswith("onnx2tf cannot convert this model")
    assert not list((tmp_path / "partial").glob("*.tflite"))


def test_int8_threshold_applies_to_tflite(trained_checkpoint, tmp_path):
    strict = GateSpec(min_quant_agreement=1.0, max_quant_drop=None)
    manifest = export_bundle("test_resnet", tmp_path / "strict", ExportSpec(
        precisions=(Precision.INT8,), formats=BOTH, gate=strict, eval_size=360), checkpoint=str(trained_checkpoint),
        **QUIET)
    refused = {r["name"]: r for r in manifest["rejected"]}
    kept = [a["name"] for a in manifest["artifacts"]]
    assert "onnx-fp32" in kept and set(kept) | set(refused) == {"onnx-fp32", "onnx-int8", "tflite-int8"}
    for entry in refused.values():
        assert "below 100.0 % (--min-int8-agreement)" in entry["reason"] and entry["check"]["top1_agreement"] < 1
        assert not (tmp_path / "strict" / entry["file"]).exists()


def test_a_graph_xnnpack_declines_runs_on_the_builtin_kernels():
    """vgg19-v13's int8 TFLite file (DiCE units, made by `edgebench export`): XNNPACK fails to prepare it;
    the agent runs it on TFLite's built-in kernels and says so, as the benchmark tool's --use_xnnpack=false."""
    from pathlib import Path

    import numpy as np

    from device_agent.backends.tflite_backend import TfliteBackend

    backend = TfliteBackend()
    backend.load(str(Path(__file__).parent / "data" / "vgg19-v13-int8.tflite"), 1)
    assert backend.delegate.startswith("none (XNNPACK could not prepare the graph: failed to create XNNPACK")
    inputs = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    logits = backend.finish(backend.invoke(backend.prepare(inputs)))
    assert logits.shape == (1, 10) and np.isfinite(logits).all() and logits.std() > 0
