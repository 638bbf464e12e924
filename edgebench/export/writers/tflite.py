"""TFLite artifacts: onnx2tf builds the TensorFlow graph once, TFLiteConverter writes each precision.

With an accuracy budget, `write` receives the int8 plan of the budget search (`edgebench.export.int8`): the int8
artifact keeps the plan's float layers in float and as many more of its ranking as TFLite's own drop on the eval
set needs (`edgebench.export.tflite.mixed`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.context import ExportContext
from edgebench.export.int8.plan import MixedPlan
from edgebench.export.spec import Format, Precision
from edgebench.export.tflite.convert import TfliteConverter, tflite_io, tflite_logits
from edgebench.export.tflite.mixed import EvalScorer, choose_mix
from edgebench.export.verify import counted_logits
from edgebench.export.writers import Log, Written
from edgebench.fileio import write_bytes


class TfliteWriter:
    def __init__(self, context: ExportContext, work: Path, log: Log):
        spec = context.spec
        self.context = context
        self.log = log
        self.work = work / ".tflite-work"
        self.layout = spec.layout
        self.calibration = context.calibration[:spec.quant.tflite_calibration_size]
        log(f"converting to TFLite ({', '.join(p.value for p in spec.precisions_for(Format.TFLITE))}; "
            f"{self.layout.value} input) with onnx2tf ...")
        # Graphs edgebench exported itself are already folded and simplified: onnxsim would only cost time
        # (about 9 s on ResNet-101). A user's ONNX file goes through it.
        self.converter = TfliteConverter(context.fp32_onnx, self.work, self.layout, self.calibration,
                                         context.preprocess.mean, context.preprocess.std,
                                         simplify=context.module is None, progress=context.progress)

    def write(self, precision: Precision, path: Path, int8_plan: Optional[MixedPlan] = None) -> Written:
        mixed_precision = None
        if precision == Precision.INT8 and int8_plan is not None:
            model, mixed_precision = self._within_budget(int8_plan)
        else:
            model = self.converter.convert(precision)
        write_bytes(path, model)
        io_facts = tflite_io(path)
        quantization = {
            "tool": "tensorflow.lite.TFLiteConverter", "graph": "onnx2tf", "graph_fixes": dict(self.converter.fixes),
            "calibration_images": int(len(self.calibration)) if precision == Precision.INT8 else 0,
            "input": io_facts["input_quantization"], "output": io_facts["output_quantization"],
        }
        if mixed_precision is not None:
            quantization["mixed_precision"] = mixed_precision
        return Written(input={**io_facts["input"], "layout": self.layout.value}, output=io_facts["output"],
                       quantization=quantization)

    def _within_budget(self, plan: MixedPlan):
        if plan.error is not None:  # the search could not run: there is no ranking to follow
            raise EdgebenchError(plan.error)
        context = self.context
        scorer = EvalScorer(fp32_onnx=context.fp32_onnx, eval_inputs=context.eval_inputs,
                            labels=context.eval_set.labels, layout=self.layout, work=self.work,
                            progress=context.progress)
        return choose_mix(self.converter, plan, scorer, context.fp32_layers(), self.log)

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray:
        return counted_logits(self.context.progress, "eval images", tflite_logits, path, inputs_nchw,
                              layout=self.layout)

    def close(self) -> None:
        self.converter.close()
