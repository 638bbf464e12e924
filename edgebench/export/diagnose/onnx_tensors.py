"""ONNX Runtime with every intermediate tensor exposed as a graph output: the reference side of a diagnosis,
and the artifact side for ONNX artifacts (int8 QDQ files keep the fp32 tensor names)."""

from __future__ import annotations

import ast
import heapq
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Tuple

import numpy as np

from device_agent.backends.onnxruntime_backend import create_session
from edgebench.errors import EdgebenchError

# The dynamo exporter records the module path of every node under this key; the legacy exporter puts it in the
# node name ("/layer1/layer1.0/conv/Conv").
NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_PARAMETER = re.compile(r"(\w[\w.]*)\.weight")  # torch's parameter names, kept by both exporters


@dataclass(frozen=True, kw_only=True)
class OnnxNode:
    name: str
    op_type: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    source_layer: Optional[str]


@dataclass(frozen=True, kw_only=True)
class OnnxGraph:
    """The nodes in topological order and the tensors worth comparing: float node outputs computed from the
    image (constants and shape arithmetic are left out)."""

    path: Path
    nodes: Tuple[OnnxNode, ...]
    input_name: str
    input_shape: Tuple[int, ...]  # -1 for a dynamic dimension
    outputs: Tuple[str, ...]
    float_types: Dict[str, int]  # tensor name -> ONNX element type, for every float tensor from the image
    quantized: bool  # holds QuantizeLinear / DequantizeLinear / QLinear* / DynamicQuantizeLinear nodes
    dynamic_quantized: bool


def source_layer(node, initializers: FrozenSet[str] = frozenset()) -> Optional[str]:
    """The torch module path a node came from, or None for operations at the model's top level.

    A node that reads a parameter ("layer1.0.conv.weight") came from that parameter's module, even when the
    exporter folded another module into it (a BatchNorm into its Conv, recorded under the BatchNorm's scope)."""
    for name in node.input:
        if name in initializers and _PARAMETER.fullmatch(name):
            return _PARAMETER.fullmatch(name).group(1)
    for prop in node.metadata_props:
        if prop.key == NAME_SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            # the last scope names the traced operation itself, the ones before it the modules around it
            modules = [scope for scope in scopes[:-1] if scope]
            return modules[-1] if modules else None
    if node.name.startswith("/"):
        # "/layer1/layer1.0/shortcut/shortcut.0/Conv": each segment names its module either by its full path
        # ("layer1.0" under "layer1") or relative to the previous segment ("shortcut.0" under "shortcut")
        path, previous = "", ""
        for segment in node.name.strip("/").split("/")[:-1]:
            if not path or segment.startswith(path + "."):
                path = segment
            elif previous and segment.startswith(previous + "."):
                path = f"{path}{segment[len(previous):]}"
            else:
                path = f"{path}.{segment}"
            previous = segment
        return path or None
    return None


def load_model(path: Path):
    import onnx  # the host extra's graph library: imported where a graph is read

    path = Path(path)
    if not path.is_file():
        raise EdgebenchError(f"{path} does not exist: give an .onnx file")
    try:
        return onnx.load(str(path))  # external weights are read from beside the file
    except Exception as exc:  # protobuf raises DecodeError, onnx raises its own types
        raise EdgebenchError(f"{path} is not a readable ONNX model: {_first_line(exc)}") from None


def read_graph(path: Path, model=None) -> OnnxGraph:
    import onnx  # the host extra's graph library: imported where a graph is read

    model = model if model is not None else load_model(path)
    initializers = frozenset(init.name for init in model.graph.initializer)
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise EdgebenchError(f"{Path(path).name}: expected one image input, found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    input_shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    types = _tensor_types(model)
    if any(name and name not in types for node in model.graph.node for name in node.output):
        try:  # the dynamo exporter records every type; other files may need inference (slow on big weights)
            types = _tensor_types(onnx.shape_inference.infer_shapes(model))
        except Exception:  # inference fails on some user graphs; the types recorded in the file still help
            pass
    nodes = _topological(model.graph.node)
    from_image = {inputs[0].name}
    float_types: Dict[str, int] = {}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    for node in nodes:
        if node.op_type in ("Shape", "Size") or not any(name in from_image for name in node.input):
            continue
        for name in node.output:
            if name:
                from_image.add(name)
                if types.get(name) in floats:
                    float_types[name] = types[name]
    needed = _ancestors_of_outputs(nodes, {output.name for output in model.graph.output})
    float_types = {name: kind for name, kind in float_types.items() if name in needed}
    op_types = {node.op_type for node in nodes}
    return OnnxGraph(
        path=Path(path),
        nodes=tuple(OnnxNode(name=node.name or f"{node.op_type}:{node.output[0]}", op_type=node.op_type,
                             inputs=tuple(node.input), outputs=tuple(o for o in node.output if o),
                             source_layer=source_layer(node, initializers)) for node in nodes),
        input_name=inputs[0].name, input_shape=input_shape,
        outputs=tuple(output.name for output in model.graph.output),
        float_types=float_types,
        quantized=bool(op_types & {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
        or any(op.startswith("QLinear") for op in op_types),
        dynamic_quantized="DynamicQuantizeLinear" in op_types,
    )


def _tensor_types(model) -> Dict[str, int]:
    graph = model.graph
    return {value.name: value.type.tensor_type.elem_type for value in [*graph.value_info, *graph.output, *graph.input]
            if value.type.tensor_type.elem_type}


def _topological(nodes) -> List:
    """Kahn's order, keeping the file's order among ready nodes (files are usually sorted already)."""
    produced_by = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    consumers: Dict[int, List[int]] = {}
    for index, node in enumerate(nodes):
        for producer in {produced_by[name] for name in node.input if name in produced_by}:
            consumers.setdefault(producer, []).append(index)
    waiting = [len({produced_by[name] for name in node.input if name in produced_by}) for node in nodes]
    ready = [index for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append(nodes[index])
        for consumer in consumers.get(index, ()):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, consumer)
    if len(order) != len(nodes):
        raise EdgebenchError("the ONNX graph has a cycle: it is not a valid model")
    return order


def _ancestors_of_outputs(nodes, outputs) -> set:
    needed = set(outputs)
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            needed.update(name for name in node.input if name)
    return needed


def run_intermediates(model, graph: OnnxGraph, inputs_nchw: np.ndarray) -> Dict[str, np.ndarray]:
    """Every compared tensor for each image, stacked: name -> [N, *tensor shape], as float32."""
    import onnx  # the host extra's graph library and runtime: imported where a graph is run
    import onnxruntime as ort  # (see above)

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {output.name for output in exposed.graph.output}
    names = [name for name in graph.float_types if name not in present]
    exposed.graph.output.extend(onnx.helper.make_tensor_value_info(name, graph.float_types[name], None)
                                for name in names)
    try:
        # fusions would hide the very tensors compared here (and change nothing the model means)
        session = create_session(ort, exposed.SerializeToString(), graph_optimization="disable")
    except Exception as exc:
        raise EdgebenchError(f"ONNX Runtime cannot load {graph.path.name}: {_first_line(exc)}") from None
    wanted = [output.name for output in session.get_outputs() if output.name in graph.float_types]
    per_image: Dict[str, List[np.ndarray]] = {name: [] for name in wanted}
    for index in range(len(inputs_nchw)):
        values = session.run(wanted, {graph.input_name: inputs_nchw[index:index + 1]})
        for name, value in zip(wanted, values):
            per_image[name].append(np.asarray(value, dtype=np.float32))
    return {name: np.stack(values) for name, values in per_image.items()}


def check_input(graph: OnnxGraph, inputs_nchw: np.ndarray, what: str) -> None:
    """The images must fit the model's input: NCHW, matching channels and size, batch 1 or dynamic."""
    shape = graph.input_shape
    if len(shape) != 4:
        raise EdgebenchError(f"{what} {graph.path.name} takes input shape {list(shape)}: diagnose needs an NCHW "
                             "image input")
    if shape[0] not in (-1, 1):
        raise EdgebenchError(f"{what} {graph.path.name} takes a fixed batch of {shape[0]}: diagnose runs one "
                             "image at a time, export the model with batch 1 or a dynamic batch")
    expected = tuple(inputs_nchw.shape[1:])
    if any(want not in (-1, got) for want, got in zip(shape[1:], expected)):
        raise EdgebenchError(f"{what} {graph.path.name} takes input {list(shape)} (NCHW) but the images are "
                             f"{list(expected)} (C, H, W)")


def _first_line(exc: Exception) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:200]
