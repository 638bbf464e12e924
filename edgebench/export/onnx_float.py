"""torch -> fp32 ONNX with the dynamo exporter: one self-contained file, dynamic batch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Tuple

from edgebench.errors import EdgebenchError
from edgebench.fileio import raise_if_write_error

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@contextlib.contextmanager
def _quiet():
    """The exporter narrates on stdout and warns about optional operators; keep the CLI's output clean."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(module, input_shape: Tuple[int, ...], path: Path, opset: int = 18) -> None:
    import torch  # torch: heavy, loaded only when this runs

    module = module.eval().to("cpu")
    # An example batch of 2: with 1, torch.export specialises the batch (LayerNorm-over-channels nets, ViTs)
    # and the dynamic batch below is refused.
    example = torch.zeros(2, *input_shape[1:])
    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(module, (example,), str(path), dynamo=True, opset_version=opset, external_data=False,
                              dynamic_shapes=({0: batch},), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME])
    except Exception as exc:  # the exporter raises many types; the first line says what failed
        raise_if_write_error(exc, path)  # a full disk is said as such, and stops the command
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgebenchError(f"ONNX export failed: {first[:300]}") from None
    strip_debug_info(path)


def strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node stack traces, FX node dumps and doc strings: they hold host paths and, for
    small models, a tenth of the file. The short module-path entries stay: `edgebench diagnose` names the
    torch layer a node came from with them."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    # the module path of each node ("['', 'layer1', 'layer1.0', 'layer1.0.bn', ...]"), about 6 % of a small model
    kept_keys = ("pkg.torch.onnx.name_scopes",)
    model = onnx.load(str(path))
    for node in model.graph.node:
        kept = [(prop.key, prop.value) for prop in node.metadata_props if prop.key in kept_keys]
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)
        node.doc_string = ""
    model.graph.doc_string = ""
    onnx.save(model, str(path))


def onnx_io(path: Path) -> Tuple[dict, dict]:
    """Name, shape (-1 for a dynamic dimension) and dtype of the single input and output."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise EdgebenchError(f"{path.name}: expected one image input and one output, found {len(inputs)} inputs "
                             f"and {len(model.graph.output)} outputs")

    def describe(value) -> dict:
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        return {"name": value.name, "shape": shape, "dtype": dtype}

    return describe(inputs[0]), describe(model.graph.output[0])
