"""Per-layer sensitivity from the fully quantized QDQ model, in one pass over calibration images.

A node's figure is the quantization noise it is exposed to: the noise-to-signal energy ratio of its int8
weights (per output channel, then averaged; none for an op without weights: a normalisation, an activation, a
gate's Mul, a join, a pool) plus that of its noisiest input and its output activations (each tensor's
values before and after its QuantizeLinear/DequantizeLinear pair in the QDQ model, per channel, then averaged
over channels). Per channel, because a tensor whose scale is set by a few outlier channels keeps them exact
and crushes the others: its overall signal-to-noise ratio looks fine while most channels are lost. The eval
labels are never touched; one run of the QDQ model with its intermediate tensors as outputs is all it costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from device_agent.backends.onnxruntime_backend import create_session

METHOD = ("local int8 noise: mean per-channel noise-to-signal energy ratio of the node's int8 weights (if any) "
          "plus its noisiest input and its output activations (before vs after their QuantizeLinear/"
          "DequantizeLinear pair in the fully quantized QDQ model), measured on {images} calibration images; "
          "higher is more sensitive")
FOLLOWED_ACTIVATIONS = ("Relu", "Clip")


@dataclass(frozen=True, kw_only=True)
class LayerScore:
    layer: str
    op_type: str
    score: float
    weight: float
    input: float
    output: float


def layer_scores(qdq_path: Path, fp32_path: Path, layers: Sequence[str], inputs: np.ndarray,
                 batch_size: int = 32) -> List[LayerScore]:
    """Every layer in `layers` (node names of the QDQ model), most sensitive first."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built
    from onnx import numpy_helper  # onnx: heavy, loaded only when a graph is read or built

    model = onnx.load(str(qdq_path))
    fp32 = onnx.load(str(fp32_path))
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    pairs = {}  # pre-quantization tensor -> (post tensor, lower bound of the representable range)
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in inits:
            continue
        dequantize = next((c for c in consumers.get(node.output[0], []) if c.op_type == "DequantizeLinear"), None)
        if dequantize is not None:
            pairs[node.input[0]] = (dequantize.output[0], _lower_bound(node, inits))
    noise = _activation_noise(model, pairs, inputs, batch_size)
    fp32_inits = {init.name: init for init in fp32.graph.initializer}
    fp32_nodes = {node.name: node for node in fp32.graph.node}
    nodes = {node.name: node for node in graph.node}
    scores = []
    for name in layers:
        node = nodes[name]
        weight_noise = _weight_noise(node, fp32_nodes.get(name), producers, inits, fp32_inits, numpy_helper)
        # every quantized activation it reads (a weight's dequantize has no quantize before it: no entry)
        input_noise = max((noise.get(_pre_quantized(name, producers), 0.0) for name in node.input if name),
                          default=0.0)
        output_noise = max((noise.get(tensor, 0.0) for tensor in _outputs(node, consumers)), default=0.0)
        scores.append(LayerScore(layer=name, op_type=node.op_type, score=weight_noise + input_noise + output_noise,
                                 weight=weight_noise, input=input_noise, output=output_noise))
    return sorted(scores, key=lambda s: -s.score)


def _lower_bound(quantize, inits) -> float:
    from onnx import numpy_helper  # onnx: heavy, loaded only when a graph is read or built

    scale = float(numpy_helper.to_array(inits[quantize.input[1]]).reshape(-1)[0])
    zero = numpy_helper.to_array(inits[quantize.input[2]]) if len(quantize.input) > 2 else np.array([0], np.uint8)
    low = -128 if zero.dtype == np.int8 else 0
    return scale * (low - float(zero.reshape(-1)[0]))


def _pre_quantized(tensor: str, producers) -> Optional[str]:
    """The float tensor a layer input was quantized from (DQ(Q(t)) -> t)."""
    dequantize = producers.get(tensor)
    if dequantize is None or dequantize.op_type != "DequantizeLinear":
        return None
    quantize = producers.get(dequantize.input[0])
    return quantize.input[0] if quantize is not None and quantize.op_type == "QuantizeLinear" else None


def _outputs(node, consumers) -> List[str]:
    """The layer's output tensors as quantized: its own output, or that of an activation kept after it."""
    found = [node.output[0]]
    followers = consumers.get(node.output[0], [])
    if len(followers) == 1 and followers[0].op_type in FOLLOWED_ACTIVATIONS:
        found.append(followers[0].output[0])
    return found


def _activation_noise(model, pairs: Dict[str, tuple], inputs: np.ndarray, batch_size: int) -> Dict[str, float]:
    import onnx  # onnx: heavy, loaded only when a graph is read or built
    import onnxruntime as ort  # onnxruntime: heavy, loaded only when this runs

    watched = list(pairs)
    existing = {out.name for out in model.graph.output}
    for pre in watched:
        for name in (pre, pairs[pre][0]):
            if name not in existing:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
                existing.add(name)
    # the unoptimised graph: ONNX Runtime's QDQ fusion would remove the tensors being watched
    session = create_session(ort, model.SerializeToString(), graph_optimization="disable")
    names = [out.name for out in session.get_outputs()]
    input_name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    step = fixed if isinstance(fixed, int) and fixed > 0 else batch_size
    noise_energy: Dict[str, np.ndarray] = {}
    signal_energy: Dict[str, np.ndarray] = {}
    for start in range(0, len(inputs) - step + 1 if fixed == step else len(inputs), step):
        values = dict(zip(names, session.run(names, {input_name: inputs[start:start + step]})))
        for pre in watched:
            post_name, lower = pairs[pre]
            reference = values[pre].astype(np.float64)
            if lower >= 0:  # a ReLU the quantizer folded into the range: clamping at zero is not noise
                reference = np.maximum(reference, 0.0)
            error = values[post_name].astype(np.float64) - reference
            noise_energy[pre] = noise_energy.get(pre, 0.0) + _per_channel(error ** 2)
            signal_energy[pre] = signal_energy.get(pre, 0.0) + _per_channel(reference ** 2)
    return {pre: _mean_ratio(noise_energy[pre], signal_energy[pre]) for pre in noise_energy}


def _per_channel(squared: np.ndarray) -> np.ndarray:
    if squared.ndim < 2:
        return np.array([squared.sum()])
    return squared.swapaxes(0, 1).reshape(squared.shape[1], -1).sum(axis=1)


def _mean_ratio(noise: np.ndarray, signal: np.ndarray) -> float:
    alive = signal > 1e-12 * max(float(signal.max()), 1e-30)  # channels that are always zero carry no signal
    if not alive.any():
        return 0.0
    return float(np.mean(noise[alive] / signal[alive]))


def _weight_noise(node, fp32_node, producers, inits, fp32_inits, numpy_helper) -> float:
    if fp32_node is None or len(node.input) < 2 or fp32_node.input[1] not in fp32_inits:
        return 0.0
    dequantize = producers.get(node.input[1])
    if dequantize is None or dequantize.op_type != "DequantizeLinear":
        return 0.0
    # a scalar (an Add's constant) is one channel
    original = np.atleast_1d(numpy_helper.to_array(fp32_inits[fp32_node.input[1]]).astype(np.float64))
    quantized = np.atleast_1d(numpy_helper.to_array(inits[dequantize.input[0]]).astype(np.float64))
    scale = numpy_helper.to_array(inits[dequantize.input[1]]).astype(np.float64)
    zero = (numpy_helper.to_array(inits[dequantize.input[2]]).astype(np.float64) if len(dequantize.input) > 2
            else np.zeros_like(scale))
    axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
    if scale.size > 1:
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    error = (quantized - zero) * scale - original
    channel_axis = axis if scale.size > 1 else 0
    noise = np.moveaxis(error ** 2, channel_axis, 0).reshape(error.shape[channel_axis], -1).sum(axis=1)
    signal = np.moveaxis(original ** 2, channel_axis, 0).reshape(original.shape[channel_axis], -1).sum(axis=1)
    return _mean_ratio(noise, signal)
