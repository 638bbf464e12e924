"""GELU written out (x * 0.5 * (1 + erf(x / sqrt(2))), as torch exports `nn.GELU`) -> one ONNX `Gelu` node.

TFLite has no Erf kernel, so onnx2tf replaces `Erf` by a polynomial with DIV ops. In a full-integer model those
divisors are quantized over a range that crosses zero, and TFLite's int8 DIV aborts when a divisor lands on its
zero point ("div.cc:262 data[i] != zero_point", measured on the corpus ConvNeXt): the int8 artifact cannot run.
ONNX's `Gelu` (opset 20) is the same function; onnx2tf converts it to `tf.nn.gelu`, TFLite's GELU builtin, which
has an int8 kernel. The opset is raised to 20 only from 18 or 19 (no operator edgebench's graphs use changes
between them); older graphs keep the written-out form.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

from edgebench.export.tflite.fixes.graph import Graph

NAME = "gelus_as_one_op"
GELU_OPSET = 20
MIN_OPSET = 18


def gelus_as_one_op(model) -> Tuple[object, int]:
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    default = next((o for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if default is None or default.version < MIN_OPSET or not any(n.op_type == "Erf" for n in model.graph.node):
        return model, 0
    graph = Graph(model)
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in model.graph.node for out in node.output}
    found = [match for match in (_match(graph, node, producers, consumers) for node in model.graph.node
                                 if node.op_type == "Erf") if match is not None]
    if not found:
        return model, 0
    removed = {id(node) for nodes, _, _ in found for node in nodes}
    replacements = {id(nodes[-1]): helper.make_node("Gelu", [x], [nodes[-1].output[0]], name=name)
                    for nodes, x, name in found}
    rewritten = [replacements.get(id(node), node) for node in model.graph.node
                 if id(node) not in removed or id(node) in replacements]
    default.version = max(default.version, GELU_OPSET)
    return graph.finish(rewritten), len(found)


def _match(graph: Graph, erf, producers, consumers) -> Optional[Tuple[List[object], str, str]]:
    """(the five nodes, x, the name for the Gelu node) for Div(x, sqrt 2) -> Erf -> Add(1) -> Mul(x) and
    Mul(0.5) in either order, each intermediate read once."""
    divide = producers.get(erf.input[0])
    if divide is None or divide.op_type != "Div" or not _scalar(graph, divide.input[1], math.sqrt(2)):
        return None
    x, tensor, chain = divide.input[0], erf.output[0], []
    for _ in range(3):  # the Add, then the two Muls
        readers = consumers.get(tensor, [])
        if len(readers) != 1 or len(readers[0].input) != 2 or tensor not in readers[0].input:
            return None
        node = readers[0]
        chain.append((node, node.input[1] if node.input[0] == tensor else node.input[0]))
        tensor = node.output[0]
    (add, one), (first, a), (second, b) = chain
    if add.op_type != "Add" or not _scalar(graph, one, 1.0) or (first.op_type, second.op_type) != ("Mul", "Mul"):
        return None
    if not ((a == x and _scalar(graph, b, 0.5)) or (b == x and _scalar(graph, a, 0.5))):
        return None
    return [divide, erf, add, first, second], x, second.name or f"{tensor}_gelu"


def _scalar(graph: Graph, name: str, value: float) -> bool:
    array = graph.constant(name)
    return array is not None and array.size == 1 and abs(float(array.reshape(-1)[0]) - value) <= 1e-6 * value
