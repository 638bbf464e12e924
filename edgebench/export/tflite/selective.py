"""Full-integer TFLite with chosen layers kept in float (selective quantization), offline.

The layers are named by the fp32 ONNX graph's node names. TensorFlow's quantizer takes the layers to leave in
float as the output tensor names of the TFLite ops it quantizes (`denylisted_nodes`, what its quantization
debugger passes on). onnx2tf names those ops after its Keras layers (`model/tf.nn.convolution_3/...`), not after
the ONNX nodes, so each ONNX node is paired with its TFLite op by value: the calibrated float model and the fp32
ONNX model run on the same images, and a node's op is the first op whose output holds the node's output values
(`edgebench.export.diagnose` compares the tensors). A node whose output TFLite fused away (a Conv followed by
its Relu) is paired through the elementwise node that follows it.

Calibration runs once (`_experimental_calibrate_only`, as the debugger does); each set of float layers is then
one quantization pass over the calibrated model (`mlir_quantize` with `denylisted_nodes`, milliseconds for a
small CNN), the pass and options TFLiteConverter itself uses for full int8: with no float layers it gives full
int8's ops, tensors and quantization parameters (only the conversion metadata differs). The model keeps full
int8's contract: int8 input and output with the same scale and zero point; a float layer dequantizes its input
and quantizes its output inside the graph. The float ops' names are those of the calibrated graph; the
quantizer may rename an op whose output it re-quantizes (the model's output op gets a suffix).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.diagnose import DEFAULT_TOLERANCE, onnx_tensors
from edgebench.export.diagnose.match import match_tensors
from edgebench.export.diagnose.onnx_tensors import read_graph
from edgebench.export.diagnose.tflite_tensors import run_intermediates
from edgebench.export.spec import Layout, Precision
from edgebench.export.tflite.quiet import native_output_silenced
from edgebench.fileio import write_bytes

MATCH_IMAGES = 4  # images run through both models to pair tensors by value
MAX_FUSED_STEPS = 3  # elementwise nodes after a layer that TFLite may fold into the layer's op (bias, Relu, Clip)


@dataclass(frozen=True, kw_only=True)
class MixedTflite:
    """A selectively quantized model and how its float layers were found."""

    model: bytes
    float_layers: Tuple[str, ...]  # the ONNX node names asked for, in the order given
    tflite_float_ops: Tuple[str, ...]  # the TFLite op output names left in float, in execution order
    unmatched_layers: Tuple[str, ...]  # asked-for nodes with no TFLite op computing their output


class SelectiveQuantizer:
    """Calibrates the SavedModel once, pairs ONNX nodes with TFLite ops once, then quantizes on demand."""

    def __init__(self, *, tf, saved_model: Path, onnx_path: Path, layout: Layout, calibration_nchw: np.ndarray,
                 configure: Callable, work: Path):
        self.tf = tf
        self.saved_model = saved_model
        self.onnx_path = onnx_path
        self.layout = layout
        self.calibration_nchw = calibration_nchw
        self.configure = configure  # sets the int8 options on a TFLiteConverter, as the full int8 path does
        self.work = work
        self._calibrated: Optional[bytes] = None
        self._ops: Optional[Dict[str, Optional[str]]] = None  # ONNX node -> TFLite op output name
        self._node_names: Optional[Tuple[str, ...]] = None
        self._values: Optional[Dict[str, np.ndarray]] = None  # the calibrated model's tensors on MATCH_IMAGES

    def quantize(self, float_layers: Sequence[str]) -> MixedTflite:
        layers = tuple(dict.fromkeys(float_layers))
        self._check_names(layers)
        ops = self.tflite_ops() if layers else {}
        order = self._op_order() if layers else []
        kept = sorted({ops[layer] for layer in layers if ops[layer] is not None}, key=order.index)
        model = self._quantize(kept)
        return MixedTflite(model=model, float_layers=layers, tflite_float_ops=tuple(kept),
                           unmatched_layers=tuple(layer for layer in layers if ops[layer] is None))

    def tflite_ops(self) -> Dict[str, Optional[str]]:
        """Every ONNX node's TFLite op (the op's output tensor name), or None where it has none."""
        if self._ops is None:
            self._ops = self._pair_nodes()
        return self._ops

    def calibrated(self) -> bytes:
        """The float model with the activation ranges seen on the calibration images, not yet quantized."""
        if self._calibrated is None:
            converter = self.tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model))
            self.configure(converter)
            converter._experimental_calibrate_only = True  # what QuantizationDebugger sets: stop before quantizing
            try:
                with native_output_silenced():
                    self._calibrated = converter.convert()
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise EdgebenchError(f"TFLite int8 calibration failed: {first[:200]}") from None
        return self._calibrated

    def _quantize(self, denylisted: List[str]) -> bytes:
        """TFLiteConverter's own int8 pass (new quantizer, per-channel weights, int8 input and output) with the
        denylist QuantizationDebugger.get_nondebug_quantized_model passes; then the converter's last step."""
        # TensorFlow: heavy, loaded only when a TFLite file is made
        from tensorflow.lite.python import convert as tflite_convert


        tf = self.tf
        try:
            with native_output_silenced():  # the quantizer prints its settings on stdout
                model = tflite_convert.mlir_quantize(self.calibrated(), disable_per_channel=False,
                                                     input_data_type=tf.int8, output_data_type=tf.int8,
                                                     denylisted_nodes=denylisted or None)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgebenchError(f"TFLite int8 quantization with {len(denylisted)} float ops failed: "
                                 f"{first[:200]}") from None
        return tflite_convert.deduplicate_readonly_buffers(model)

    def _check_names(self, layers: Sequence[str]) -> None:
        known = self.node_names()
        for layer in layers:
            if layer not in known:
                close = difflib.get_close_matches(layer, known, n=3, cutoff=0.6)
                hint = f"did you mean {', '.join(close)}?" if close else \
                    f"give node names of the fp32 ONNX graph (e.g. {', '.join(known[:3])})"
                raise EdgebenchError(f"unknown layer '{layer}': not a node of {Path(self.onnx_path).name}; {hint}")

    def node_names(self) -> Tuple[str, ...]:
        if self._node_names is None:
            self._node_names = tuple(node.name for node in read_graph(Path(self.onnx_path)).nodes)
        return self._node_names

    def _calibrated_path(self) -> Path:
        path = self.work / "calibrated.tflite"
        if not path.exists():
            write_bytes(path, self.calibrated())
        return path

    def _op_order(self) -> List[str]:
        """Op output names in execution order: the computed tensors, as the diagnosis reads them."""
        return [key.split(":", 1)[1] for key in self._tflite_values()]

    def _tflite_values(self) -> Dict[str, np.ndarray]:
        if self._values is None:
            self._values = run_intermediates(self._calibrated_path(), self.calibration_nchw[:MATCH_IMAGES],
                                             self.layout).values
        return self._values

    def _pair_nodes(self) -> Dict[str, Optional[str]]:
        model = onnx_tensors.load_model(Path(self.onnx_path))
        graph = onnx_tensors.read_graph(Path(self.onnx_path), model)
        images = np.ascontiguousarray(self.calibration_nchw[:MATCH_IMAGES], dtype=np.float32)
        reference = onnx_tensors.run_intermediates(model, graph, images)
        artifact = self._tflite_values()
        tolerance = DEFAULT_TOLERANCE[Precision.FP32]  # the calibrated model still computes in float
        matched = {name for name, match in match_tensors(reference, artifact, tolerance).items()
                   if match is not None and match.matched}
        producer_op: Dict[str, Optional[str]] = {}

        def op_for(tensor: str) -> Optional[str]:
            """The first TFLite op (in execution order) whose output holds this ONNX tensor's values."""
            if tensor not in producer_op:
                producer_op[tensor] = None
                if tensor in matched:
                    size = reference[tensor][0].size
                    for key, values in artifact.items():
                        if values[0].size == size and match_tensors({tensor: reference[tensor]}, {key: values},
                                                                    tolerance)[tensor].matched:
                            producer_op[tensor] = key.split(":", 1)[1]
                            break
            return producer_op[tensor]

        consumers: Dict[str, List] = {}
        for node in graph.nodes:
            for name in set(node.inputs):
                consumers.setdefault(name, []).append(node)
        from_image = set(graph.float_types) | {graph.input_name}
        pairs: Dict[str, Optional[str]] = {}
        for node in graph.nodes:
            pairs[node.name] = None
            tensor, steps = (node.outputs[0] if node.outputs else None), 0
            while tensor is not None and tensor in from_image and steps <= MAX_FUSED_STEPS:
                found = op_for(tensor)
                if found is not None:
                    pairs[node.name] = found
                    break
                tensor, steps = _fused_successor(tensor, consumers, from_image), steps + 1
        return pairs


def _fused_successor(tensor: str, consumers: Dict[str, List], from_image) -> Optional[str]:
    """The output of the one node reading `tensor` when that node reads nothing else computed from the image
    (bias Add, Relu, Clip, a scale): TFLite folds such nodes into the op before them."""
    readers = consumers.get(tensor, [])
    if len(readers) != 1:
        return None
    reader = readers[0]
    if any(name in from_image and name != tensor for name in reader.inputs) or len(reader.outputs) != 1:
        return None
    return reader.outputs[0]
