"""Where the time goes inside one inference: the runtime's own per-operator profile, per node and per op type,
named by the torch layers the nodes came from, with the shares of quantize/dequantize, float and integer kernels.

ONNX Runtime profiles through a session of its own (the timed session is never slowed): the same options, with
`enable_profiling`, writing Chrome-trace JSON to a temporary folder. ONNX Runtime renames the nodes it fuses or
rewrites ("node_Conv_140_token_4", "relu_nchwc", "mean_q"), so a node's layer is found by its name, else by the
longest known name it starts with. TFLite's Python interpreter has no per-operator profiler.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import tempfile
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from device_agent.backends.base import first_line
from device_agent.backends.onnxruntime_backend import create_session
from device_agent.stats import median

TOP_NODES = 30
WARMUP_RUNS = 3
KERNEL_SUFFIX = "_kernel_time"
QUANTIZE_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
# Kernels that compute in integers whatever the dtype of their scales (float per-channel scales included).
INTEGER_OPS = frozenset({"QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                         "QAttention", "QEmbedLayerNormalization", "QOrderedMatMul"})
INTEGER_TYPES = frozenset({"int8", "uint8", "int16", "uint16", "int4", "uint4"})
FLOAT_TYPES = frozenset({"float", "float16", "double", "bfloat16"})
TFLITE_UNAVAILABLE = ("the TFLite Python interpreter (ai-edge-litert, tflite_runtime) has no per-operator "
                      "profiler; on the device run TFLite's benchmark_model binary with --graph={model} "
                      "--num_threads={threads} --enable_op_profiling=true (add --use_xnnpack=false to profile "
                      "the built-in kernels), or profile the ONNX artifact of the same model")


def layer_of(node: str, layers: Dict[str, str]) -> Optional[str]:
    """The torch layer of a profiled node: by its own name, else by the longest known name it extends
    ("node_Conv_140_token_4" -> "node_Conv_140", "relu_1_nchwc" -> "relu_1", "w_DequantizeLinear/duplicated"
    -> "w_DequantizeLinear")."""
    if node in layers:
        return layers[node]
    best = ""
    for known in layers:
        if len(known) > len(best) and node.startswith(known) and node[len(known):len(known) + 1] in ("_", "/"):
            best = known
    return layers[best] if best else None


def kernel_kind(op_type: str, input_types: Sequence[Dict]) -> str:
    """"quantize", "integer", "float" or "other" (shape arithmetic, int64 only), from the op and the dtypes of
    its non-scalar inputs."""
    if op_type in QUANTIZE_OPS:
        return "quantize"
    if op_type in INTEGER_OPS or op_type.startswith("QLinear"):
        return "integer"
    kinds = {kind for entry in input_types for kind, shape in entry.items() if shape}
    if kinds & INTEGER_TYPES:
        return "integer"
    if kinds & FLOAT_TYPES:
        return "float"
    return "other"


def _per_run_kernels(events: Sequence[Dict], warmup_runs: int) -> Tuple[Dict[str, Dict], List[float]]:
    """Per node: op type, input dtypes and its kernel time in each profiled run (us), the warm-up runs left out;
    and each profiled run's wall time (us)."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[warmup_runs:]
    starts = [float(run["ts"]) for run in runs]
    nodes: Dict[str, Dict] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        index = bisect.bisect_right(starts, float(event.get("ts", -1))) - 1
        if index < 0 or event["ts"] > runs[index]["ts"] + runs[index]["dur"]:
            continue  # a warm-up run's kernel
        args = event.get("args") or {}
        entry = nodes.setdefault(event["name"][:-len(KERNEL_SUFFIX)], {
            "op_type": args.get("op_name", "?"), "inputs": args.get("input_type_shape") or [],
            "us": [0.0] * len(runs)})
        entry["us"][index] += float(event.get("dur", 0))
    return nodes, [float(run["dur"]) for run in runs]


def summarize_trace(events: Sequence[Dict], layers: Dict[str, str], warmup_runs: int = 0) -> Dict:
    """ONNX Runtime's Chrome-trace events -> the profile. A node's time is its median over the profiled runs (a
    run the OS interrupted does not skew it); shares are of the sum of those medians."""
    per_node, run_us = _per_run_kernels(events, warmup_runs)
    if not per_node or not run_us:
        return {"available": False, "reason": "the ONNX Runtime profile holds no kernel events"}
    medians = {name: median(entry["us"]) for name, entry in per_node.items()}
    kinds = {name: kernel_kind(entry["op_type"], entry["inputs"]) for name, entry in per_node.items()}
    kernel_us = sum(medians.values()) or 1.0
    by_type: Dict[str, Dict] = defaultdict(lambda: {"us": 0.0, "count": 0})
    by_kind: Dict[str, float] = defaultdict(float)
    for name, entry in per_node.items():
        by_type[entry["op_type"]]["us"] += medians[name]
        by_type[entry["op_type"]]["count"] += 1
        by_kind[kinds[name]] += medians[name]
    ranked = sorted(per_node, key=lambda name: -medians[name])
    return {
        "available": True, "tool": "onnxruntime profiler", "runs": len(run_us),
        # the kernels' time per inference; a profiled run's wall time also holds the profiler's own cost per node
        "total_ms": round(kernel_us / 1000.0, 5), "profiled_run_ms": round(median(run_us) / 1000.0, 5),
        "nodes": [{"node": name, "op_type": per_node[name]["op_type"], "layer": layer_of(name, layers),
                   "kind": kinds[name], "ms": round(medians[name] / 1000.0, 5),
                   "share": round(medians[name] / kernel_us, 4)} for name in ranked[:TOP_NODES]],
        "node_count": len(ranked),
        "op_types": [{"op_type": op, "ms": round(v["us"] / 1000.0, 5), "share": round(v["us"] / kernel_us, 4),
                      "count": v["count"]} for op, v in sorted(by_type.items(), key=lambda item: -item[1]["us"])],
        "quantize_share": round(by_kind["quantize"] / kernel_us, 4),
        "float_share": round(by_kind["float"] / kernel_us, 4),
        "int8_share": round(by_kind["integer"] / kernel_us, 4),
    }


def onnx_profile(model_path: str, setting: Dict, inputs: np.ndarray, runs: int, layers: Dict[str, str]) -> Dict:
    """Profile `runs` inferences of one input (after a few warm-up runs) in a profiling session of its own."""
    import onnxruntime as ort  # the runtime: imported only where a profile is asked for

    folder = tempfile.mkdtemp(prefix="edgebench-profile-")
    try:
        session = create_session(ort, model_path, int(setting.get("threads") or 0),
                                 setting.get("ort_graph_optimization") or "all",
                                 setting.get("ort_execution_mode") or "sequential",
                                 enable_profiling=True, profile_file_prefix=os.path.join(folder, "ort"))
        feeds = {session.get_inputs()[0].name: inputs[:1]}
        for _ in range(WARMUP_RUNS + max(1, int(runs))):
            session.run(None, feeds)
        trace = session.end_profiling()
        with open(trace, encoding="utf-8") as handle:
            events = json.load(handle)
    except Exception as exc:  # onnxruntime raises its own types; the profile is lost, not the measurement
        return {"available": False, "reason": f"the ONNX Runtime profiler failed: {first_line(exc)}"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return summarize_trace(events, layers or {}, warmup_runs=WARMUP_RUNS)


def tflite_profile(model_path: str, setting: Dict, inputs: Optional[np.ndarray] = None, runs: int = 0,
                   layers: Optional[Dict[str, str]] = None) -> Dict:
    """Not offered by the Python interpreter: says so, and what gives the figures instead."""
    threads = int(setting.get("threads") or 1)
    return {"available": False, "tool": None,
            "reason": TFLITE_UNAVAILABLE.format(model=os.path.basename(model_path), threads=threads)}
