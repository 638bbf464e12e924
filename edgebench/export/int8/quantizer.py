"""ONNX Runtime's static QDQ quantizer with calibration done once per method.

`quantize_static` calibrates on every call unless it is given a `calibration_cache_path`: the ranges of every
tensor are written there on the first call with a method and read back by every later one, so per-channel
versus per-tensor, the int8 configuration and each `nodes_to_exclude` set cost one quantizer pass, not one
calibration.

The first call fills that cache with ONNX Runtime's own calibrator (`create_calibrator`, the tensors
`quantize_static` would calibrate) run in a session with the basic graph optimisations. `quantize_static` runs it
with none: on ResNet-101 its 256 images took 15.6 s that way and 11.0 s this way, with the same ranges bit for bit
(the ReduceMin/ReduceMax taps on every calibrated tensor keep each one from being fused away).
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from device_agent.backends.onnxruntime_backend import create_session
from edgebench.errors import EdgebenchError
from edgebench.export.spec import QUANT_CONFIGS
from edgebench.progress import Progress, disabled

#: Images per calibration batch (a graph with a fixed batch takes its own): ResNet-101's 256 images took 11.7 s in
#: batches of 8 against 14.4 s in batches of 32; min/max ranges do not depend on it.
CALIBRATION_BATCH = 8
LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")  # nodes with weights: what "a layer" means here
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class ArrayCalibrationReader:
    """ONNX Runtime's one-method data source over an in-memory array, in steps the input shape allows;
    `advance(n)` is told of each batch handed over (a progress bar's)."""

    def __init__(self, input_name: str, inputs: np.ndarray, batch_size: int,
                 advance: Optional[Callable[[int], None]] = None):
        self.input_name = input_name
        self.inputs = inputs
        self.batch_size = batch_size
        self.position = 0
        self.advance = advance

    def get_next(self) -> Optional[dict]:
        if self.position >= len(self.inputs):
            return None
        batch = self.inputs[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        if self.advance is not None:
            self.advance(len(batch))
        return {self.input_name: batch}

    def rewind(self) -> None:
        self.position = 0


class CachedQuantizer:
    def __init__(self, prepared: Path, calibration: np.ndarray, input_name: str, batch_size: int, work: Path,
                 progress: Optional[Progress] = None, threads: Callable[[], int] = lambda: 0):
        self.threads = threads  # ONNX Runtime's intra-op threads when the calibration starts (0: every core)
        self.prepared = prepared
        self.calibration = calibration
        self.input_name = input_name
        self.batch_size = batch_size
        self.work = work
        self.caches: Dict[str, Path] = {}
        self.progress = progress if progress is not None else disabled()  # a bar over the calibration images

    def write(self, target: Path, *, method: str, per_channel: bool, config: str,
              exclude: Sequence[str] = ()) -> Path:
        # onnxruntime: heavy, loaded only when this runs
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer logs a hint per run at WARNING
        methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                   "percentile": CalibrationMethod.Percentile}
        activation, reduce_range = QUANT_CONFIGS[config]
        cache = self.caches.setdefault(method, self.work / f"ranges-{method}.json")
        first = not cache.exists()  # this call calibrates (a stage of its own, and a bar over the images)
        stage = self.progress.stage(f"calibration ({method}, {len(self.calibration)} images) and quantization") \
            if first else contextlib.nullcontext()
        calibrating = self.progress.counter(total=len(self.calibration), desc=f"calibration images ({method})",
                                            unit="img") if first else contextlib.nullcontext(None)
        try:
            with stage, calibrating as advance, contextlib.redirect_stdout(io.StringIO()):  # the entropy and
                # percentile calibrators print their own progress
                if first:
                    reader = ArrayCalibrationReader(self.input_name, self.calibration, self.batch_size, advance)
                    calibrate(self.prepared, reader, methods[method], cache, self.work / f"augmented-{method}.onnx",
                              self.threads())
                quantize_static(
                    str(self.prepared), str(target), None, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    reduce_range=reduce_range, activation_type=QuantType.QUInt8 if activation == "uint8"
                    else QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=methods[method],
                    nodes_to_exclude=list(exclude), calibration_cache_path=str(cache),
                )
        except Exception as exc:  # the quantizer raises many types; name the setting and the reason
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgebenchError(f"int8 quantization ({method}, {config}, "
                                 f"{'per-channel' if per_channel else 'per-tensor'}) failed: {first[:300]}") from None
        return target


def calibrate(prepared: Path, reader: ArrayCalibrationReader, method, cache: Path, augmented: Path,
              threads: int = 0) -> None:
    """ONNX Runtime's calibrator over the tensors `quantize_static` calibrates by default (the inputs and outputs
    of every op type it can quantize), its ranges saved to `cache` in the format `quantize_static` reads."""
    import onnxruntime as ort  # onnxruntime: heavy, loaded only when this runs
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data  # onnxruntime: heavy
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry  # onnxruntime: heavy

    calibrator = create_calibrator(Path(prepared), sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
                                   augmented_model_path=str(augmented), calibrate_method=method)
    calibrator.infer_session = create_session(ort, augmented, threads, graph_optimization="basic")
    calibrator.collect_data(reader)
    save_tensors_data(calibrator.compute_data(), cache)
    augmented.unlink(missing_ok=True)


def quantized_layers(qdq_path: Path) -> list:
    """Names of the layer nodes whose weights the quantizer turned to int8, in graph order."""
    return [name for name, op_type, weighted in _touched(qdq_path) if weighted and op_type in LAYER_OPS]


def quantized_nodes(qdq_path: Path) -> list:
    """Names of every node quantization touches, in graph order: layers with int8 weights and every other op
    (normalisation, activation, gate, join, pool, transpose) that reads a dequantized activation or whose output
    is quantized. Each can be kept in float by name (`nodes_to_exclude`)."""
    return [name for name, _, _ in _touched(qdq_path)]


def _touched(qdq_path: Path) -> list:
    """(node name, op type, reads an int8 weight) for each non-Q/DQ node next to a quantize/dequantize pair."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    model = onnx.load(str(qdq_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    quantized_outputs = {node.input[0] for node in model.graph.node if node.op_type == "QuantizeLinear"}
    found = []
    for node in model.graph.node:
        if node.op_type in QDQ_OPS or not node.name:
            continue
        dequantized = [producers.get(name) if name in producers and producers[name].op_type == "DequantizeLinear"
                       else None for name in node.input]
        weighted = len(dequantized) > 1 and dequantized[1] is not None and dequantized[1].input[0] in initializers
        activations = [dq for dq in dequantized if dq is not None and dq.input[0] not in initializers]
        if weighted or activations or any(out in quantized_outputs for out in node.output):
            found.append((node.name, node.op_type, weighted))
    return found


def weights_only(fp32_path: Path, qdq_path: Path, target: Path) -> Path:
    """The fp32 graph with each layer's weight replaced by the QDQ model's own int8 weight and its dequantize:
    int8 weights, every activation (and every bias) in float."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    fp32 = onnx.load(str(fp32_path))
    qdq = onnx.load(str(qdq_path))
    q_nodes = {node.name: node for node in qdq.graph.node}
    q_producers = {out: node for node in qdq.graph.node for out in node.output}
    q_inits = {init.name: init for init in qdq.graph.initializer}
    added = set()
    for node in fp32.graph.node:
        twin = q_nodes.get(node.name)
        if node.op_type not in LAYER_OPS or twin is None or len(twin.input) < 2:
            continue
        dequantize = q_producers.get(twin.input[1])
        if dequantize is None or dequantize.op_type != "DequantizeLinear" or dequantize.input[0] not in q_inits:
            continue
        for name in dequantize.input:
            if name and name not in added and name in q_inits:
                fp32.graph.initializer.append(q_inits[name])
                added.add(name)
        fp32.graph.node.append(dequantize)
        node.input[1] = dequantize.output[0]
    _sort_topologically(fp32.graph)
    used = {name for node in fp32.graph.node for name in node.input}
    kept = [init for init in fp32.graph.initializer if init.name in used]
    del fp32.graph.initializer[:]
    fp32.graph.initializer.extend(kept)
    if not any(opset.domain in ("", "ai.onnx") and opset.version >= 13 for opset in fp32.opset_import):
        raise EdgebenchError(f"{fp32_path}: per-channel DequantizeLinear needs opset 13 or newer")
    onnx.save(fp32, str(target))
    return target


def copy_node(node):
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    copied = onnx.NodeProto()
    copied.CopyFrom(node)
    return copied


def _sort_topologically(graph) -> None:
    available = {inp.name for inp in graph.input} | {init.name for init in graph.initializer} | {""}
    pending = list(range(len(graph.node)))
    ordered = []
    while pending:
        ready = [i for i in pending if all(name in available for name in graph.node[i].input)]
        if not ready:
            raise EdgebenchError("the weights-only int8 graph has a cycle or a missing input")
        for i in ready:
            ordered.append(graph.node[i])
            available.update(graph.node[i].output)
        pending = [i for i in pending if i not in set(ready)]
    ordered = [copy_node(node) for node in ordered]
    del graph.node[:]
    graph.node.extend(ordered)
