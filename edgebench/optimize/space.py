"""The search space as data: candidates (format x precision) and the runtime settings each can run with.

A candidate is one artifact to export; a configuration is a candidate with one runtime setting (threads, XNNPACK,
ONNX Runtime graph optimisation), the agent's `Setting`. `int8-mix` is int8 with the fewest layers kept in float
within `--max-drop` (the export's int8 budget search); plain `int8` quantizes every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Tuple

from device_agent.configs import GRAPH_OPTIMIZATIONS, Setting
from edgebench.errors import EdgebenchError
from edgebench.export.spec import FORMATS, Format, Precision

MIX = "int8-mix"
PRECISIONS = ("fp32", "fp16", "dynamic", "int8", MIX)
OBJECTIVES = ("latency", "size", "memory")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    format: str  # "onnx" or "tflite"
    precision: str  # one of PRECISIONS
    source: str = ""  # the name prefix of a source other than MODEL itself (a pruned model, a study variant)
    of_reference: bool = True  # made from the reference source (MODEL, or the study's baseline variant)

    @property
    def name(self) -> str:
        return f"{self.source}-{self.format}-{self.precision}" if self.source else f"{self.format}-{self.precision}"

    @property
    def export_precision(self) -> str:
        return "int8" if self.precision == MIX else self.precision

    @property
    def is_reference(self) -> bool:
        """The reference source's fp32 ONNX: every other artifact is measured against it."""
        return self.of_reference and self.format == "onnx" and self.precision == "fp32"


@dataclass(frozen=True, kw_only=True)
class Space:
    formats: Tuple[str, ...] = ("onnx",)
    precisions: Tuple[str, ...] = PRECISIONS
    threads: Tuple[int, ...] = (1,)
    xnnpack: Tuple[bool, ...] = (True, False)
    graph_optimizations: Tuple[str, ...] = ("all", "basic", "disable")

    def __post_init__(self):
        for fmt in self.formats:
            if fmt not in {f.value for f in Format}:
                raise EdgebenchError(f"unknown format '{fmt}': choose from {', '.join(f.value for f in Format)}")
        for precision in self.precisions:
            if precision not in PRECISIONS:
                raise EdgebenchError(f"unknown precision '{precision}': choose from {', '.join(PRECISIONS)}")
        for level in self.graph_optimizations:
            if level not in GRAPH_OPTIMIZATIONS:
                raise EdgebenchError(f"unknown graph optimisation '{level}': choose from "
                                     f"{', '.join(GRAPH_OPTIMIZATIONS)}")
        if not self.threads or any(t < 1 for t in self.threads):
            raise EdgebenchError(f"--threads {','.join(map(str, self.threads))} is out of range: give 1 or more")

    def candidates(self, source: str = "", of_reference: bool = True) -> List[Candidate]:
        """Every format x precision the format supports; the fp32 ONNX always, first. `source` prefixes the names
        of a source other than MODEL itself."""
        found = [Candidate(format="onnx", precision="fp32", source=source, of_reference=of_reference)]
        for fmt in self.formats:
            supported = {p.value for p in FORMATS[Format(fmt)].precisions} | {MIX}
            for precision in self.precisions:
                candidate = Candidate(format=fmt, precision=precision, source=source, of_reference=of_reference)
                if precision in supported and candidate not in found:
                    found.append(candidate)
        return found

    def settings_for(self, fmt: str) -> List[Setting]:
        """Every runtime setting of the sweep that applies to the format."""
        if fmt == "onnx":
            return [Setting(threads=t, ort_graph_optimization=o, ort_execution_mode="sequential")
                    for t in self.threads for o in self.graph_optimizations]
        return [Setting(threads=t, xnnpack=x) for t in self.threads for x in self.xnnpack]

    def screening_settings(self, fmt: str) -> List[Setting]:
        """The screening's settings: each runtime's default at the fewest and at the most threads (the setting
        that changes a ranking most: small models often run best on one thread, large ones on all)."""
        default = self.screening_setting(fmt)
        return [replace(default, threads=t) for t in sorted({min(self.threads), max(self.threads)})]

    def screening_setting(self, fmt: str) -> Setting:
        """What the screening measures every candidate with: the most threads, each runtime's default."""
        if fmt == "onnx":
            return Setting(threads=max(self.threads), ort_graph_optimization="all", ort_execution_mode="sequential")
        return Setting(threads=max(self.threads), xnnpack=True)

    def to_json(self) -> Dict:
        return {"formats": list(self.formats), "precisions": list(self.precisions), "threads": list(self.threads),
                "xnnpack": list(self.xnnpack), "graph_optimizations": list(self.graph_optimizations)}


def export_groups(candidates: List[Candidate]) -> List[Tuple[str, bool, Tuple[str, ...]]]:
    """The exports that make these candidates, one bundle each: (format, mixed int8?, precisions)."""
    groups = []
    for fmt in dict.fromkeys(c.format for c in candidates):
        plain = tuple(c.precision for c in candidates if c.format == fmt and c.precision != MIX)
        if plain:
            groups.append((fmt, False, plain))
        if any(c.format == fmt and c.precision == MIX for c in candidates):
            groups.append((fmt, True, (Precision.INT8.value,)))
    return groups


def setting_key(setting: Setting) -> Tuple:
    return (setting.threads, setting.xnnpack, setting.ort_graph_optimization, setting.ort_execution_mode)
