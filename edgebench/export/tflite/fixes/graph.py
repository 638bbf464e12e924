"""Read-and-rewrite helpers shared by the ONNX graph fixes: constants, static shapes, fresh names."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple, TypeVar

import numpy as np

from edgebench.export.onnx_nodes import attribute  # noqa: F401  (the fixes read attributes through here)

T = TypeVar("T")


class Graph:
    """One ONNX model opened for rewriting: constant values (initializers and Constant nodes), inferred static
    shapes, and names that are guaranteed unused."""

    def __init__(self, model):
        import onnx  # onnx: heavy, loaded only when a graph is read or built

        self.model = model
        self.constants: Dict[str, np.ndarray] = {
            init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
                self.constants[node.output[0]] = onnx.numpy_helper.to_array(node.attribute[0].t)
        inferred = onnx.shape_inference.infer_shapes(model)
        self.shapes: Dict[str, List[int]] = {}
        self.dtypes: Dict[str, int] = {}
        for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            tensor = value.type.tensor_type
            if tensor.HasField("shape"):
                self.shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
            self.dtypes[value.name] = tensor.elem_type
        for name, array in self.constants.items():
            self.shapes[name] = list(array.shape)
        self._used = {name for node in model.graph.node for name in list(node.input) + list(node.output)}
        self._used |= set(self.constants) | {value.name for value in model.graph.input}
        self.new_initializers: list = []

    def constant(self, name: str) -> Optional[np.ndarray]:
        return self.constants.get(name) if name else None

    def shape(self, name: str) -> Optional[List[int]]:
        return self.shapes.get(name)

    def is_float(self, name: str) -> bool:
        from onnx import TensorProto  # onnx: heavy, loaded only when a graph is read or built

        return self.dtypes.get(name) == TensorProto.FLOAT

    def fresh(self, base: str) -> str:
        base = base.replace("/", "_").strip("_") or "fix"
        name, index = base, 1
        while name in self._used:
            name, index = f"{base}_{index}", index + 1
        self._used.add(name)
        return name

    def add_initializer(self, base: str, array: np.ndarray) -> str:
        from onnx import numpy_helper  # onnx: heavy, loaded only when a graph is read or built

        name = self.fresh(base)
        self.new_initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def finish(self, nodes: list):
        """Install the rewritten node list, add new initializers, drop constants nothing reads any more."""
        import onnx  # onnx: heavy, loaded only when a graph is read or built

        graph = self.model.graph
        used = {name for node in nodes for name in node.input} | {value.name for value in graph.output}
        kept_nodes = [node for node in nodes
                      if not (node.op_type == "Constant" and not any(out in used for out in node.output))]
        del graph.node[:]
        graph.node.extend(kept_nodes)
        kept = [init for init in graph.initializer if init.name in used] + self.new_initializers
        del graph.initializer[:]
        graph.initializer.extend(kept)
        onnx.checker.check_model(self.model)
        return self.model


def node_name(node) -> str:
    return node.name or node.output[0]


def rewrite_nodes(model, plan: Callable[[Graph, object], Optional[T]],
                  emit: Callable[[Graph, object, T], List[object]]) -> Tuple[object, int]:
    """Replace each node `plan` finds something to do for by the nodes `emit` makes of it; the other nodes stay.
    Returns the model and how many nodes were replaced."""
    graph = Graph(model)
    nodes, rewritten = [], 0
    for node in model.graph.node:
        found = plan(graph, node)
        if found is None:
            nodes.append(node)
            continue
        nodes.extend(emit(graph, node, found))
        rewritten += 1
    return (graph.finish(nodes), rewritten) if rewritten else (model, 0)
