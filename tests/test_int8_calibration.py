"""edgebench's calibration pass (ONNX Runtime's calibrator in a session with the basic graph optimisations)
gives the ranges `quantize_static` computes itself, bit for bit, and the pre-processing falls back to symbolic
shape inference only where ONNX's own leaves a tensor without a shape."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    import torch

    from edgebench.export.onnx_float import export_onnx
    from edgebench.export.onnx_int8 import preprocess_for_quantization
    from edgebench.models import create_model

    work = tmp_path_factory.mktemp("calibration")
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=10, in_channels=3).eval()  # conv, BN, ReLU, residual add, linear
    export_onnx(model, (1, 3, 32, 32), work / "model.onnx")
    assert preprocess_for_quantization(work / "model.onnx", work / "prepared.onnx")
    return work / "prepared.onnx"


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_the_ranges_are_those_quantize_static_computes(prepared, tmp_path, method):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    from edgebench.export.int8.quantizer import ArrayCalibrationReader, calibrate

    kind = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}[method]
    images = np.random.default_rng(1).normal(size=(24, 3, 32, 32)).astype(np.float32)
    quantize_static(str(prepared), str(tmp_path / "theirs.onnx"), ArrayCalibrationReader("input", images, 8),
                    quant_format=QuantFormat.QDQ, per_channel=True, calibrate_method=kind,
                    calibration_cache_path=str(tmp_path / "theirs.json"))
    calibrate(prepared, ArrayCalibrationReader("input", images, 8), kind, tmp_path / "ours.json",
              tmp_path / "augmented.onnx")
    theirs, ours = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("theirs", "ours"))
    assert len(ours["data"]) == len(theirs["data"]) > 20
    assert ours == theirs
    assert not (tmp_path / "augmented.onnx").exists()


def test_the_quick_shape_pass_covers_every_tensor_of_an_exported_graph(prepared):
    import onnx

    from edgebench.export.onnx_int8 import _shapes_known

    assert _shapes_known(prepared)
    model = onnx.load(str(prepared))
    outputs = {name for node in model.graph.node for name in node.output}
    index = next(i for i, value in enumerate(model.graph.value_info) if value.name in outputs)
    del model.graph.value_info[index]  # one node output's shape unknown: the symbolic pass would run
    onnx.save(model, str(prepared.with_name("partial.onnx")))
    assert not _shapes_known(prepared.with_name("partial.onnx"))
