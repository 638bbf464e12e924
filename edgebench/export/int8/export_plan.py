"""The int8 plan of one export: the budget search run once on the fp32 ONNX graph, before any artifact is written,
and handed to each format's int8 writer as an argument."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Optional

from edgebench.errors import EdgebenchError
from edgebench.export.context import ExportContext
from edgebench.export.int8.plan import MixedPlan
from edgebench.export.int8.quantizer import CALIBRATION_BATCH
from edgebench.export.int8.search import EvalSet, mixed_int8
from edgebench.export.onnx_float import onnx_io
from edgebench.export.spec import Precision

Log = Callable[[str], None]


def int8_plan(context: ExportContext, work: Path, log: Log) -> Optional[MixedPlan]:
    """None without a budget or without an int8 artifact to write; else the plan (a refusal or an error that
    stopped the search included: each int8 writer then refuses in turn)."""
    spec = context.spec
    max_drop_pp = spec.quant.max_drop_pp
    if max_drop_pp is None or not any(Precision.INT8 in spec.precisions_for(fmt) for fmt in spec.formats):
        return None
    model_input = onnx_io(context.fp32_onnx)[0]
    fixed_batch = model_input["shape"][0] if model_input["shape"][0] > 0 else None
    log(f"planning int8 layers on the ONNX graph ({len(context.calibration)} calibration images, budget "
        f"{max_drop_pp:g} pp) ...")
    with tempfile.TemporaryDirectory(prefix="edgebench-int8-", dir=work) as tmp:
        try:
            return mixed_int8(
                context.fp32_onnx, calibration=context.calibration,
                eval_set=EvalSet(inputs=context.eval_inputs, labels=context.eval_set.labels), spec=spec.quant,
                max_drop_pp=max_drop_pp, input_name=model_input["name"], batch_size=fixed_batch or CALIBRATION_BATCH,
                work=Path(tmp), torch_layers=context.fp32_layers(), log=log, progress=context.progress)
        except Exception as exc:  # quantizers and runtimes raise many types: each costs the int8 artifacts only
            reason = str(exc) if isinstance(exc, EdgebenchError) else \
                f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:240]}"
            log(f"  int8 search: {reason}")
            return MixedPlan(max_drop_pp=max_drop_pp, float_layers=(), ranking=(), error=reason)
