"""Every tensor a .tflite file computes from its input, read back from the interpreter on each image.

The interpreter runs with its built-in kernels and `experimental_preserve_all_tensors`: a delegate (XNNPACK)
computes whole partitions internally, so the tensors between its ops would not be there to read. Quantized
tensors are dequantized with their own scale and zero point, so every tensor compares in float units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.spec import Layout, Precision
from edgebench.export.tflite.quiet import native_output_silenced


@dataclass(frozen=True, kw_only=True)
class TfliteTensors:
    values: Dict[str, np.ndarray]  # "index:name" -> [N, *tensor shape], float32
    precision: Precision  # as read from the file: int8 activations, int8 weights only, float16 weights, or fp32


def _interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            import tensorflow as tf

            Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
        except ImportError:
            raise EdgebenchError("reading a .tflite file needs a TFLite interpreter: pip install ai-edge-litert") \
                from None
    try:
        with warnings.catch_warnings(), native_output_silenced():
            warnings.simplefilter("ignore")  # the interpreter warns that preserving every tensor is for debugging
            interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                                      experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            interpreter.allocate_tensors()
    except Exception as exc:  # interpreters raise ValueError/RuntimeError for bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgebenchError(f"{path} is not a readable TFLite model: {first[:200]}") from None
    return interpreter


def _from_input(interpreter, input_index: int) -> List[int]:
    """Outputs of the ops that depend on the input, in execution order (weights dequantized at load time and
    other constant arithmetic are left out)."""
    from_input, order = {input_index}, []
    for op in interpreter._get_ops_details():  # the only API that lists the graph's ops and their tensors
        if any(int(index) in from_input for index in op["inputs"]):
            for index in op["outputs"]:
                from_input.add(int(index))
                order.append(int(index))
    return order


def _precision(details: List[dict], input_detail: dict, computed: List[int]) -> Precision:
    by_index = {detail["index"]: detail for detail in details}
    activations = [by_index[index] for index in computed if index in by_index]
    if np.issubdtype(input_detail["dtype"], np.integer) or any(
            np.issubdtype(d["dtype"], np.integer) and d["quantization"][0] for d in activations):
        return Precision.INT8
    if any(d["dtype"] == np.int8 for d in details):
        return Precision.DYNAMIC
    if any(d["dtype"] == np.float16 for d in details):
        return Precision.FP16
    return Precision.FP32


def input_shape(path: Path) -> List[int]:
    path = Path(path)
    if not path.is_file():
        raise EdgebenchError(f"{path} does not exist: give a .tflite file")
    return [int(d) for d in _interpreter(path).get_input_details()[0]["shape"]]


def run_intermediates(path: Path, inputs_nchw: np.ndarray, layout: Layout) -> TfliteTensors:
    path = Path(path)
    if not path.is_file():
        raise EdgebenchError(f"{path} does not exist: give a .tflite file")
    interpreter = _interpreter(path)
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise EdgebenchError(f"{path.name} has {len(inputs)} inputs: diagnose needs one image input")
    input_detail = inputs[0]
    images = inputs_nchw.transpose(0, 2, 3, 1) if layout == Layout.NHWC else inputs_nchw
    shape = tuple(int(d) for d in input_detail["shape"])
    if len(shape) != 4 or tuple(shape[1:]) != tuple(images.shape[1:]):
        raise EdgebenchError(f"{path.name} takes input {list(shape)} but the images are "
                             f"{[1, *images.shape[1:]]} in {layout.value}: check --layout and the image size")
    if shape[0] != 1:
        interpreter.resize_tensor_input(input_detail["index"], [1, *shape[1:]])
        interpreter.allocate_tensors()
    computed = _from_input(interpreter, int(input_detail["index"]))
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    comparable = [index for index in computed if index in details and _comparable(details[index])]
    per_image: Dict[int, List[np.ndarray]] = {index: [] for index in comparable}
    for image in images:
        interpreter.set_tensor(input_detail["index"], _prepare(image[None], input_detail))
        interpreter.invoke()
        for index in comparable:
            per_image[index].append(_dequantized(interpreter.get_tensor(index), details[index]))
    values = {f"{index}:{details[index]['name']}": np.stack(arrays) for index, arrays in per_image.items()}
    return TfliteTensors(values=values, precision=_precision(list(details.values()), input_detail, computed))


def _prepare(image: np.ndarray, detail: dict) -> np.ndarray:
    """The device agent's quantization of an int8 input (device_agent/backends/tflite_backend.py)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero_point = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(image / scale + zero_point), info.min, info.max).astype(dtype)
    return np.ascontiguousarray(image.astype(dtype))


def _comparable(detail: dict) -> bool:
    """Float tensors, and quantized ones (a scale to dequantize with); not shapes or indices."""
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return True
    return dtype in (np.int8, np.uint8, np.int16) and bool(detail["quantization"][0])


def _dequantized(value: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (value.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
