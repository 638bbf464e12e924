"""What every artifact writer shares: the model, its data and the reference outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from edgebench.data.imageset import ImageSet
from edgebench.data.preprocess import Preprocess
from edgebench.export.layers import layer_map
from edgebench.export.source import ModelSource
from edgebench.export.spec import ExportSpec
from edgebench.export.verify import Agreement, compare
from edgebench.progress import Progress, disabled


@dataclass(kw_only=True)
class ExportContext:
    source: ModelSource
    module: object  # the torch module, or None for an ONNX file
    preprocess: Preprocess
    class_names: tuple
    eval_set: ImageSet
    eval_inputs: np.ndarray  # normalised float32 NCHW
    reference: np.ndarray  # the reference model's outputs on eval_inputs
    reference_name: str
    calibration: np.ndarray
    selection: np.ndarray
    spec: ExportSpec
    fp32_onnx: Path  # the reference graph every other artifact is made from
    progress: Progress = field(default_factory=disabled, repr=False)  # bars for the stages that iterate
    tflite_worker: object = None  # the TFLite branch running beside the ONNX stages (`tflite.worker`), if it is
    _fp32_layers: Optional[Dict[str, str]] = field(default=None, repr=False)

    def fp32_layers(self) -> Dict[str, str]:
        """The reference graph's ONNX node name -> torch module path, read once for every writer."""
        if self._fp32_layers is None:
            self._fp32_layers = layer_map(self.fp32_onnx)
        return self._fp32_layers

    def threads(self) -> int:
        """Intra-op threads for the host's runtimes now: one while the TFLite worker runs beside them (it keeps a
        core busy, and two threads sharing one free core wait on each other at every op), else every core (0)."""
        return 1 if self.tflite_worker is not None and self.tflite_worker.running() else 0

    def check(self, logits: np.ndarray) -> Agreement:
        return compare(logits, self.reference, self.eval_set.labels, self.reference_name)
