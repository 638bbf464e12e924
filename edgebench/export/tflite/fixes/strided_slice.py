"""Slice with a step on the spatial axes -> a contiguous Slice and a depthwise 1x1 Conv with that stride.

`x[:, :, ::2, ::2]` (a CIFAR ResNet's option-A shortcut) becomes a strided_slice in onnx2tf, which reads its
axes off a tensor whose layout onnx2tf guesses from its shape; when channels equal height or width the guess
can be wrong and so is everything after it. A depthwise 1x1 convolution with weight 1 and stride s picks
elements 0, s, 2s, ... exactly, and onnx2tf converts convolutions in a known layout. The start and the end
of the original slice go into a step-1 Slice before it (left out when it would take everything).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from edgebench.export.tflite.fixes.graph import Graph, node_name, rewrite_nodes

NAME = "strided_slices_as_conv"


def _spec(graph: Graph, node) -> Optional[Tuple[List[int], List[int], List[int], List[int]]]:
    """starts, ends, axes, steps as plain lists (axes made non-negative), or None when not all constant."""
    if node.op_type != "Slice" or len(node.input) < 3:
        return None
    shape = graph.shape(node.input[0])
    values = [graph.constant(name) for name in node.input[1:5]]
    if not shape or any(v is None for v in values[:2]):
        return None
    rank = len(shape)
    starts, ends = [int(v) for v in values[0].reshape(-1)], [int(v) for v in values[1].reshape(-1)]
    has_axes = len(node.input) > 3 and node.input[3]
    has_steps = len(node.input) > 4 and node.input[4]
    if (has_axes and values[2] is None) or (has_steps and values[3] is None):
        return None
    axes = [int(a) % rank for a in values[2].reshape(-1)] if has_axes else list(range(len(starts)))
    steps = [int(s) for s in values[3].reshape(-1)] if has_steps else [1] * len(starts)
    return starts, ends, axes, steps


def _plan(graph: Graph, node):
    spec = _spec(graph, node)
    shape = graph.shape(node.input[0]) if spec else None
    if spec is None or len(shape) != 4 or shape[1] <= 0 or not graph.is_float(node.input[0]):
        return None
    starts, ends, axes, steps = spec
    strides = [1, 1]
    window = {}  # spatial axis -> (first, stop) of the contiguous part the strided conv then samples
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if axis < 2 or step == 1:
            continue
        if step < 1 or shape[axis] <= 0:
            return None
        picked = range(*slice(start, end, step).indices(shape[axis]))
        if len(picked) == 0:
            return None
        strides[axis - 2] = step
        # any stop in (last picked, last picked + step] gives the same samples; the widest may be a full axis
        window[axis] = (picked.start, min(shape[axis], picked.start + len(picked) * step))
    if not window:
        return None
    return spec, strides, window, shape


def strided_slices_as_conv(model) -> Tuple[object, int]:
    return rewrite_nodes(model, _plan, _emit)


def _emit(graph: Graph, node, found) -> list:
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    emitted = []
    (starts, ends, axes, steps), strides, window, shape = found
    base = node_name(node)
    new_starts = [window[a][0] if a in window else s for s, a in zip(starts, axes)]
    new_ends = [window[a][1] if a in window else e for e, a in zip(ends, axes)]
    kept_steps = [1 if a in window else step for a, step in zip(axes, steps)]  # a step on N or C stays
    source = node.input[0]
    unbounded = np.iinfo(np.int64).max
    everything = all(s == 0 and e >= (shape[a] if shape[a] > 0 else unbounded) and st == 1
                     for s, e, a, st in zip(new_starts, new_ends, axes, kept_steps))
    if not everything:
        sliced = graph.fresh(f"{base}_window")
        inputs = [source] + [graph.add_initializer(f"{base}_{label}", np.asarray(values, np.int64))
                             for label, values in (("starts", new_starts), ("ends", new_ends),
                                                   ("axes", axes), ("steps", kept_steps))]
        emitted.append(helper.make_node("Slice", inputs, [sliced], name=graph.fresh(f"{base}_slice")))
        source = sliced
    channels = shape[1]
    if 1 in axes:
        index = axes.index(1)
        channels = len(range(*slice(starts[index], ends[index], steps[index]).indices(channels)))
    weight = graph.add_initializer(f"{base}_sample", np.ones((channels, 1, 1, 1), np.float32))
    emitted.append(helper.make_node("Conv", [source, weight], list(node.output), kernel_shape=[1, 1],
                                    strides=strides, group=channels, name=graph.fresh(f"{base}_conv")))
    return emitted
