from __future__ import annotations

from typing import List, Optional

from device_agent.backends.base import Backend, first_line
from device_agent.errors import AgentError
from device_agent.formats import RUNTIMES


GRAPH_OPTIMIZATION_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                             "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}


def session_options(ort, threads: int, graph_optimization: str = "all", execution_mode: str = "sequential"):
    """The SessionOptions of a configuration (`ort` is the imported onnxruntime module). In parallel mode the
    independent branches share `threads` inter-op threads; in sequential mode there is one."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads if execution_mode == "parallel" else 1
    options.execution_mode = getattr(ort.ExecutionMode, EXECUTION_MODES[execution_mode])
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                               GRAPH_OPTIMIZATION_LEVELS[graph_optimization])
    options.log_severity_level = 3
    return options


def create_session(ort, model, threads: int = 0, graph_optimization: str = "all",
                   execution_mode: str = "sequential", log_level: int = 3, **options):
    """An ONNX Runtime session on the CPU with the agent's options: the one way host and agent open a model.
    `model`: a path or a serialized model; `options`: SessionOptions attributes set on top (profiling, a
    graph optimization level given as ONNX Runtime's own enum)."""
    settings = session_options(ort, threads, graph_optimization, execution_mode)
    settings.log_severity_level = log_level
    for name, value in options.items():
        setattr(settings, name, value)
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), settings,
                                providers=["CPUExecutionProvider"])


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self):
        try:
            import onnxruntime
        except ImportError:
            raise AgentError(f"onnxruntime is not installed on this device: {RUNTIMES['onnxruntime'].install}") from None
        self.ort = onnxruntime
        self.session = None

    def version(self) -> Optional[str]:
        return self.ort.__version__

    def load(self, path: str, threads: int, graph_optimization: str = "all",
             execution_mode: str = "sequential") -> None:
        try:
            self.session = create_session(self.ort, path, threads, graph_optimization, execution_mode)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise AgentError(f"onnxruntime cannot load {path}: {first_line(exc)}") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_names = [self.session.get_outputs()[0].name]
        batch = model_input.shape[0]
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None

    def input_shape(self) -> List[int]:
        return [d if isinstance(d, int) else -1 for d in self.session.get_inputs()[0].shape]

    def invoke(self, prepared):
        return self.session.run(self.output_names, {self.input_name: prepared})[0]

    def close(self) -> None:
        self.session = None
