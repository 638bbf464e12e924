"""The contract between host and device: every artifact format and the runtime that runs it.

One table that both sides read. The agent cannot import edgebench, so it lives here, standard library only; the
host's `edgebench/export/spec.py` builds its `Format` enum and `FORMATS` table from it (adding its writer and
pip extra beside each row), and both JSON schemas take their format enums from it when loaded
(`device_agent/schema.py`). Adding a format: a row in `FORMATS` (and one in `RUNTIMES` if no runtime here runs
it), its writer in `edgebench/export/spec.py` and a writer module, a backend module if the runtime is new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class Runtime:
    """An agent backend: the class that runs artifacts, the modules that provide it and how to install it."""

    name: str  # the backend's name: `--backend`, a run's `backend`
    backend: str  # "module:Class" of its `device_agent.backends.base.Backend`, imported only when used
    modules: Tuple[str, ...]  # modules that provide it, in order of preference; device facts record their versions
    distributions: Tuple[Tuple[str, Tuple[str, ...]], ...]  # module -> pip distributions that install it
    install: str  # the command that installs it on a device
    fallback_modules: Tuple[str, ...] = ()  # also provide it, but too heavy to import for a version (tensorflow)
    # its sweep options: (field of `configs.Setting`, keyword of the backend's `load`)
    options: Tuple[Tuple[str, str], ...] = ()
    profiler: Optional[str] = None  # "module:function" of its per-layer profile; None: it cannot profile


@dataclass(frozen=True)
class FormatRow:
    """An artifact format: its file, what it can hold and which runtime runs it."""

    name: str  # the manifest's and the result's `format`
    suffix: str  # the artifact file's suffix
    precisions: Tuple[str, ...]
    layouts: Tuple[str, ...]  # input layouts its files can have; the first is the one without a choice
    runtime: str  # the name of its row in RUNTIMES
    graph: str  # what the file holds: "onnx" (an ONNX graph: layer map, ONNX diagnosis) or "tflite"


RUNTIMES: Dict[str, Runtime] = {
    "onnxruntime": Runtime(
        name="onnxruntime", backend="device_agent.backends.onnxruntime_backend:OnnxRuntimeBackend",
        modules=("onnxruntime",),
        distributions=(("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino")),),
        install="pip install onnxruntime", options=(("ort_graph_optimization", "graph_optimization"), ("ort_execution_mode", "execution_mode")),
        profiler="device_agent.profiling:onnx_profile"),
    "tflite": Runtime(
        name="tflite", backend="device_agent.backends.tflite_backend:TfliteBackend",
        modules=("ai_edge_litert", "tflite_runtime"),
        distributions=(("ai_edge_litert", ("ai-edge-litert", "ai-edge-litert-nightly")),
                       ("tflite_runtime", ("tflite-runtime",))),
        install="pip install ai-edge-litert", fallback_modules=("tensorflow",), options=(("xnnpack", "xnnpack"),),
        profiler="device_agent.profiling:tflite_profile"),
}

# In order of preference: the reference within a model is its fp32 artifact of the first format it has.
FORMATS: Dict[str, FormatRow] = {
    "onnx": FormatRow(name="onnx", suffix=".onnx", precisions=("fp32", "int8"), layouts=("NCHW",),
                      runtime="onnxruntime", graph="onnx"),
    "tflite": FormatRow(name="tflite", suffix=".tflite", precisions=("fp32", "fp16", "dynamic", "int8"),
                        layouts=("NHWC", "NCHW"), runtime="tflite", graph="tflite"),
}

# Not a format's runtime: runs no model, times the harness itself (`--backend null`).
NULL_BACKEND = "device_agent.backends.null_backend:NullBackend"


def runtime_of(format_name: str) -> Runtime:
    return RUNTIMES[FORMATS[format_name].runtime]


def runtime_modules() -> Tuple[str, ...]:
    """Every module that provides a runtime and whose version device facts record, in table order, once each."""
    return tuple(dict.fromkeys(m for runtime in RUNTIMES.values() for m in runtime.modules))


def probe_modules() -> Tuple[str, ...]:
    """Every module that can provide a runtime, the heavy fallbacks included: what a device is checked for."""
    return tuple(dict.fromkeys(m for runtime in RUNTIMES.values() for m in runtime.modules + runtime.fallback_modules))


def distributions() -> Dict[str, Tuple[str, ...]]:
    return {module: names for runtime in RUNTIMES.values() for module, names in runtime.distributions}


def format_for_path(path: str) -> Optional[FormatRow]:
    """The format whose suffix `path` ends with (the longest such suffix), or None."""
    matches = [row for row in FORMATS.values() if str(path).endswith(row.suffix)]
    return max(matches, key=lambda row: len(row.suffix)) if matches else None


def suffixes() -> Tuple[str, ...]:
    return tuple(row.suffix for row in FORMATS.values())
