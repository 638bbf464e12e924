"""Static int8 ONNX with ONNX Runtime's tools: pre-process, calibrate on real images, QDQ per channel.

Which activation type and weight range work best depends on the model and the CPU (uint8 activations with
full-range int8 weights saturate in AVX2 kernels without VNNI), so each configuration in the spec is
quantized in turn (calibrated once, the ranges reused: `edgebench.export.int8.quantizer`), stopping early once
one agrees well enough, and the one with the best measured top-1 agreement with fp32 on held-out images is kept.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from edgebench.export.int8.quantizer import CachedQuantizer
from edgebench.export.spec import QUANT_CONFIGS, QuantSpec
from edgebench.export.verify import onnx_logits, top1
from edgebench.progress import Progress, disabled


@dataclass(frozen=True, kw_only=True)
class Int8Candidate:
    config: str
    path: Path
    top1_agreement: float
    max_abs_diff: float


def preprocess_for_quantization(source: Path, target: Path) -> bool:
    """Shape inference and graph optimisation before quantization; returns False when it could not run.

    ONNX's own shape inference first; ONNX Runtime's symbolic shape inference only where that leaves a tensor
    without a type and rank (dynamic shapes it cannot follow). On ResNet-101 the first pass alone took 1.3 s
    against 3.9 s with the symbolic one, and the int8 model quantized from either is the same."""
    # onnxruntime: heavy, loaded only when this runs
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
        if _shapes_known(target):
            return True
        quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
        return True
    except Exception:  # symbolic shape inference fails on some user graphs; quantizing the raw graph still works
        shutil.copyfile(source, target)
        return False


def _shapes_known(path: Path) -> bool:
    """Every node output has a type and a rank (a graph output, or in the graph's value_info)."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built

    graph = onnx.load(str(path), load_external_data=False).graph
    typed = {value.name for value in list(graph.value_info) + list(graph.output)
             if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type
             and value.type.tensor_type.HasField("shape")}
    return all(name in typed for node in graph.node for name in node.output if name)


def quantize(fp32_path: Path, out_path: Path, calibration: np.ndarray, selection: np.ndarray,
             spec: QuantSpec, input_name: str, batch_size: int,
             log: Callable[[str], None] = print, progress: Optional[Progress] = None,
             threads: Callable[[], int] = lambda: 0) -> dict:
    """Write the best int8 model to `out_path`; return what was chosen and why. Each configuration tried is a
    `progress` stage ("int8 trial: CONFIG"), the calibration a bar. `threads()`: ONNX Runtime's intra-op threads
    for the session about to start (0: every core)."""
    progress = progress if progress is not None else disabled()
    candidates: List[Int8Candidate] = []
    with tempfile.TemporaryDirectory(prefix="edgebench-int8-") as tmp:
        work = Path(tmp)
        prepared = work / "prepared.onnx"
        preprocessed = preprocess_for_quantization(fp32_path, prepared)
        reference = onnx_logits(fp32_path, selection, threads=threads())
        quantizer = CachedQuantizer(prepared, calibration, input_name, batch_size, work, progress, threads)
        for config in spec.configs:  # once
            with progress.stage(f"int8 trial: {config}"):
                target = quantizer.write(work / f"{config}.onnx", method=spec.method, per_channel=spec.per_channel,
                                         config=config)
                logits = onnx_logits(target, selection, threads=threads())
            candidate = Int8Candidate(config=config, path=target,
                                      top1_agreement=top1(logits, reference.argmax(1)),
                                      max_abs_diff=float(np.abs(logits - reference).max()))
            log(f"  int8 {config}: top-1 agreement {100 * candidate.top1_agreement:.2f} % on "
                f"{len(selection)} held-out images")
            candidates.append(candidate)
            if candidate.top1_agreement >= spec.accept_agreement:
                break
        best = max(candidates, key=lambda c: (c.top1_agreement, -c.max_abs_diff))
        shutil.copyfile(best.path, out_path)
    activation, reduce_range = QUANT_CONFIGS[best.config]
    return {
        "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "config": best.config,
        "activation_type": activation, "weight_type": "int8", "reduce_range": reduce_range,
        "per_channel": spec.per_channel, "calibration_method": spec.method,
        "calibration_images": int(len(calibration)), "pre_processed": preprocessed,
        "selection": [{"config": c.config, "top1_agreement": round(c.top1_agreement, 6),
                       "max_abs_diff": round(c.max_abs_diff, 6)} for c in candidates],
        "accept_agreement": spec.accept_agreement,
    }
