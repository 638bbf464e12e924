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
        self.worker = context.tflite_worker  # the branch already running beside the ONNX stages, if it is
        self.setup_seconds: Optional[float] = None  # onnx2tf's own seconds where it ran in the worker
        self._converter: Optional[TfliteConverter] = None
        log(f"converting to TFLite ({', '.join(p.value for p in spec.precisions_for(Format.TFLITE))}; "
            f"{self.layout.value} input) with onnx2tf{' (in the worker process)' if self.worker else ''} ...")
        if self.worker is not None:
            facts = self.worker.setup()
            self._worker_fixes, self.setup_seconds = dict(facts["fixes"]), float(facts["seconds"])
            context.progress.record("onnx2tf in the worker process", self.setup_seconds)
        else:
            self._converter = self._new_converter()  # onnx2tf now: a failure here costs the format only

    @property
    def converter(self) -> TfliteConverter:
        """The in-process converter (onnx2tf once for every precision); built on first use where a worker wrote
        the plain precisions."""
        if self._converter is None:
            self._converter = self._new_converter()
        return self._converter

    def _new_converter(self) -> TfliteConverter:
        context = self.context
        # Graphs edgebench exported itself are already folded and simplified: onnxsim would only cost time
        # (about 9 s on ResNet-101). A user's ONNX file goes through it.
        return TfliteConverter(context.fp32_onnx, self.work, self.layout, self.calibration, context.preprocess.mean,
                               context.preprocess.std, simplify=context.module is None, progress=context.progress)

    def write(self, precision: Precision, path: Path, int8_plan: Optional[MixedPlan] = None) -> Written:
        mixed_precision, seconds = None, None
        if precision == Precision.INT8 and int8_plan is not None:
            model, mixed_precision = self._within_budget(int8_plan)
            write_bytes(path, model)
        elif self.worker is not None:
            seconds = float(self.worker.take(precision.value, path)["seconds"])
            self.context.progress.record(f"{precision.value} in the worker process", seconds)
        else:
            write_bytes(path, self.converter.convert(precision))
        io_facts = tflite_io(path)
        quantization = {
            "tool": "tensorflow.lite.TFLiteConverter", "graph": "onnx2tf", "graph_fixes": self._fixes(),
            "calibration_images": int(len(self.calibration)) if precision == Precision.INT8 else 0,
            "input": io_facts["input_quantization"], "output": io_facts["output_quantization"],
        }
        if mixed_precision is not None:
            quantization["mixed_precision"] = mixed_precision
        return Written(input={**io_facts["input"], "layout": self.layout.value}, output=io_facts["output"],
                       quantization=quantization, seconds=seconds)

    def _fixes(self) -> dict:
        return dict(self._worker_fixes if self.worker is not None else self.converter.fixes)

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
        if self.worker is not None:
            self.worker.close()
        if self._converter is not None:
            self._converter.close()
