"""The mixed-precision decision handed from the ONNX int8 writer to the TFLite one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple


class Status:
    FULL_INT8 = "full-int8"
    MIXED = "mixed"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class MixedPlan:
    max_drop_pp: float
    float_layers: Tuple[str, ...]  # fp32 ONNX node names kept in float, in the order they were chosen
    ranking: Tuple[str, ...]  # every quantizable node, most sensitive first
    record: Dict = field(default_factory=dict)  # the manifest's "mixed_precision" block for the ONNX artifact

    @property
    def status(self) -> str:
        return self.record.get("status", Status.MIXED if self.float_layers else Status.FULL_INT8)
