"""ONNX files as users bring them: external weights, dynamic sizes, NHWC inputs, older opsets.

`inspect_input` reads what the file's image input is; `prepare_onnx` writes the one self-contained, static-size,
NCHW, opset >= 13 graph that every artifact is made from, and says what it changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from device_agent.backends.onnxruntime_backend import create_session
from edgebench.errors import EdgebenchError
from edgebench.export.onnx_fixes import explicit_same_pads
from edgebench.export.onnx_nodes import attribute
from edgebench.export.spec import Layout

MIN_OPSET = 13
_IMAGE_CHANNELS = (1, 3)


@dataclass(frozen=True, kw_only=True)
class InputContract:
    name: str
    layout: Layout  # the layout the file takes
    shape: Tuple[Optional[int], ...]  # as the file declares it; None for a dynamic dimension
    channels: Optional[int]  # None when neither the shape nor the first layer tells
    height: Optional[int]
    width: Optional[int]
    dtype: str

    @property
    def batch(self) -> Optional[int]:
        return self.shape[0]


def load_model(path: Path, *, with_weights: bool = True):
    """The model with its external weights (`model.onnx.data` beside it) loaded; missing ones named."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    try:
        header = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for a file that is not ONNX
        raise EdgebenchError(f"{path} is not a valid ONNX model: {_first_line(exc)}") from None
    missing = sorted({location for location in _external_locations(header)
                      if not (path.parent / location).is_file()})
    if missing:
        raise EdgebenchError(f"{path} keeps its weights in {', '.join(missing)}, which is not beside it in "
                             f"{path.parent}: copy the data file(s) next to the .onnx file")
    if not with_weights or not _external_locations(header):
        return header
    try:
        onnx.load_external_data_for_model(header, str(path.parent))
    except Exception as exc:
        raise EdgebenchError(f"cannot read the external weights of {path}: {_first_line(exc)}") from None
    return header


def _external_locations(model) -> List[str]:
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    locations = []
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.append(entries.get("location", ""))
    return locations


def inspect_input(model, where: str) -> InputContract:
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise EdgebenchError(f"{where}: expected one image input and one output, found {len(inputs)} inputs and "
                             f"{len(model.graph.output)} outputs")
    tensor = inputs[0].type.tensor_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)
    if len(shape) != 4:
        raise EdgebenchError(f"{where}: the input '{inputs[0].name}' has shape {_show(shape)}; an image "
                             "classifier takes a 4-D input, [N, C, H, W] or [N, H, W, C]")
    if dtype != "float32":
        raise EdgebenchError(f"{where}: the input '{inputs[0].name}' is {dtype}; edgebench feeds normalised "
                             "float32 images: export the model with a float32 input")
    layout, channels = _layout(model, inputs[0].name, shape, where)
    height, width = (shape[2], shape[3]) if layout == Layout.NCHW else (shape[1], shape[2])
    return InputContract(name=inputs[0].name, layout=layout, shape=shape, channels=channels, height=height,
                         width=width, dtype=dtype)


def _layout(model, name: str, shape, where: str) -> Tuple[Layout, Optional[int]]:
    """From the shape when it tells; else from the first layer: a Transpose to NCHW or a Conv's weights."""
    first, last = shape[1], shape[3]
    if first in _IMAGE_CHANNELS and last not in _IMAGE_CHANNELS:
        return Layout.NCHW, first
    if last in _IMAGE_CHANNELS and first not in _IMAGE_CHANNELS:
        return Layout.NHWC, last
    consumers = [node for node in model.graph.node if name in node.input]
    for node in consumers:
        if node.op_type == "Transpose" and list(attribute(node, "perm", [])) == [0, 3, 1, 2]:
            return Layout.NHWC, last
        if node.op_type == "Conv" and node.input[0] == name:
            channels = _conv_in_channels(model, node)
            return Layout.NCHW, channels or first
    if first is not None:
        return Layout.NCHW, first
    raise EdgebenchError(f"{where}: cannot tell the layout of the input {_show(shape)} (NCHW or NHWC): its "
                         "channel dimension is dynamic and the first layer does not say; pass --channels 1 or 3")


def _conv_in_channels(model, conv) -> Optional[int]:
    for init in model.graph.initializer:
        if init.name == conv.input[1] and len(init.dims) == 4:
            return int(init.dims[1]) * int(attribute(conv, "group", 1))
    return None


def prepare_onnx(model, target: Path, contract: InputContract, size: Tuple[int, int], channels: int,
                 where: str, *, dynamic_batch: bool = True) -> Dict[str, object]:
    """Write the reference graph: static C/H/W, NCHW input, opset >= 13, weights inline, and a dynamic batch
    unless the graph hard-codes its batch (then batch 1)."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    changes: Dict[str, object] = {"input_layout": contract.layout.value}
    model = _upgrade_opset(model, where, changes)
    _set_input_shape(model, contract, size, channels, changes, dynamic_batch)
    if contract.layout == Layout.NHWC:
        _transpose_input(model, contract.name)
        changes["input_transposed"] = "NHWC -> NCHW"
    del model.graph.value_info[:]  # shapes inferred for the old input would contradict the new one
    rewritten = explicit_same_pads(model)  # valid ONNX that ONNX Runtime refuses: the same padding, explicit
    if rewritten:
        changes["graph_fixes"] = {"explicit_same_pads": rewritten}
    try:
        onnx.save(model, str(target))
    except ValueError as exc:  # protobuf's 2 GB limit
        raise EdgebenchError(f"{where} is too large for one file ({_first_line(exc)}): models over 2 GB are not "
                             "supported") from None
    return changes


def _upgrade_opset(model, where: str, changes: Dict[str, object]):
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    changes["opset"] = opset
    if opset is None or opset >= MIN_OPSET:
        return model
    try:
        upgraded = onnx.version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:
        raise EdgebenchError(f"{where} uses opset {opset} and cannot be upgraded to {MIN_OPSET} "
                             f"({_first_line(exc)}): re-export it with opset_version {MIN_OPSET} or newer") from None
    changes["opset_upgraded_to"] = MIN_OPSET
    return upgraded


def _set_input_shape(model, contract: InputContract, size, channels: int, changes: Dict[str, object],
                     dynamic_batch: bool) -> None:
    height, width = size
    wanted = [None, channels, height, width] if contract.layout == Layout.NCHW else [None, height, width, channels]
    dims = model.graph.input[[i.name for i in model.graph.input].index(contract.name)].type.tensor_type.shape.dim
    for index, (dim, value) in enumerate(zip(dims, wanted)):
        if value is None:  # the batch: the agent runs one image at a time, the checks run many when they can
            if dim.HasField("dim_value") and dim.dim_value != 1:
                changes["batch_was"] = dim.dim_value
            dim.Clear()
            if dynamic_batch:
                dim.dim_param = "batch"
            else:
                dim.dim_value = 1
        elif not dim.HasField("dim_value") or dim.dim_value != value:
            if dim.HasField("dim_value") and dim.dim_value > 0:
                raise EdgebenchError(f"the model takes {_show(contract.shape)} but {value} was asked for "
                                     f"dimension {index}: leave --input-size/--channels out or match the model")
            dim.Clear()
            dim.dim_value = value
            changes.setdefault("fixed_dims", []).append(index)
    for output in model.graph.output:
        output_dims = output.type.tensor_type.shape.dim
        if len(output_dims) and dynamic_batch:
            output_dims[0].Clear()
            output_dims[0].dim_param = "batch"
        elif len(output_dims):
            output_dims[0].Clear()
            output_dims[0].dim_value = 1
    changes["batch"] = "dynamic" if dynamic_batch else 1


def _transpose_input(model, name: str) -> None:
    """Feed the graph NCHW: a Transpose to the NHWC tensor it was written for (converters fold it away)."""
    from onnx import helper  # onnx: heavy, loaded only when a graph is read or built

    inner = f"{name}__nhwc"
    for node in model.graph.node:
        for index, value in enumerate(node.input):
            if value == name:
                node.input[index] = inner
    graph_input = next(i for i in model.graph.input if i.name == name)
    dims = graph_input.type.tensor_type.shape.dim
    nhwc = [dims[0], dims[1], dims[2], dims[3]]
    order = [nhwc[0], nhwc[3], nhwc[1], nhwc[2]]
    values = [(d.dim_param if d.dim_param else d.dim_value) for d in order]
    new_input = helper.make_tensor_value_info(name, graph_input.type.tensor_type.elem_type, values)
    graph_input.CopyFrom(new_input)
    model.graph.node.insert(0, helper.make_node("Transpose", [name], [inner], perm=[0, 2, 3, 1],
                                                name=f"{name}_to_nhwc"))


def run_error(path: Path, channels: int, size: Tuple[int, int], batch: int) -> Optional[str]:
    """Why ONNX Runtime cannot run the graph on a batch of `batch` images, or None when it can. ONNX Runtime's
    own error log stays out of the terminal; a node that fails is named as the file names it, with its op."""
    import onnxruntime as ort  # onnxruntime: heavy, loaded only when this runs

    images = np.zeros((batch, channels, *size), np.float32)
    try:
        _run_quietly(path, images, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    except Exception as exc:  # ORT raises its own types for invalid graphs and shape errors
        first = _first_line(exc)
        try:  # unoptimised, the failing node keeps the name it has in the file (not a fused node's)
            _run_quietly(path, images, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        except Exception as plain:  # the same failure, named by the file's own node
            first = _first_line(plain)
        return _named_node(first)[:240]
    return None


def _run_quietly(path: Path, images, level) -> None:
    import onnxruntime as ort  # onnxruntime: heavy, loaded only when this runs

    # fatal only: ONNX Runtime logs each failure at ERROR before it raises it
    session = create_session(ort, path, log_level=4, graph_optimization_level=level)
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4
    session.run(None, {session.get_inputs()[0].name: images}, run_options)


def _named_node(message: str) -> str:
    """"... running Conv node. Name:'x' Status Message: why" -> "node 'x' (Conv): why"."""
    found = re.search(r"running (\w+) node\. Name:'([^']*)' Status Message: (.*)", message)
    if found is None:
        return re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", message)
    return f"node '{found.group(2)}' ({found.group(1)}): {found.group(3).strip()}"


def _show(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
