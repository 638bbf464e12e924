"""ONNX artifacts: the fp32 reference graph as exported, and static int8 QDQ from ONNX Runtime's tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgebench.export.context import ExportContext
from edgebench.export.spec import Layout, Precision
from edgebench.export.writers import Log, Written


class OnnxWriter:
    def __init__(self, context: ExportContext, work: Path, log: Log):
        self.context = context
        self.log = log

    def write(self, precision: Precision, path: Path) -> Written:
        from edgebench.export.onnx_float import onnx_io

        quantization = None
        if precision == Precision.FP32:
            if path != self.context.fp32_onnx:
                shutil.copyfile(self.context.fp32_onnx, path)
        else:
            quantization = self._quantize(path)
        model_input, model_output = onnx_io(path)
        return Written(input={**model_input, "layout": Layout.NCHW.value}, output=model_output,
                       quantization=quantization)

    def _quantize(self, path: Path) -> dict:
        from edgebench.export.onnx_float import onnx_io
        from edgebench.export.onnx_int8 import quantize

        context = self.context
        self.log(f"quantizing to int8 ONNX on {len(context.calibration)} calibration images ...")
        model_input = onnx_io(context.fp32_onnx)[0]
        fixed_batch = model_input["shape"][0] if model_input["shape"][0] > 0 else None
        return quantize(context.fp32_onnx, path, context.calibration, context.selection, context.spec.quant,
                        model_input["name"], fixed_batch or 32, log=self.log)

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray:
        from edgebench.export.verify import onnx_logits

        return onnx_logits(path, inputs_nchw)

    def close(self) -> None:
        pass
