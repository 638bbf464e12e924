"""The int8 plan: what the one budget search decided on the ONNX graph, handed to every format's int8 writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from edgebench.errors import EdgebenchError
from edgebench.export.int8.budget import Status

__all__ = ["MixedPlan", "MixedRefused", "Status"]


@dataclass(frozen=True, kw_only=True)
class MixedPlan:
    max_drop_pp: float
    float_layers: Tuple[str, ...]  # fp32 ONNX node names kept in float, in the order they were chosen
    ranking: Tuple[str, ...]  # every quantized node, the order the search tries them in
    record: Dict = field(default_factory=dict)  # the manifest's "mixed_precision" block for the ONNX artifact
    quantization: Dict = field(default_factory=dict)  # the int8 ONNX artifact's whole quantization block
    onnx_model: Optional[bytes] = field(default=None, repr=False)  # the chosen int8 ONNX file; None if refused
    refusal: Optional[str] = None  # why the ONNX int8 artifact cannot meet the budget (the record says more)
    error: Optional[str] = None  # why the search itself could not run: no int8 artifact can follow it

    @property
    def status(self) -> str:
        return self.record.get("status", Status.MIXED if self.float_layers else Status.FULL_INT8)


class MixedRefused(EdgebenchError):
    """No int8 model meets the budget: the one-line reason, the record of what was measured and the plan."""

    def __init__(self, message: str, quantization: Dict, plan: Optional[MixedPlan] = None):
        super().__init__(message)
        self.quantization = quantization
        self.plan = plan  # status "refused": other formats should not try either
