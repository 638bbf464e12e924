"""TFLite through ai-edge-litert, else tflite_runtime, else tensorflow.lite; XNNPACK with N threads."""

from __future__ import annotations

import importlib
from typing import List, Optional

import numpy as np

from device_agent.backends.base import Backend, first_line
from device_agent.errors import AgentError
from device_agent.formats import RUNTIMES


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        import ai_edge_litert

        return Interpreter, "ai-edge-litert " + getattr(ai_edge_litert, "__version__", "?")
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        import tflite_runtime

        return Interpreter, "tflite_runtime " + getattr(tflite_runtime, "__version__", "?")
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow " + tf.__version__
    except ImportError:
        raise AgentError(f"no TFLite interpreter is installed on this device: {RUNTIMES['tflite'].install}") from None


class TfliteBackend(Backend):
    name = "tflite"
    max_batch = 1

    def __init__(self):
        self.interpreter_class, self._version = _interpreter_class()
        self.interpreter = None
        self.delegate: Optional[str] = None

    def version(self) -> Optional[str]:
        return self._version

    def load(self, path: str, threads: int, xnnpack: bool = True) -> None:
        if not xnnpack:  # the built-in kernels alone, as TFLite's benchmark tool runs with --use_xnnpack=false
            try:
                self._open(path, threads, xnnpack=False)
            except AgentError:
                raise
            except Exception as exc:
                raise AgentError(f"the TFLite interpreter cannot load {path}: {first_line(exc)}") from None
            self.delegate = "none"
            return
        try:
            self._open(path, threads, xnnpack=True)
            self.delegate = "xnnpack"
        except Exception as exc:  # interpreters raise ValueError/RuntimeError for bad files
            if "XNNPACK" not in str(exc):
                raise AgentError(f"the TFLite interpreter cannot load {path}: {first_line(exc)}") from None
            # XNNPACK declines some graphs (it fails to prepare a node); the built-in kernels still run them,
            # as TFLite's benchmark tool does with --use_xnnpack=false. The result says which ran.
            try:
                self._open(path, threads, xnnpack=False)
            except Exception as retry:
                raise AgentError(f"the TFLite interpreter cannot load {path}: {first_line(retry)}") from None
            self.delegate = f"none (XNNPACK could not prepare the graph: {first_line(exc)})"

    def _open(self, path: str, threads: int, xnnpack: bool) -> None:
        options = {}
        if not xnnpack:
            resolver = getattr(importlib.import_module(self.interpreter_class.__module__), "OpResolverType", None)
            if resolver is None:
                raise AgentError("this TFLite interpreter cannot run without its default delegate")
            options["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.interpreter = self.interpreter_class(model_path=path, num_threads=threads or None, **options)
        self.interpreter.allocate_tensors()
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]

    def input_shape(self) -> List[int]:
        return [int(d) for d in self.input_detail["shape"]]

    def prepare(self, inputs: np.ndarray):
        dtype = self.input_detail["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = self.input_detail["quantization"]
            info = np.iinfo(dtype)
            return np.clip(np.round(inputs / scale + zero_point), info.min, info.max).astype(dtype)
        return inputs.astype(dtype)

    def invoke(self, prepared):
        self.interpreter.set_tensor(self.input_detail["index"], prepared)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_detail["index"])

    def finish(self, raw) -> np.ndarray:
        if np.issubdtype(raw.dtype, np.integer):
            scale, zero_point = self.output_detail["quantization"]
            return (raw.astype(np.float32) - zero_point) * np.float32(scale)
        return raw.astype(np.float32)

    def close(self) -> None:
        self.interpreter = None
