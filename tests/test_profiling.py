"""Per-layer profiles: ONNX Runtime's profiler on exported fp32 and int8 files, nodes named by their torch
layers, kernel shares, TFLite's answer, and the report's profile section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from device_agent.profiling import kernel_kind, layer_of, onnx_profile, summarize_trace, tflite_profile
from edgebench.export.layers import layer_map
from edgebench.models import create_model
from edgebench.report import profile as profile_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def modules():
    return {name for name, _ in create_model("test_resnet").named_modules() if name}


@pytest.fixture(scope="module")
def image(int8_bundle):
    with np.load(int8_bundle / "eval.npz") as archive:
        first = archive["images"][:1].astype(np.float32) / 255.0
    return np.ascontiguousarray(first.transpose(0, 3, 1, 2))


def test_layer_map_names_every_computing_node_of_the_fp32_export(int8_bundle, modules):
    path = int8_bundle / "model.fp32.onnx"
    layers = layer_map(path)
    nodes = onnx.load(str(path)).graph.node
    convs = [n.name for n in nodes if n.op_type in ("Conv", "Gemm")]
    assert len(convs) == 10 and all(layers[name] in modules for name in convs)
    # a node reads its parameter: the Conv's layer is the conv module, not the BatchNorm folded into it
    assert layers[convs[0]] == "stem.0" and layers[convs[-1]] == "fc"
    assert set(layers.values()) <= modules
    # the output of an activation fused into its convolution belongs to that convolution
    relu = next(n for n in nodes if n.op_type == "Relu")
    assert layers[relu.output[0]] == "stem.0" and layers[relu.name] == "stem.2"


def test_layer_map_of_the_int8_file_agrees_with_fp32(int8_bundle, modules):
    fp32 = layer_map(int8_bundle / "model.fp32.onnx")
    int8 = layer_map(int8_bundle / "model.int8.onnx")
    nodes = onnx.load(str(int8_bundle / "model.int8.onnx")).graph.node
    shared = [n.name for n in nodes if n.name in fp32 and n.op_type in ("Conv", "Gemm")]
    assert len(shared) == 10 and all(int8[name] == fp32[name] for name in shared)
    # quantize/dequantize nodes take their tensor's layer (a weight's: the layer reading it)
    qdq = [n for n in nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    named = [n for n in qdq if n.name in int8]
    assert len(named) >= 0.9 * len(qdq) and {int8[n.name] for n in named} <= modules
    weight = next(n for n in qdq if n.input[0].endswith(".weight_quantized") and n.input[0].startswith("stem"))
    assert int8[weight.name] == "stem.0"


def test_layer_of_takes_the_longest_known_prefix():
    layers = {"node_Conv_14": "a", "node_Conv_140": "b", "relu": "c", "relu_1": "d"}
    assert layer_of("node_Conv_140_token_4", layers) == "b"
    assert layer_of("node_Conv_14", layers) == "a"
    assert layer_of("relu_1_nchwc", layers) == "d"
    assert layer_of("relu_nchwc", layers) == "c" and layer_of("relu_1/duplicated", layers) == "d"
    assert layer_of("node_Conv_1400", layers) is None and layer_of("ReorderOutput", layers) is None


def test_kernel_kind_from_op_and_dtypes():
    assert kernel_kind("DequantizeLinear", [{"uint8": [1, 8]}]) == "quantize"
    assert kernel_kind("QLinearConv", [{"uint8": [1, 3, 8, 8]}, {"float": [32]}]) == "integer"
    assert kernel_kind("Conv", [{"float": [1, 3, 8, 8]}, {"float": [8, 3, 3, 3]}]) == "float"
    assert kernel_kind("MaxPool", [{"uint8": [1, 3, 8, 8]}]) == "integer"
    assert kernel_kind("Reshape", [{"int64": [2]}, {"float": []}]) == "other"


def test_onnx_profile_fp32_is_all_float_and_named_by_layers(int8_bundle, image, modules):
    path = int8_bundle / "model.fp32.onnx"
    profile = onnx_profile(str(path), {"threads": 1, "ort_graph_optimization": "all"}, image, 20, layer_map(path))
    assert profile["available"] is True and profile["tool"] == "onnxruntime profiler" and profile["runs"] == 20
    assert 0 < profile["total_ms"] <= profile["profiled_run_ms"] < 50
    assert profile["quantize_share"] == 0.0 and profile["int8_share"] == 0.0 and profile["float_share"] > 0.95
    nodes = profile["nodes"]
    assert [n["ms"] for n in nodes] == sorted((n["ms"] for n in nodes), reverse=True)
    assert sum(n["share"] for n in nodes) == pytest.approx(1.0, abs=0.01)
    convs = [n for n in nodes if n["op_type"] in ("Conv", "FusedConv")]
    assert len(convs) >= 9 and all(n["layer"] in modules for n in convs)  # renamed by fusion, still named
    assert sum(t["share"] for t in profile["op_types"]) == pytest.approx(1.0, abs=0.01)


def test_onnx_profile_int8_shares(int8_bundle, image, modules):
    path = int8_bundle / "model.int8.onnx"
    profile = onnx_profile(str(path), {"threads": 1}, image, 20, layer_map(path))
    assert profile["int8_share"] > 0.5 and 0 < profile["quantize_share"] < 0.5
    assert profile["quantize_share"] + profile["float_share"] + profile["int8_share"] <= 1.0001
    by_type = {t["op_type"]: t for t in profile["op_types"]}
    assert by_type["QLinearConv"]["count"] == 9 and "QuantizeLinear" in by_type
    assert all(n["layer"] in modules for n in profile["nodes"] if n["op_type"] == "QLinearConv")


def test_onnx_profile_without_optimisation_keeps_the_exported_nodes(int8_bundle, image):
    path = int8_bundle / "model.fp32.onnx"
    layers = layer_map(path)
    profile = onnx_profile(str(path), {"threads": 1, "ort_graph_optimization": "disable"}, image, 5, layers)
    names = {n.name for n in onnx.load(str(path)).graph.node}
    assert {n["node"] for n in profile["nodes"]} <= names
    assert all(n["layer"] == layers.get(n["node"]) for n in profile["nodes"])


def test_onnx_profile_of_a_broken_file_says_why(tmp_path):
    import tempfile

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    folders = set(Path(tempfile.gettempdir()).glob("edgebench-profile-*"))
    answer = onnx_profile(str(broken), {"threads": 1}, np.zeros((1, 3, 8, 8), np.float32), 3, {})
    assert answer["available"] is False and answer["reason"].startswith("the ONNX Runtime profiler failed: ")
    assert set(Path(tempfile.gettempdir()).glob("edgebench-profile-*")) <= folders  # its trace folder is gone


def test_summarize_trace_drops_the_warmup_runs():
    def run(ts):
        return {"cat": "Session", "name": "model_run", "ts": ts, "dur": 100}

    def kernel(ts, dur):
        return {"cat": "Node", "name": "conv_kernel_time", "ts": ts, "dur": dur,
                "args": {"op_name": "Conv", "input_type_shape": [{"float": [1, 3, 4, 4]}]}}

    # a warm-up run, then three runs of which the OS interrupted one: the medians ignore both
    events = [run(0), kernel(1, 900), run(200), kernel(201, 40), run(400), kernel(401, 60), run(600),
              kernel(601, 5000)]
    profile = summarize_trace(events, {"conv": "stem.0"}, warmup_runs=1)
    assert profile["runs"] == 3 and profile["total_ms"] == pytest.approx(0.06) and profile["profiled_run_ms"] == 0.1
    assert profile["nodes"] == [{"node": "conv", "op_type": "Conv", "layer": "stem.0", "kind": "float",
                                 "ms": 0.06, "share": 1.0}]
    assert summarize_trace([run(0)], {})["available"] is False


def test_tflite_profile_says_what_to_use_instead():
    from ai_edge_litert import interpreter

    # the day the Python interpreter grows a per-operator profiler this fails: then use it
    assert not [m for m in dir(interpreter._interpreter_wrapper.InterpreterWrapper) if "rofil" in m]
    answer = tflite_profile("/data/model.int8.tflite", {"threads": 4, "xnnpack": True})
    assert answer["available"] is False
    assert "benchmark_model" in answer["reason"] and "--enable_op_profiling=true" in answer["reason"]
    assert "--graph=model.int8.tflite" in answer["reason"] and "--num_threads=4" in answer["reason"]


def test_agent_modules_import_neither_torch_nor_edgebench():
    code = ("import sys; import device_agent.profiling, device_agent.sustained, device_agent.sensors; "
            "print(sorted(m for m in ('torch', 'edgebench', 'onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def _profile(quantize, floats, integer, total_ms=1.0, nodes=(), transpose=0.0):
    return {"available": True, "tool": "onnxruntime profiler", "runs": 10, "total_ms": total_ms,
            "profiled_run_ms": 2 * total_ms, "nodes": list(nodes), "op_types": [
                {"op_type": "Transpose", "ms": 0.1, "share": transpose, "count": 12},
                {"op_type": "QuantizeLinear", "ms": 0.1, "share": quantize / 2, "count": 4},
                {"op_type": "DequantizeLinear", "ms": 0.1, "share": quantize / 2, "count": 5}],
            "quantize_share": quantize, "float_share": floats, "int8_share": integer}


def _result(fp32_profile, int8_profile, fp32_rounds, int8_rounds):
    def run(precision, profile, rounds):
        return {"artifact": f"onnx-{precision}", "config": f"onnx-{precision}", "format": "onnx",
                "precision": precision, "setting": {"threads": 1}, "error": None, "rounds_ms": rounds,
                "latency_ms": {"p50": float(np.median(rounds))}, "profile": profile}

    return {"device": {"name": "pi5"}, "bundle": {"model": {"name": "resnet8"}},
            "runs": [run("fp32", fp32_profile, fp32_rounds), run("int8", int8_profile, int8_rounds)]}


def test_the_report_says_why_int8_is_not_faster():
    slow = [1.3 + 0.01 * i for i in range(10)]
    fast = [1.0 + 0.01 * i for i in range(10)]
    quantized = _result(_profile(0.0, 1.0, 0.0), _profile(0.42, 0.1, 0.48), fast, slow)
    [(who, line)] = profile_report.int8_findings([quantized])
    assert who == "pi5 resnet8"
    assert line.startswith("onnx-int8 is not faster than onnx-fp32 (slower, ratio 1.2")
    assert "42 % of int8 time in QuantizeLinear/DequantizeLinear (9 nodes)" in line
    floaty = _result(_profile(0.0, 1.0, 0.0), _profile(0.05, 0.6, 0.35, nodes=[
        {"node": "node_mean", "op_type": "ReduceMean", "layer": "pool", "kind": "float", "ms": 0.5, "share": 0.5}]),
        fast, slow)
    reason = profile_report.int8_findings([floaty])[0][1]
    assert "float kernels take 60 % of int8 time, most in pool (ReduceMean)" in reason
    # int8 clearly faster, or faster within the noise: nothing to explain
    assert profile_report.int8_findings([_result(None, None, slow, fast)]) == []
    noisy = [1.0, 3.0, 0.5, 2.0, 0.9, 1.1, 0.4, 2.5, 1.2, 0.8]
    assert profile_report.int8_findings([_result(None, None, noisy, [0.9 * v for v in reversed(noisy)])]) == []
    conv = {"node": "n1", "op_type": "Conv", "layer": "stages.0.conv1", "kind": "float", "ms": 0.4, "share": 0.5}
    qconv = dict(conv, op_type="QLinearConv", kind="integer", ms=0.7)
    integer = _result(_profile(0.0, 1.0, 0.0, total_ms=0.8, nodes=[conv]),
                      _profile(0.05, 0.05, 0.9, total_ms=1.1, nodes=[qconv]), fast, slow)
    assert profile_report.int8_findings([integer])[0][1].endswith(
        "integer kernels take 90 % of int8 time and are not faster than the float kernels of fp32 on this CPU "
        "(1.100 against 0.800 ms per inference; stages.0.conv1 loses most: +0.300 ms)")
    overhead = _result(_profile(0.0, 1.0, 0.0, total_ms=0.8), _profile(0.05, 0.05, 0.9, total_ms=0.5), fast, slow)
    p50 = overhead["runs"][1]["latency_ms"]["p50"]
    assert profile_report.int8_findings([overhead])[0][1].endswith(
        f"its kernels are faster (0.500 against 0.800 ms per inference) but the whole inference is not: "
        f"{p50 - 0.5:.3f} ms of its {p50:.3f} ms p50 pass outside them")
    layout = _result(None, _profile(0.2, 0.0, 0.6, transpose=0.18), fast, slow)
    assert profile_report.int8_findings([layout])[0][1].endswith(
        "20 % of int8 time in QuantizeLinear/DequantizeLinear (9 nodes); 18 % in layout changes "
        "(Transpose/Reorder, 12 nodes)")
    unprofiled = profile_report.int8_findings([_result(None, {"available": False, "reason": "no profiler"},
                                                       fast, slow)])
    assert unprofiled[0][1].endswith("no per-operator profile of the int8 artifact: no profiler")
    lines = profile_report.markdown([quantized])
    assert lines[0] == "## Per-layer profile" and "### Why int8 is not faster" in lines
    assert "<li>pi5 resnet8: onnx-int8 is not faster" in profile_report.html([quantized])


def test_profile_section_from_real_profiles(int8_bundle, image):
    runs = []
    for precision in ("fp32", "int8"):
        path = int8_bundle / f"model.{precision}.onnx"
        profile = onnx_profile(str(path), {"threads": 1}, image, 10, layer_map(path))
        runs.append({"artifact": f"onnx-{precision}", "format": "onnx", "precision": precision,
                     "latency_ms": {"p50": profile["total_ms"]}, "profile": profile})
    document = {"device": {"name": "here"}, "bundle": {"model": {"name": "test_resnet"}}, "runs": runs}
    lines = profile_report.markdown([document])
    table = [line for line in lines if line.startswith("| here | test_resnet | onnx-")]
    assert len(table) == 2 and "stages." in table[0] and "0 %" in table[0]
    assert sum(1 for line in lines if line.startswith("### here test_resnet")) == 2
    assert profile_report.html([document]).count("<table class='profile-layers'>") == 2
