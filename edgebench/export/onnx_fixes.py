"""Valid ONNX that ONNX Runtime's CPU kernels refuse, rewritten into the same computation they run.

`auto_pad=SAME_UPPER/SAME_LOWER` on a dilated convolution (what `torch.onnx.export` writes for
`padding="same"` with dilation) stops ONNX Runtime ("Dilation not supported for AutoPadType::SAME_UPPER"). The
padding those modes mean is fixed once the input size is: ONNX's definition, output = ceil(input / stride) and
total padding = max(0, (output - 1) * stride + (kernel - 1) * dilation + 1 - input), the odd pixel at the end
(SAME_UPPER) or at the start (SAME_LOWER). Written as explicit `pads`, the node computes exactly the same output.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from edgebench.errors import EdgebenchError
from edgebench.export.onnx_nodes import attribute

SAME_MODES = (b"SAME_UPPER", b"SAME_LOWER", "SAME_UPPER", "SAME_LOWER")
FIXABLE_OPS = ("Conv",)


def explicit_same_pads(model) -> int:
    """Rewrite every SAME-padded convolution of `model` (static spatial input sizes) with explicit pads, in place;
    returns how many were rewritten."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    targets = [node for node in model.graph.node
               if node.op_type in FIXABLE_OPS and attribute(node, "auto_pad", "NOTSET") in SAME_MODES]
    if not targets:
        return 0
    shapes = _spatial_shapes(model)
    for node in targets:
        spatial = shapes.get(node.input[0])
        if spatial is None:
            raise EdgebenchError(f"node '{node.name}' ({node.op_type}) pads with auto_pad="
                                 f"{_text(attribute(node, 'auto_pad', ''))} and its input size is not known: give "
                                 "the model a static input size (--input-size)")
        pads = same_pads(spatial, _kernel(model, node), list(attribute(node, "strides", [1] * len(spatial))),
                         list(attribute(node, "dilations", [1] * len(spatial))),
                         upper=_text(attribute(node, "auto_pad", "")) == "SAME_UPPER")
        kept = [a for a in node.attribute if a.name not in ("auto_pad", "pads")]
        del node.attribute[:]
        node.attribute.extend(kept)
        node.attribute.append(onnx.helper.make_attribute("pads", pads))
    return len(targets)


def same_pads(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], *,
              upper: bool) -> List[int]:
    """ONNX's [begin..., end...] pads for SAME_UPPER (`upper`) or SAME_LOWER on an input of size `spatial`."""
    begins, ends = [], []
    for size, k, stride, dilation in zip(spatial, kernel, strides, dilations):
        out = math.ceil(size / stride)
        total = max(0, (out - 1) * stride + (k - 1) * dilation + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if upper else large)
        ends.append(large if upper else small)
    return begins + ends


def _kernel(model, node) -> List[int]:
    shape = attribute(node, "kernel_shape", None)
    if shape is not None:
        return list(shape)
    weight = next((init for init in model.graph.initializer if init.name == node.input[1]), None)
    if weight is None:
        raise EdgebenchError(f"node '{node.name}' ({node.op_type}) has no kernel_shape and no constant weight: "
                             "its SAME padding cannot be made explicit")
    return list(weight.dims[2:])


def _spatial_shapes(model) -> Dict[str, Optional[List[int]]]:
    """Tensor name -> its spatial dimensions (after batch and channel), where shape inference knows them all."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: Dict[str, Optional[List[int]]] = {}
    for value in list(inferred.graph.input) + list(inferred.graph.value_info):
        dims = value.type.tensor_type.shape.dim
        spatial = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in list(dims)[2:]]
        if spatial and None not in spatial:
            shapes[value.name] = spatial
    return shapes


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
