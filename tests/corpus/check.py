"""Export a corpus model three ways, convert each ONNX file with TfliteConverter, compare with ONNX Runtime.

Routes: `python` is edgebench's own export (`export_onnx`: dynamo, opset 18, dynamic batch) converted as
edgebench converts its own graphs (no onnxsim); `dynamo` and `legacy` are files as users bring them, from
`torch.onnx.export` (dynamo opset 18 with a fixed batch of 1; legacy TorchScript exporter at opsets 13-17 with a
dynamic batch), converted with onnxsim as a user's file is. The reference is ONNX Runtime on the same file.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tests.corpus import CORPUS, INPUT_SHAPE, build

ROUTES = ("python", "legacy", "dynamo")
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def legacy_opset(name: str) -> int:
    """Spread the legacy exporter's opsets 13-17 over the corpus, one per model, always the same."""
    return 13 + list(CORPUS).index(name) % 5


@dataclass(frozen=True, kw_only=True)
class ConversionCheck:
    model: str
    route: str
    opset: int
    precision: str
    converted: bool
    seconds: float
    max_abs_diff: Optional[float] = None
    reference_scale: Optional[float] = None
    top1_agreement: Optional[float] = None
    fixes: Dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def relative_diff(self) -> Optional[float]:
        if self.max_abs_diff is None:
            return None
        return self.max_abs_diff / max(self.reference_scale, 1e-12)


def inputs(count: int, seed: int = 0) -> np.ndarray:
    """Normalised random images: the scale a real, normalised input has."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, *INPUT_SHAPE[1:])).astype(np.float32)


def export(name: str, route: str, path: Path) -> int:
    """Write the model's ONNX file by `route`; returns the opset."""
    import torch

    from edgebench.export.onnx_float import export_onnx

    module = build(name)
    if route == "python":
        export_onnx(module, INPUT_SHAPE, path)
        return 18
    example = (torch.zeros(*INPUT_SHAPE),)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        if route == "dynamo":
            torch.onnx.export(module, example, str(path), dynamo=True, opset_version=18, external_data=False,
                              input_names=["input"], output_names=["logits"])
            return 18
        if route == "legacy":
            opset = legacy_opset(name)
            torch.onnx.export(module, example, str(path), dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            _explicit_pads(path)
            return opset
    raise ValueError(f"unknown route {route!r}; valid: {', '.join(ROUTES)}")


def _explicit_pads(path: Path) -> None:
    """What `edgebench export` does to a user's file before anything runs it: SAME padding made explicit (ONNX
    Runtime refuses it with dilation, the reference here included)."""
    import onnx

    from edgebench.export.onnx_fixes import explicit_same_pads

    model = onnx.load(str(path))
    if explicit_same_pads(model):
        onnx.save(model, str(path))


def check(name: str, route: str, precisions: Sequence, work: Path, count: int = 32,
          layout=None) -> Tuple[ConversionCheck, ...]:
    """Convert `name` exported by `route` to every precision; one ConversionCheck per precision."""
    from edgebench.errors import EdgebenchError
    from edgebench.export.spec import Layout
    from edgebench.export.tflite.convert import TfliteConverter, tflite_logits
    from edgebench.export.verify import onnx_logits

    layout = layout or Layout.NHWC
    work.mkdir(parents=True, exist_ok=True)
    onnx_path = work / f"{name}.{route}.onnx"
    try:
        opset = export(name, route, onnx_path)
    except EdgebenchError as exc:  # the exporter refused the model: nothing to convert
        return tuple(ConversionCheck(model=name, route=route, opset=18, precision=p.value, converted=False,
                                     seconds=0.0, error=str(exc)) for p in precisions)
    images = inputs(count)
    reference = onnx_logits(onnx_path, images)
    scale = float(np.abs(reference).max())
    tick = time.perf_counter()
    try:
        converter = TfliteConverter(onnx_path, work / "tflite", layout, inputs(16, seed=1), MEAN, STD,
                                    simplify=route != "python")
    except EdgebenchError as exc:
        return tuple(ConversionCheck(model=name, route=route, opset=opset, precision=p.value, converted=False,
                                     seconds=time.perf_counter() - tick, error=str(exc)) for p in precisions)
    graph_seconds = time.perf_counter() - tick
    results = []
    try:
        for index, precision in enumerate(precisions):
            tick = time.perf_counter()
            path = work / f"{name}.{route}.{precision.value}.tflite"
            try:
                path.write_bytes(converter.convert(precision))
            except EdgebenchError as exc:
                results.append(ConversionCheck(model=name, route=route, opset=opset, precision=precision.value,
                                               converted=False, seconds=time.perf_counter() - tick,
                                               fixes=dict(converter.fixes), error=str(exc)))
                continue
            seconds = time.perf_counter() - tick + (graph_seconds if index == 0 else 0.0)
            logits = tflite_logits(path, images, layout, threads=1)
            results.append(ConversionCheck(
                model=name, route=route, opset=opset, precision=precision.value, converted=True, seconds=seconds,
                max_abs_diff=float(np.abs(logits.astype(np.float64) - reference).max()), reference_scale=scale,
                top1_agreement=float((logits.argmax(1) == reference.argmax(1)).mean()),
                fixes=dict(converter.fixes)))
    finally:
        converter.close()
    return tuple(results)
