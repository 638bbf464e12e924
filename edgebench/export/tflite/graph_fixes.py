"""ONNX rewrites that keep onnx2tf's layout inference on the right track.

onnx2tf decides whether a Conv is depthwise by comparing its `group` with the last dimension of a tensor it
may have left in NCHW order. A grouped convolution whose group count equals the feature map's width or height
(a grouped 1x1 with groups 4 at 4x4, as in the study's ShuffleNet-style variants) is then converted as a
depthwise one and the graph breaks. Such a convolution is rewritten as Split -> one Conv per group -> Concat:
the same arithmetic, with no `group` attribute left to misread.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np


def _shapes(model) -> Dict[str, List[int]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return shapes


def _attribute(node, name, default):
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def ambiguous_grouped_convs(model) -> List[Tuple[str, int, List[int]]]:
    """(node name, group, input shape) of each grouped, non-depthwise Conv whose group equals H or W."""
    shapes = _shapes(model)
    found = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        group = int(_attribute(node, "group", 1))
        shape = shapes.get(node.input[0])
        if group <= 1 or not shape or len(shape) != 4:
            continue
        channels, height, width = shape[1:]
        if group != channels and group in (height, width):
            found.append((node.name or node.output[0], group, shape))
    return found


def split_grouped_convs(model) -> Tuple[object, int]:
    """Rewrite every ambiguous grouped Conv; returns the model and how many were rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    targets = {name for name, _, _ in ambiguous_grouped_convs(model)}
    if not targets:
        return model, 0
    initializers = {init.name: init for init in model.graph.initializer}
    new_nodes, new_inits = [], []
    for node in model.graph.node:
        if node.op_type != "Conv" or (node.name or node.output[0]) not in targets:
            new_nodes.append(node)
            continue
        group = int(_attribute(node, "group", 1))
        weight = numpy_helper.to_array(initializers[node.input[1]])
        bias = numpy_helper.to_array(initializers[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        per_group = weight.shape[0] // group
        base = (node.name or node.output[0]).replace("/", "_")
        parts = [f"{base}_in{i}" for i in range(group)]
        new_nodes.append(helper.make_node("Split", [node.input[0]], parts, axis=1, num_outputs=group,
                                          name=f"{base}_split"))
        outputs = []
        kept = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "group"}
        for index in range(group):
            w_name = f"{base}_w{index}"
            new_inits.append(numpy_helper.from_array(
                np.ascontiguousarray(weight[index * per_group:(index + 1) * per_group]), w_name))
            inputs = [parts[index], w_name]
            if bias is not None:
                b_name = f"{base}_b{index}"
                new_inits.append(numpy_helper.from_array(
                    np.ascontiguousarray(bias[index * per_group:(index + 1) * per_group]), b_name))
                inputs.append(b_name)
            outputs.append(f"{base}_out{index}")
            new_nodes.append(helper.make_node("Conv", inputs, [outputs[-1]], name=f"{base}_g{index}", **kept))
        new_nodes.append(helper.make_node("Concat", outputs, list(node.output), axis=1, name=f"{base}_concat"))
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    used = {name for node in new_nodes for name in node.input}
    kept_inits = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept_inits + new_inits)
    onnx.checker.check_model(model)
    return model, len(targets)
