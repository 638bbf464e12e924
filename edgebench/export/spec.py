"""Typed export settings: formats, precisions and the quantization spec."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Optional, Tuple

from edgebench.errors import EdgebenchError


class Format(str, Enum):
    ONNX = "onnx"
    TFLITE = "tflite"


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class Layout(str, Enum):
    NCHW = "NCHW"
    NHWC = "NHWC"


CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# ONNX Runtime int8 configurations tried by `auto`: (name, activation type, reduce_range)
QUANT_CONFIGS = {
    "u8s8-rr": ("uint8", True),     # 7-bit weights: no saturation in AVX2 int8 kernels without VNNI
    "u8s8": ("uint8", False),
    "s8s8": ("int8", False),
}


@dataclass(frozen=True)
class QuantSpec:
    calibration_size: int = 256
    method: str = "minmax"
    configs: Tuple[str, ...] = ("u8s8-rr", "u8s8")  # the best by measured top-1 agreement wins
    per_channel: bool = True
    selection_size: int = 128

    def __post_init__(self):
        if self.method not in CALIBRATION_METHODS:
            raise EdgebenchError(f"unknown calibration method '{self.method}': choose from "
                                 f"{', '.join(CALIBRATION_METHODS)}")
        for name in self.configs:
            if name not in QUANT_CONFIGS:
                raise EdgebenchError(f"unknown int8 configuration '{name}': choose from "
                                     f"{', '.join(QUANT_CONFIGS)} or auto")
        if self.calibration_size < 1:
            raise EdgebenchError(f"calibration size {self.calibration_size} is out of range: give at least 1")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["configs"] = list(self.configs)
        return out


@dataclass(frozen=True)
class ExportSpec:
    precisions: Tuple[Precision, ...] = (Precision.FP32,)
    formats: Tuple[Format, ...] = (Format.ONNX,)
    quant: QuantSpec = QuantSpec()
    eval_size: int = 500
    min_int8_agreement: float = 0.9
    opset: int = 18
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.min_int8_agreement <= 1.0:
            raise EdgebenchError(f"minimum int8 agreement {self.min_int8_agreement} is out of range: valid "
                                 "values are in [0, 1]")
        if self.eval_size < 1:
            raise EdgebenchError(f"eval size {self.eval_size} is out of range: give at least 1")
        if self.opset < 18:
            raise EdgebenchError(f"opset {self.opset} is out of range: the exporter needs 18 or newer")


def parse_enum(kind, value: str):
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise EdgebenchError(f"unknown {kind.__name__.lower()} '{value}': choose from {choices}") from None


def resolve_configs(value: Optional[str]) -> Tuple[str, ...]:
    if value in (None, "auto"):
        return QuantSpec().configs
    return tuple(part.strip() for part in value.split(",") if part.strip())
