"""TFLite artifacts: onnx2tf builds the TensorFlow graph once, TFLiteConverter writes each precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.export.context import ExportContext
from edgebench.export.spec import Format, Precision
from edgebench.export.writers import Log, Written


class TfliteWriter:
    def __init__(self, context: ExportContext, work: Path, log: Log):
        from edgebench.export.tflite.convert import TfliteConverter

        spec = context.spec
        self.layout = spec.layout
        self.calibration = context.calibration[:spec.quant.tflite_calibration_size]
        log(f"converting to TFLite ({', '.join(p.value for p in spec.precisions_for(Format.TFLITE))}; "
            f"{self.layout.value} input) with onnx2tf ...")
        # Graphs edgebench exported itself are already folded and simplified: onnxsim would only cost time
        # (about 9 s on ResNet-101). A user's ONNX file goes through it.
        self.converter = TfliteConverter(context.fp32_onnx, work / ".tflite-work", self.layout, self.calibration,
                                         context.preprocess.mean, context.preprocess.std,
                                         simplify=context.module is None)

    def write(self, precision: Precision, path: Path) -> Written:
        from edgebench.export.tflite.convert import tflite_io
        from edgebench.fileio import write_bytes

        write_bytes(path, self.converter.convert(precision))
        io_facts = tflite_io(path)
        quantization = {
            "tool": "tensorflow.lite.TFLiteConverter", "graph": "onnx2tf", "graph_fixes": dict(self.converter.fixes),
            "calibration_images": int(len(self.calibration)) if precision == Precision.INT8 else 0,
            "input": io_facts["input_quantization"], "output": io_facts["output_quantization"],
        }
        return Written(input={**io_facts["input"], "layout": self.layout.value}, output=io_facts["output"],
                       quantization=quantization)

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray:
        from edgebench.export.tflite.convert import tflite_logits

        return tflite_logits(path, inputs_nchw, self.layout)

    def close(self) -> None:
        self.converter.close()
