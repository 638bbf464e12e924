"""Constant Pad on the channel axis -> a 1x1 Conv that places each channel and fills the new ones.

onnx2tf keeps some tensors in NCHW after a residual Add and tells the two layouts apart by their shapes. When
channels equal height or width (16 channels at 16x16 in a CIFAR ResNet's option-A shortcut), it takes such a
tensor for NHWC and pads the wrong axis: the shortcut lands on the wrong features. A 1x1 Conv whose weight is
the identity shifted by the leading pad (zero rows for new channels, bias = the pad value there) computes
exactly the same tensor, and convolutions are what onnx2tf lays out reliably. Spatial pads of the same node
stay in a Pad of their own, applied first.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from edgebench.export.tflite.fixes.graph import Graph, attribute, node_name, rewrite_nodes

NAME = "channel_pads_as_conv"


def _pads(graph: Graph, node, rank: int) -> Optional[np.ndarray]:
    """The Pad's begin/end amounts as a (2, rank) array, from the attribute (opset < 11) or the inputs."""
    if len(node.input) < 2:
        pads = attribute(node, "pads", None)
        return None if pads is None else np.asarray(pads, np.int64).reshape(2, rank)
    pads = graph.constant(node.input[1])
    if pads is None:
        return None
    pads = np.asarray(pads, np.int64).reshape(2, -1)
    if len(node.input) > 3 and node.input[3]:
        axes = graph.constant(node.input[3])
        if axes is None:
            return None
        full = np.zeros((2, rank), np.int64)
        for column, axis in enumerate(np.asarray(axes, np.int64).reshape(-1)):
            full[:, int(axis) % rank] = pads[:, column]
        return full
    return pads if pads.shape[1] == rank else None


def _pad_value(graph: Graph, node) -> Optional[float]:
    if len(node.input) < 2:
        return float(attribute(node, "value", 0.0))
    if len(node.input) > 2 and node.input[2]:
        value = graph.constant(node.input[2])
        return None if value is None or value.size != 1 else float(value.reshape(-1)[0])
    return 0.0


def _plan(graph: Graph, node) -> Optional[Tuple[np.ndarray, float, int]]:
    if node.op_type != "Pad" or attribute(node, "mode", b"constant") not in (b"constant", "constant"):
        return None
    shape = graph.shape(node.input[0])
    if not shape or len(shape) != 4 or shape[1] <= 0 or not graph.is_float(node.input[0]):
        return None
    pads, value = _pads(graph, node, 4), _pad_value(graph, node)
    if pads is None or value is None or not pads[:, 1].any() or shape[1] + pads[:, 1].sum() <= 0:
        return None
    return pads, value, shape[1]


def channel_pads_as_conv(model) -> Tuple[object, int]:
    return rewrite_nodes(model, _plan, _emit)


def _emit(graph: Graph, node, found) -> list:
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    emitted = []
    pads, value, channels = found
    base = node_name(node)
    source = node.input[0]
    spatial = pads.copy()
    spatial[:, 1] = 0
    if spatial.any():
        padded = graph.fresh(f"{base}_spatial")
        inputs = [source, graph.add_initializer(f"{base}_spatial_pads", spatial.reshape(-1))]
        if value != 0.0:
            inputs.append(graph.add_initializer(f"{base}_value", np.asarray(value, np.float32)))
        emitted.append(helper.make_node("Pad", inputs, [padded], mode="constant", name=graph.fresh(f"{base}_pad")))
        source = padded
    before, after = int(pads[0, 1]), int(pads[1, 1])
    out_channels = channels + before + after
    weight = np.zeros((out_channels, channels, 1, 1), np.float32)
    bias = np.full(out_channels, value, np.float32)
    for index in range(channels):
        if 0 <= index + before < out_channels:
            weight[index + before, index] = 1.0
            bias[index + before] = 0.0
    inputs = [source, graph.add_initializer(f"{base}_place", weight)]
    if bias.any():
        inputs.append(graph.add_initializer(f"{base}_fill", bias))
    emitted.append(helper.make_node("Conv", inputs, list(node.output), kernel_shape=[1, 1],
                                    name=graph.fresh(f"{base}_conv")))
    return emitted
