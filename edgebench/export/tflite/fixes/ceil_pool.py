"""MaxPool with ceil_mode -> an edge Pad on the bottom/right, then a floor-mode MaxPool.

onnx2tf builds ceil mode by padding the pool's input with the lowest float. In a full-integer model that pad
shares its input's quantization scale, which becomes FLT_MAX/255, and every activation feeding such a pool
quantizes to zero (SqueezeNet's int8 TFLite fell to chance). Copying the last row and column instead is exact:
every window that reaches past the input also holds the edge element it copies, so its maximum is unchanged.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from edgebench.export.tflite.fixes.graph import Graph, attribute, node_name, rewrite_nodes

NAME = "ceil_maxpools_edge_padded"


def _ceil_output(size: int, kernel: int, stride: int) -> int:
    """ONNX's ceil-mode output size, without the window that would start past the input."""
    out = -(-(size - kernel) // stride) + 1
    return out - 1 if (out - 1) * stride >= size else out


def _plan(graph: Graph, node) -> Optional[List[int]]:
    """The rows and columns to add at the bottom and right, or None when the node is not this pattern."""
    if node.op_type != "MaxPool" or not attribute(node, "ceil_mode", 0) or len(node.output) != 1:
        return None
    shape = graph.shape(node.input[0])
    kernel = list(attribute(node, "kernel_shape", []))
    strides = list(attribute(node, "strides", [1] * len(kernel)))
    if (not shape or len(shape) != 4 or any(d <= 0 for d in shape[2:]) or len(kernel) != 2
            or any(attribute(node, "pads", [0] * 4)) or any(d != 1 for d in attribute(node, "dilations", [1, 1]))
            or attribute(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
        return None
    extra = [max(0, (_ceil_output(size, k, s) - 1) * s + k - size) for size, k, s in zip(shape[2:], kernel, strides)]
    return extra


def ceil_maxpools_edge_padded(model):
    return rewrite_nodes(model, _plan, _emit)


def _emit(graph: Graph, node, extra: List[int]) -> list:
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    base = node_name(node)
    kept = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "ceil_mode"}
    if not any(extra):  # ceil and floor agree at this size: the flag alone goes
        return [helper.make_node("MaxPool", list(node.input), list(node.output), name=node.name or None, **kept)]
    padded = graph.fresh(f"{base}_edge")
    pads = graph.add_initializer(f"{base}_edge_pads", np.asarray([0, 0, 0, 0, 0, 0, *extra], np.int64))
    return [helper.make_node("Pad", [node.input[0], pads], [padded], mode="edge", name=graph.fresh(f"{base}_pad")),
            helper.make_node("MaxPool", [padded], list(node.output), name=graph.fresh(f"{base}_pool"), **kept)]
