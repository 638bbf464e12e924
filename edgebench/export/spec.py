"""Typed export settings: formats, precisions and the quantization spec."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Optional, Tuple

from device_agent.formats import FORMATS as CONTRACT
from device_agent.formats import FormatRow
from edgebench.errors import EdgebenchError


# The export formats: one per row of the contract table that host and agent share.
Format = Enum("Format", [(name.upper(), name) for name in CONTRACT], type=str, module=__name__, qualname="Format")


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class Layout(str, Enum):
    NCHW = "NCHW"
    NHWC = "NHWC"


@dataclass(frozen=True, kw_only=True)
class Writer:
    """The host's side of a format: who writes it and what it needs on the host."""

    path: str  # "module:Class" of its ArtifactWriter, imported only when the format is exported
    extra: str  # the pip extra that provides it
    requires: Tuple[str, ...] = ()  # modules the writer imports beyond the host extra
    install: str = ""  # what to run when they are missing


# Each format's writer: with the contract table's row, the whole of a format on the host.
WRITERS = {
    "onnx": Writer(path="edgebench.export.writers.onnx:OnnxWriter", extra="host"),
    "tflite": Writer(path="edgebench.export.writers.tflite:TfliteWriter", extra="convert",
                     requires=("onnx2tf", "tensorflow", "tf_keras"),
                     install="pip install 'edgebench[convert]' and pip install --no-deps -r requirements/nodeps.txt"),
}


@dataclass(frozen=True, kw_only=True)
class FormatInfo:
    suffix: str
    precisions: Tuple[Precision, ...]
    layouts: Tuple[Layout, ...]
    extra: str  # the pip extra that provides it
    writer: str  # "module:Class" of its ArtifactWriter, imported only when the format is exported
    requires: Tuple[str, ...]
    install: str
    graph: str  # what the file holds: "onnx" or "tflite" (the contract table's `graph`)


def _info(row: FormatRow) -> FormatInfo:
    writer = WRITERS[row.name]
    return FormatInfo(suffix=row.suffix, precisions=tuple(Precision(p) for p in row.precisions),
                      layouts=tuple(Layout(layout) for layout in row.layouts), extra=writer.extra,
                      writer=writer.path, requires=writer.requires, install=writer.install, graph=row.graph)


# The table of export formats: what each writes, which precisions it supports and who writes it.
FORMATS = {fmt: _info(CONTRACT[fmt.value]) for fmt in Format}

FLOAT_PRECISIONS = (Precision.FP32, Precision.FP16)


@dataclass(frozen=True, kw_only=True)
class GateSpec:
    """What an artifact must show on the eval set to be bundled, by precision.

    Float artifacts must be close to the reference: max |diff| / max |reference| within a tolerance (fp16's
    weights are rounded to 11 bits, so its bound is looser), and top-1 agreement. Quantized artifacts (int8,
    dynamic range) are judged by agreement and, for trained models with labels, by the accuracy drop in points.
    """

    fp32_tolerance: float = 1e-3
    fp16_tolerance: float = 2e-2
    min_float_agreement: float = 0.99
    min_quant_agreement: float = 0.9
    max_quant_drop: Optional[float] = 3.0  # accuracy points against the reference; None: not judged
    max_int8_drop: Optional[float] = None  # the --max-drop budget: replaces max_quant_drop for int8 artifacts

    def __post_init__(self):
        for name in ("fp32_tolerance", "fp16_tolerance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise EdgebenchError(f"{name.replace('_', ' ')} {value} is out of range: give a number above 0")
        for name in ("min_float_agreement", "min_quant_agreement"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise EdgebenchError(f"{name.replace('_', ' ')} {value} is out of range: valid values are in [0, 1]")
        if self.max_quant_drop is not None and not (math.isfinite(self.max_quant_drop) and self.max_quant_drop >= 0):
            raise EdgebenchError(f"maximum int8 accuracy drop {self.max_quant_drop} is out of range: give 0 or "
                                 "more accuracy points")
        if self.max_int8_drop is not None:
            check_max_drop(self.max_int8_drop)

    def int8_drop_bound(self, precision: "Precision") -> Optional[float]:
        """The accuracy points a quantized artifact of `precision` may lose."""
        if precision == Precision.INT8 and self.max_int8_drop is not None:
            return self.max_int8_drop
        return self.max_quant_drop

    def tolerance(self, precision: "Precision") -> Optional[float]:
        return {Precision.FP32: self.fp32_tolerance, Precision.FP16: self.fp16_tolerance}.get(precision)

    def as_dict(self) -> dict:
        return asdict(self)


def check_max_drop(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise EdgebenchError(f"--max-drop {value} is out of range: give the accuracy points int8 may lose, a finite "
                             "number >= 0 (e.g. 1; 0: no loss at all)")
    return float(value)


def available(fmt: Format) -> bool:
    """Whether this host has what the format's writer imports."""
    return all(importlib.util.find_spec(m) is not None for m in FORMATS[fmt].requires)


def tflite_available() -> bool:
    return available(Format.TFLITE)


def check_available(formats) -> None:
    """Refuse, before any long work, a format whose writer cannot run here."""
    for fmt in formats:
        if not available(fmt):
            raise EdgebenchError(f"{fmt.value} export needs {', '.join(FORMATS[fmt].requires)}: "
                                 f"{FORMATS[fmt].install}, or export with --format onnx")


def default_formats() -> Tuple[Format, ...]:
    """Every format this host can write, in the table's order."""
    return tuple(fmt for fmt in Format if available(fmt))


CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# ONNX Runtime int8 configurations tried by `auto`: (name, activation type, reduce_range)
QUANT_CONFIGS = {
    "u8s8-rr": ("uint8", True),     # 7-bit weights: no saturation in AVX2 int8 kernels without VNNI
    "u8s8": ("uint8", False),
    "s8s8": ("int8", False),
}


@dataclass(frozen=True, kw_only=True)
class QuantSpec:
    calibration_size: int = 256
    method: str = "minmax"
    configs: Tuple[str, ...] = ("u8s8-rr", "u8s8")  # the best by measured top-1 agreement wins
    per_channel: bool = True
    selection_size: int = 128
    # Stop trying configurations once one agrees this well with fp32 (each try re-calibrates the model).
    accept_agreement: float = 0.995
    # TFLite's calibrator runs the float graph with statistics hooks, ~100x slower than inference: fewer images.
    tflite_calibration_size: int = 100
    # --max-drop: the accuracy budget (points on the eval set against fp32) of the mixed-precision int8 search;
    # None: int8 as above, every layer quantized
    max_drop_pp: Optional[float] = None

    def __post_init__(self):
        if self.max_drop_pp is not None:
            check_max_drop(self.max_drop_pp)
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


@dataclass(frozen=True, kw_only=True)
class ExportSpec:
    """`precisions` are what each format writes where it supports them; the fp32 ONNX is always written (it
    is the reference and the source of every other artifact)."""

    precisions: Tuple[Precision, ...] = (Precision.FP32,)
    formats: Tuple[Format, ...] = (Format.ONNX,)
    layout: Layout = Layout.NHWC  # TFLite input layout; ONNX stays NCHW
    quant: QuantSpec = QuantSpec()
    gate: GateSpec = field(default_factory=GateSpec)
    eval_size: int = 500
    opset: int = 18
    seed: int = 0

    def layout_for(self, fmt: Format) -> Layout:
        """The input layout of `fmt`'s artifacts: `layout` where the format offers it, else its only one."""
        return self.layout if self.layout in FORMATS[fmt].layouts else FORMATS[fmt].layouts[0]

    def precisions_for(self, fmt: Format) -> Tuple[Precision, ...]:
        if fmt == Format.ONNX and fmt not in self.formats:
            return (Precision.FP32,)  # the reference every other artifact is made from, written in any case
        wanted = tuple(p for p in self.precisions if p in FORMATS[fmt].precisions)
        if fmt == Format.ONNX and Precision.FP32 not in wanted:
            wanted = (Precision.FP32,) + wanted
        return wanted

    def __post_init__(self):
        if self.eval_size < 1:
            raise EdgebenchError(f"eval size {self.eval_size} is out of range: give at least 1")
        for precision in self.precisions:
            if not any(precision in FORMATS[f].precisions for f in self.formats):
                raise EdgebenchError(f"precision '{precision.value}' is not supported by "
                                     f"{', '.join(f.value for f in self.formats)}: choose from "
                                     f"{', '.join(sorted({p.value for f in self.formats for p in FORMATS[f].precisions}))}")
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
