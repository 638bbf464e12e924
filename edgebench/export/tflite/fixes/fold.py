"""Nodes computed from constants only -> Constant nodes holding their values.

The TorchScript exporter writes a channel Pad's amounts as a small subgraph of Constant, Reshape, Slice,
Transpose and Cast nodes; the rewrites after this one need those amounts as a constant to recognise the
pattern. Values come from ONNX's reference evaluator, so they are the ones ONNX Runtime would compute.
"""

from __future__ import annotations

from typing import Tuple

from edgebench.export.tflite.fixes.graph import Graph

NAME = "constants_folded"
_NEVER = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
          "If", "Loop", "Scan", "Constant"}
_LARGEST = 1 << 20  # elements: folding must not turn a small graph into a big file


def _foldable(node, known) -> bool:
    return (node.domain in ("", "ai.onnx") and node.op_type not in _NEVER and len(node.input) > 0
            and all(not name or name in known for name in node.input))


def fold_constants(model) -> Tuple[object, int]:
    from onnx import helper, numpy_helper  # onnx: heavy, loaded only when a graph is read or built
    from onnx.reference import ReferenceEvaluator  # onnx: heavy, loaded only when a graph is read or built

    graph = Graph(model)
    known = dict(graph.constants)
    nodes, folded = [], 0
    for node in model.graph.node:
        if not _foldable(node, known):
            nodes.append(node)
            continue
        try:
            evaluator = ReferenceEvaluator(node)
            values = evaluator.run(None, {name: known[name] for name in node.input if name})
        except Exception:  # an operator the reference evaluator lacks: leave the node as it is
            nodes.append(node)
            continue
        if any(getattr(value, "size", _LARGEST) >= _LARGEST for value in values):
            nodes.append(node)
            continue
        for name, value in zip(node.output, values):
            known[name] = value
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
        folded += 1
    return (graph.finish(nodes), folded) if folded else (model, 0)
