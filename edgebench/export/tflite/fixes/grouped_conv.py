"""Grouped convolutions onnx2tf takes for depthwise ones -> Split, one Conv per group, Concat.

onnx2tf decides whether a Conv is depthwise by comparing its `group` with the last dimension of a tensor it
may have left in NCHW order. A grouped convolution whose group count equals the feature map's width or height
(a grouped 1x1 with groups 4 at 4x4, as in the study's ShuffleNet-style variants) is then converted as a
depthwise one and the graph breaks. The rewrite is the same arithmetic with no `group` attribute to misread.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from edgebench.export.tflite.fixes.graph import Graph, attribute, node_name

NAME = "grouped_convs_split"


def ambiguous_grouped_convs(model) -> List[Tuple[str, int, List[int]]]:
    """(node name, group, input shape) of each grouped, non-depthwise Conv whose group equals H or W."""
    return _targets(Graph(model))


def _targets(graph: Graph) -> List[Tuple[str, int, List[int]]]:
    found = []
    for node in graph.model.graph.node:
        if node.op_type != "Conv":
            continue
        group = int(attribute(node, "group", 1))
        shape = graph.shape(node.input[0])
        if group <= 1 or not shape or len(shape) != 4 or graph.constant(node.input[1]) is None:
            continue
        channels, height, width = shape[1:]
        if group != channels and group in (height, width):
            found.append((node_name(node), group, shape))
    return found


def split_grouped_convs(model) -> Tuple[object, int]:
    """Rewrite every ambiguous grouped Conv; returns the model and how many were rewritten."""
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    graph = Graph(model)
    targets = {name for name, _, _ in _targets(graph)}
    if not targets:
        return model, 0
    nodes = []
    for node in model.graph.node:
        if node.op_type != "Conv" or node_name(node) not in targets:
            nodes.append(node)
            continue
        group = int(attribute(node, "group", 1))
        weight = graph.constant(node.input[1])
        bias = graph.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        per_group = weight.shape[0] // group
        base = node_name(node)
        parts = [graph.fresh(f"{base}_in{i}") for i in range(group)]
        # Split's sizes as an input: valid from opset 13 on (`num_outputs` needs 18)
        sizes = graph.add_initializer(f"{base}_sizes", np.full(group, weight.shape[1], np.int64))
        nodes.append(helper.make_node("Split", [node.input[0], sizes], parts, axis=1,
                                      name=graph.fresh(f"{base}_split")))
        kept = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "group"}
        outputs = []
        for index in range(group):
            rows = slice(index * per_group, (index + 1) * per_group)
            inputs = [parts[index], graph.add_initializer(f"{base}_w{index}", weight[rows])]
            if bias is not None:
                inputs.append(graph.add_initializer(f"{base}_b{index}", np.asarray(bias[rows])))
            outputs.append(graph.fresh(f"{base}_out{index}"))
            nodes.append(helper.make_node("Conv", inputs, [outputs[-1]], name=graph.fresh(f"{base}_g{index}"),
                                          **kept))
        nodes.append(helper.make_node("Concat", outputs, list(node.output), axis=1, name=graph.fresh(f"{base}_concat")))
    return graph.finish(nodes), len(targets)
