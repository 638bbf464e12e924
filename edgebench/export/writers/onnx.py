"""ONNX artifacts: the fp32 reference graph as exported, and static int8 QDQ from ONNX Runtime's tools.

With an accuracy budget (`--max-drop`), the int8 artifact is the one the plan of the budget search chose
(`edgebench.export.int8.export_plan`), handed to `write` as an argument."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.context import ExportContext
from edgebench.export.int8.plan import MixedPlan, MixedRefused
from edgebench.export.int8.quantizer import CALIBRATION_BATCH
from edgebench.export.onnx_float import onnx_io
from edgebench.export.onnx_int8 import quantize
from edgebench.export.spec import Layout, Precision
from edgebench.export.verify import counted_logits, onnx_logits
from edgebench.export.writers import Log, Written
from edgebench.fileio import write_bytes


class OnnxWriter:
    def __init__(self, context: ExportContext, work: Path, log: Log):
        self.context = context
        self.work = work
        self.log = log

    def write(self, precision: Precision, path: Path, int8_plan: Optional[MixedPlan] = None) -> Written:
        quantization = None
        if precision == Precision.FP32:
            if path != self.context.fp32_onnx:
                shutil.copyfile(self.context.fp32_onnx, path)
        elif int8_plan is not None:
            quantization = _from_plan(int8_plan, path)
        else:
            quantization = self._quantize(path)
        model_input, model_output = onnx_io(path)
        return Written(input={**model_input, "layout": Layout.NCHW.value}, output=model_output,
                       quantization=quantization)

    def _quantize(self, path: Path) -> dict:
        context = self.context
        self.log(f"quantizing to int8 ONNX on {len(context.calibration)} calibration images ...")
        model_input = onnx_io(context.fp32_onnx)[0]
        fixed_batch = model_input["shape"][0] if model_input["shape"][0] > 0 else None
        return quantize(context.fp32_onnx, path, context.calibration, context.selection, context.spec.quant,
                        model_input["name"], fixed_batch or CALIBRATION_BATCH, log=self.log, progress=context.progress,
                        threads=context.threads)

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray:
        return counted_logits(self.context.progress, "eval images", onnx_logits, path, inputs_nchw,
                              threads=self.context.threads())

    def close(self) -> None:
        pass


def _from_plan(plan: MixedPlan, path: Path) -> dict:
    """The plan's int8 model written to `path` and its quantization block; its refusal or error raised."""
    if plan.error is not None:
        raise EdgebenchError(plan.error)
    if plan.refusal is not None or plan.onnx_model is None:
        raise MixedRefused(plan.refusal or "the int8 search chose no model", plan.quantization, plan)
    write_bytes(path, plan.onnx_model)
    return plan.quantization
