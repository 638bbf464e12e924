"""ONNX node -> the torch module it came from, for every node of an exported file (fp32 or int8 QDQ), so a
profile measured on the device names the layers the user wrote.

The key set is what ONNX Runtime's profiler may call a node: the node's own name, and the names of the tensors
it writes (ONNX Runtime names some rewritten nodes after their output: a Conv fused with its Relu in the NCHWc
layout is "relu_nchwc", a QuantizeLinear it inserts after a ReduceMean is "mean_q"). Quantize/dequantize nodes,
which the exporter did not create, take the layer of the tensor they quantize; a weight's dequantize takes the
layer of the node that reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, FrozenSet, List, Optional

from edgebench.export.diagnose.onnx_tensors import load_model, source_layer

QUANTIZED_SUFFIX = "_quantized"  # ONNX Runtime's quantizer stores weight W as "W_quantized"
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
# ONNX Runtime fuses these into the convolution or matrix product that feeds them, and names the fused node after
# the activation's output: that tensor's time belongs to the convolution's layer.
FUSED_ACTIVATIONS = frozenset({"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"})
FUSING_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "FusedConv"})


def layer_map(onnx_path: Path) -> Dict[str, str]:
    """Node names (and the names of the tensors they write) -> torch module path; nodes at the model's top
    level (a flatten, a graph-level reshape) are left out."""
    model = load_model(Path(onnx_path))
    nodes = list(model.graph.node)
    initializers = frozenset(init.name for init in model.graph.initializer)
    initializers |= frozenset(name.removesuffix(QUANTIZED_SUFFIX) for name in initializers)
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    layers: List[Optional[str]] = [source_layer(_with_float_weights(node, nodes, producer, initializers),
                                                initializers) for node in nodes]
    readers: Dict[str, List[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            readers.setdefault(name, []).append(index)
    changed = True
    while changed:  # Q -> DQ chains inherit one step at a time
        changed = False
        for index, node in enumerate(nodes):
            if layers[index] is not None or node.op_type not in QDQ_OPS or not node.input:
                continue
            upstream = producer.get(node.input[0])
            found = layers[upstream] if upstream is not None else None
            if found is None and upstream is None:  # a weight: the layer that reads it
                found = next((layers[r] for r in readers.get(node.output[0], ()) if layers[r]), None)
            if found is not None:
                layers[index], changed = found, True
    mapping: Dict[str, str] = {}
    for index, node in enumerate(nodes):
        if layers[index] is None or node.op_type in QDQ_OPS:  # ONNX Runtime keeps the names of Q/DQ nodes
            continue
        tensor_layer = _fused_layer(nodes, layers, producer, index)
        for name in node.output:
            if name and name not in mapping:
                mapping[name] = tensor_layer
    for index, node in enumerate(nodes):  # node names win over tensor names
        if layers[index] is not None and node.name:
            mapping[node.name] = layers[index]
    return mapping


def _with_float_weights(node, nodes, producer: Dict[str, int], initializers: FrozenSet[str]):
    """The node as it read its weights before quantization: an input dequantized from an initializer
    ("layer1.0.conv.weight_quantized") is named by that weight ("layer1.0.conv.weight"), so an int8 node is
    named by its parameter's module exactly as its fp32 original is."""
    renamed = []
    for name in node.input:
        upstream = producer.get(name)
        source = nodes[upstream] if upstream is not None else None
        if source is not None and source.op_type == "DequantizeLinear" and source.input[0] in initializers:
            name = source.input[0].removesuffix(QUANTIZED_SUFFIX)
        renamed.append(name)
    if renamed == list(node.input):
        return node
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    del copy.input[:]
    copy.input.extend(renamed)
    return copy


def _fused_layer(nodes, layers: List[Optional[str]], producer: Dict[str, int], index: int) -> Optional[str]:
    node = nodes[index]
    if node.op_type in FUSED_ACTIVATIONS and node.input and node.input[0] in producer:
        upstream = producer[node.input[0]]
        if nodes[upstream].op_type in FUSING_OPS and layers[upstream]:
            return layers[upstream]
    return layers[index]
