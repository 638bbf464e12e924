"""Compare an artifact with its fp32 ONNX model tensor by tensor and name the first node it departs from.

A node departs when its output has artifact tensors of a compatible shape but none within tolerance. That
alone is not enough: a converter that fuses Conv + BatchNorm + ReLU has no tensor for the Conv's own output,
yet the ReLU after it matches again. So an artifact diverges only where a departing tensor has no matching
tensor anywhere below it, and the divergence is traced back from there to where the error began (`_origin`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

import edgebench.export.diagnose.onnx_tensors as onnx_tensors
import edgebench.export.diagnose.tflite_tensors as tflite_tensors
from device_agent.formats import format_for_path, suffixes
from edgebench.errors import EdgebenchError
from edgebench.export.diagnose.match import TensorMatch, match_tensors
from edgebench.export.diagnose.onnx_tensors import OnnxGraph
from edgebench.export.diagnose.report import Diagnosis, Divergence
from edgebench.export.spec import Layout, Precision, parse_enum

# Relative to max |reference tensor|. Float artifacts follow ONNX Runtime to rounding; fp16 weights carry 11
# bits; quantized tensors carry a rounding step of about 1/256 of their range per layer, which accumulates.
DEFAULT_TOLERANCE = {Precision.FP32: 1e-3, Precision.FP16: 2e-2, Precision.DYNAMIC: 0.05, Precision.INT8: 0.1}
# Where an error shrinks below the tolerance further down, it counts as gone only below this fraction of the
# tolerance: float artifacts sit far below it, quantized ones carry a rounding error from the first layer on.
RECOVERY_FLOOR = {Precision.FP32: 0.1, Precision.FP16: 0.1, Precision.DYNAMIC: 0.5, Precision.INT8: 0.5}
ARTIFACT_SUFFIXES = suffixes()  # the contract table's formats


def first_divergence(onnx_path: Path, artifact_path: Path, inputs_nchw: np.ndarray, *,
                     layout: Union[str, Layout] = "NHWC", tolerance: Optional[float] = None,
                     max_images: int = 4) -> Optional[Divergence]:
    """The first ONNX node whose output the artifact does not reproduce, or None when it agrees throughout.

    `inputs_nchw`: normalised float32 images [N, C, H, W]; `layout`: the artifact's input layout (ONNX
    artifacts are always NCHW); `tolerance`: relative to each reference tensor's max |value| (default: by the
    artifact's precision, `DEFAULT_TOLERANCE`)."""
    return diagnose(onnx_path, artifact_path, inputs_nchw, layout=layout, tolerance=tolerance,
                    max_images=max_images).divergence


def diagnose(onnx_path: Path, artifact_path: Path, inputs_nchw: np.ndarray, *,
             layout: Union[str, Layout] = "NHWC", tolerance: Optional[float] = None,
             max_images: int = 4) -> Diagnosis:
    """The whole comparison: how many tensors matched, how closely, and the first divergence if any."""
    return diagnose_many(onnx_path, [(artifact_path, layout)], inputs_nchw, tolerance=tolerance,
                         max_images=max_images)[0]


def diagnose_many(onnx_path: Path, artifacts: Sequence[Tuple[Path, Union[str, Layout]]], inputs_nchw: np.ndarray,
                  *, tolerance: Optional[float] = None, max_images: int = 4) -> List[Diagnosis]:
    """`diagnose` for several (artifact, input layout) pairs, running the reference model once."""
    images = _images(inputs_nchw, max_images)
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                      and tolerance > 0):
        raise EdgebenchError(f"tolerance {tolerance} is out of range: give a number above 0")
    artifacts = [(Path(path), _layout(layout)) for path, layout in artifacts]
    for path, _ in artifacts:
        if format_for_path(path.name) is None:
            raise EdgebenchError(f"{path.name}: unknown artifact type '{path.suffix}': give a "
                                 f"{' or '.join(ARTIFACT_SUFFIXES)} file")
    reference_model = onnx_tensors.load_model(Path(onnx_path))
    graph = onnx_tensors.read_graph(Path(onnx_path), reference_model)
    onnx_tensors.check_input(graph, images, "the reference model")
    reference = None
    results = []
    for path, layout in artifacts:
        artifact, precision, names = _artifact_tensors(path, layout, images)
        if reference is None:  # after the first artifact has loaded: bad artifacts fail before the long run
            reference = onnx_tensors.run_intermediates(reference_model, graph, images)
        chosen = tolerance if tolerance is not None else DEFAULT_TOLERANCE[precision]
        matches = match_tensors(reference, artifact, chosen, names=names)
        results.append(_verdict(graph, matches, path.name, precision, float(chosen), len(images)))
    return results


def _layout(layout: Union[str, Layout]) -> Layout:
    return layout if isinstance(layout, Layout) else parse_enum(Layout, str(layout).upper())


def _artifact_tensors(path: Path, layout: Layout, images: np.ndarray):
    """name -> stacked tensor, the precision read from the file, and the tensors that keep each reference name
    (None: pair by value alone)."""
    if format_for_path(path.name).graph == "tflite":
        tensors = tflite_tensors.run_intermediates(path, images, layout)
        return tensors.values, tensors.precision, None
    model = onnx_tensors.load_model(path)
    graph = onnx_tensors.read_graph(path, model)
    onnx_tensors.check_input(graph, images, "the artifact")
    precision = (Precision.DYNAMIC if graph.dynamic_quantized else Precision.INT8) if graph.quantized \
        else Precision.FP32
    return onnx_tensors.run_intermediates(model, graph, images), precision, _kept_names(graph)


def _kept_names(graph: OnnxGraph) -> Dict[str, List[str]]:
    """ONNX Runtime's quantizer keeps the fp32 tensor names, and follows a tensor X with QuantizeLinear and
    DequantizeLinear: X's values as the next node reads them are the DequantizeLinear's output. They differ
    from X itself where the quantizer dropped a Relu that the uint8 range already applies."""
    quantized_from = {node.outputs[0]: node.inputs[0] for node in graph.nodes
                      if node.op_type == "QuantizeLinear" and node.outputs}
    names: Dict[str, List[str]] = {}
    for node in graph.nodes:
        for name in node.outputs:
            names.setdefault(name, []).append(name)
        if node.op_type == "DequantizeLinear" and node.inputs and node.inputs[0] in quantized_from and node.outputs:
            names.setdefault(quantized_from[node.inputs[0]], []).append(node.outputs[0])
    return names


def _images(inputs_nchw, max_images: int) -> np.ndarray:
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise EdgebenchError(f"max images {max_images} is out of range: give a whole number of 1 or more")
    images = np.asarray(inputs_nchw)
    if images.ndim != 4 or len(images) == 0 or not np.issubdtype(images.dtype, np.floating):
        raise EdgebenchError(f"the images must be normalised float [N, C, H, W] with N >= 1, got "
                             f"{images.dtype.name} {list(images.shape)}")
    return np.ascontiguousarray(images[:max_images], dtype=np.float32)


def _verdict(graph: OnnxGraph, matches: Mapping[str, Optional[TensorMatch]], artifact: str, precision: Precision,
             tolerance: float, images: int) -> Diagnosis:
    compared = {name: match for name, match in matches.items() if match is not None and match.candidates}
    matched = [match for match in compared.values() if match.matched]
    divergence = None
    tensor = _origin(graph, compared, tolerance, RECOVERY_FLOOR[precision] * tolerance)
    if tensor is not None:
        node = next(node for node in graph.nodes if tensor in node.outputs)
        match = compared[tensor]
        divergence = Divergence(node=node.name, op_type=node.op_type, output=tensor, source_layer=node.source_layer,
                                max_abs_diff=match.max_abs_diff, relative_diff=match.relative_diff,
                                compared=len(matched))
    output = compared.get(graph.outputs[0]) if graph.outputs else None
    return Diagnosis(artifact=artifact, precision=precision.value, tolerance=tolerance, images=images,
                     candidates=len(compared), matched=len(matched),
                     max_matched_relative_diff=max((m.relative_diff for m in matched), default=0.0),
                     output_relative_diff=output.relative_diff if output else None, divergence=divergence)


def _origin(graph: OnnxGraph, compared: Mapping[str, TensorMatch], tolerance: float, floor: float) -> Optional[str]:
    """The tensor where the artifact departs for good, or None.

    Whether: some departing tensor has no matching tensor anywhere below it (the output departs, or a branch
    ending in it). Where: a small error at one layer (a single wrong channel) can shrink below the tolerance a
    few layers on, so that tensor may sit well after the cause. The origin is the first departing tensor above
    it whose nearest matching tensors below are not back to the accuracy seen above it (within three times the
    largest relative diff of the matched tensors it is computed from, and at least `floor`, the artifact's
    own rounding): a tensor that was only fused away is followed by one as accurate as its inputs, a wrong
    one by an error that shrank but stays."""
    order = [name for node in graph.nodes for name in node.outputs]
    producer = {name: node for node in graph.nodes for name in node.outputs}
    consumers: Dict[str, List[str]] = {}
    for node in graph.nodes:
        for name in set(node.inputs):
            consumers.setdefault(name, []).extend(node.outputs)
    is_matched = {name: match.matched for name, match in compared.items()}
    departing = [name for name in order if is_matched.get(name) is False]
    matched_below: Dict[str, bool] = {}
    for name in reversed(order):
        matched_below[name] = any(is_matched.get(child, False) or matched_below.get(child, False)
                                  for child in consumers.get(name, ()))
    final = next((name for name in departing if not matched_below[name]), None)
    if final is None:
        return None
    level_above: Dict[str, float] = {}  # largest relative diff among the matched tensors a tensor is computed from
    for name in order:
        inputs = [i for i in producer[name].inputs if i in level_above]
        level_above[name] = max((max(level_above[i], compared[i].relative_diff if is_matched.get(i) else 0.0)
                                 for i in inputs), default=0.0)
    above_final = _ancestors(final, producer)
    for name in departing:
        if name not in above_final:
            continue
        recovered = min(tolerance, max(floor, 3 * level_above[name]))
        if not any(compared[child].relative_diff <= recovered for child in _nearest_matched(name, consumers,
                                                                                           is_matched)):
            return name
    return final


def _ancestors(name: str, producer) -> set:
    seen, stack = {name}, [name]
    while stack:
        node = producer.get(stack.pop())
        for parent in node.inputs if node is not None else ():
            if parent in producer and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _nearest_matched(name: str, consumers, is_matched) -> List[str]:
    """The matched tensors below `name` with no other matched tensor between them and it."""
    found, seen, stack = [], {name}, [name]
    while stack:
        for child in consumers.get(stack.pop(), ()):
            if child in seen:
                continue
            seen.add(child)
            if is_matched.get(child):
                found.append(child)
            else:
                stack.append(child)
    return found
