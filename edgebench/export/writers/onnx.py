"""ONNX artifacts: the fp32 reference graph as exported, and static int8 QDQ from ONNX Runtime's tools.

With an accuracy budget (`--max-drop`), int8 goes through the search of `edgebench.export.int8.search` and the
decision is left in `context.int8_plan` for the formats written after ONNX."""

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
        self.work = work
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
        if context.spec.quant.max_drop_pp is not None:
            return self._within_budget(path, model_input["name"], fixed_batch or 32)
        return quantize(context.fp32_onnx, path, context.calibration, context.selection, context.spec.quant,
                        model_input["name"], fixed_batch or 32, log=self.log)

    def _within_budget(self, path: Path, input_name: str, batch_size: int) -> dict:
        block, _ = search_within_budget(self.context, path, input_name, batch_size, self.work, self.log)
        return block

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray:
        from edgebench.export.verify import onnx_logits

        return onnx_logits(path, inputs_nchw)

    def close(self) -> None:
        pass


def search_within_budget(context: ExportContext, path: Path, input_name: str, batch_size: int, work: Path,
                         log: Log):
    """The int8 search of `edgebench.export.int8.search` written to `path`: (its manifest block, the plan), the
    plan also left in `context.int8_plan` (a refused one too, before MixedRefused goes on up)."""
    import tempfile

    from edgebench.export.int8.search import EvalSet, MixedRefused, mixed_int8

    with tempfile.TemporaryDirectory(prefix="edgebench-int8-", dir=work) as tmp:
        try:
            block, plan = mixed_int8(
                context.fp32_onnx, path, calibration=context.calibration,
                eval_set=EvalSet(inputs=context.eval_inputs, labels=context.eval_set.labels),
                spec=context.spec.quant, max_drop_pp=context.spec.quant.max_drop_pp, input_name=input_name,
                batch_size=batch_size, work=Path(tmp), torch_layers=context.fp32_layers(), log=log)
        except MixedRefused as refused:
            context.int8_plan = refused.plan
            raise
    context.int8_plan = plan
    return block, plan


def int8_plan(context: ExportContext, work: Path, log: Log):
    """The plan of the int8 search, made now when no int8 ONNX artifact was asked for (`--format tflite`): the
    TFLite artifact starts from the same layers. The ONNX file it quantizes is thrown away."""
    import tempfile

    from edgebench.export.onnx_float import onnx_io

    if context.int8_plan is None:
        model_input = onnx_io(context.fp32_onnx)[0]
        fixed_batch = model_input["shape"][0] if model_input["shape"][0] > 0 else None
        log("planning int8 layers on the ONNX graph (no int8 ONNX artifact asked for) ...")
        with tempfile.TemporaryDirectory(prefix="edgebench-int8-plan-", dir=work) as tmp:
            search_within_budget(context, Path(tmp) / "int8.onnx", model_input["name"], fixed_batch or 32,
                                 Path(tmp), log)
    return context.int8_plan
