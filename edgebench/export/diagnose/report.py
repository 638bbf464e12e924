"""What a diagnosis found: the first ONNX node whose output an artifact does not reproduce, or agreement."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None  # JSON has no NaN
    return value


@dataclass(frozen=True, kw_only=True)
class Divergence:
    """The first node (in topological order) whose output the artifact departs from, with nothing after it
    agreeing again."""

    node: str  # ONNX node name
    op_type: str
    output: str  # the node's output tensor that departs
    source_layer: Optional[str]  # torch module path recorded by the exporter, when there is one
    max_abs_diff: float  # against the closest artifact tensor of a compatible shape
    relative_diff: float  # max_abs_diff over max |reference tensor|
    compared: int  # reference tensors the artifact reproduced within tolerance

    def as_dict(self) -> dict:
        return {key: _rounded(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "Divergence":
        """Read back `as_dict()` (a manifest's record of a rejected artifact); null figures become nan."""
        def number(key: str) -> float:
            return math.nan if data.get(key) is None else float(data[key])

        return cls(node=str(data["node"]), op_type=str(data.get("op_type", "?")), output=str(data.get("output", "")),
                   source_layer=data.get("source_layer"), max_abs_diff=number("max_abs_diff"),
                   relative_diff=number("relative_diff"), compared=int(data.get("compared") or 0))

    def describe(self) -> str:
        layer = f" from layer {self.source_layer}" if self.source_layer else ""
        return f"node {self.node} ({self.op_type}){layer}, relative diff {self.relative_diff:.3g}"


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The whole comparison of one artifact with its fp32 ONNX model."""

    artifact: str
    precision: str  # fp32, fp16, dynamic or int8, as read from the artifact
    tolerance: float
    images: int
    candidates: int  # reference tensors that had an artifact tensor of a compatible shape
    matched: int  # of those, reproduced within tolerance
    max_matched_relative_diff: float  # the largest relative diff among the matched tensors
    output_relative_diff: Optional[float]  # the model output's, when the artifact has one of its shape
    divergence: Optional[Divergence]

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def as_dict(self) -> dict:
        out = {key: _rounded(value) for key, value in asdict(self).items() if key != "divergence"}
        out["divergence"] = self.divergence.as_dict() if self.divergence else None
        return out

    def describe(self) -> str:
        if self.divergence is None:
            return (f"ok (max relative diff {self.max_matched_relative_diff:.3g} over {self.matched} matched "
                    f"tensors)")
        return f"first divergence: {self.divergence.describe()}"
