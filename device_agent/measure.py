"""Inside a `_measure` child: one configuration's model, loaded once, answering the parent's requests.

Requests (one JSON object each, `cmd` says which): `load` (import the runtime, read the inputs, load the model,
run it once; answers the cold-start timings), `time` (an optional warm-up, then one timed loop; answers the
samples in ns), `memory`, `accuracy`, `profile`, `sustained`, `close`. The timed loop is the harness's own
`timed_loop` around `backend.invoke`, exactly as when each artifact had a process of its own.
"""

from __future__ import annotations

import gc
import importlib
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

from device_agent.backends.base import Backend, backend_for
from device_agent.bundle import load_bundle, load_eval, prepare_inputs, verify_file
from device_agent.configs import Setting
from device_agent.errors import AgentError
from device_agent.formats import RUNTIMES
from device_agent.memory import peak_rss_mb, reset_peak, rss_mb
from device_agent.protocol import TimingSettings, timed_loop, warm_up
from device_agent.sustained import run_sustained


def _ms_since(tick: int) -> float:
    return round((time.perf_counter_ns() - tick) / 1e6, 3)


def check_shape(model_shape: List[int], input_shape, name: str) -> None:
    if not model_shape:
        return
    expected = list(model_shape[1:])
    if len(expected) != len(input_shape) or any(e > 0 and e != a for e, a in zip(expected, input_shape)):
        raise AgentError(f"{name} expects input {model_shape}, but the bundle's images give "
                         f"[1, {', '.join(map(str, input_shape))}]: the manifest and model disagree")


def accuracy(backend: Backend, inputs: np.ndarray, labels: np.ndarray) -> Dict:
    """A separate pass over the evaluation set, batched where the model allows it; not timed."""
    step = backend.max_batch or 64
    correct = 0
    for start in range(0, len(inputs), step):
        logits = backend.finish(backend.invoke(backend.prepare(inputs[start:start + step])))
        correct += int((logits.reshape(len(logits), -1).argmax(1) == labels[start:start + step]).sum())
    return {"top1": round(correct / max(1, len(labels)), 6), "correct": correct, "count": int(len(labels))}


class Measurement:
    def __init__(self):
        self.backend: Optional[Backend] = None
        self.artifact: Dict[str, Any] = {}
        self.setting = Setting()
        self.path = ""
        self.inputs: Optional[np.ndarray] = None
        self.labels: Optional[np.ndarray] = None
        self.single = None
        self.memory: Dict[str, Any] = {}
        self.peak_reset = False

    def handle(self, request: Dict[str, Any]) -> Dict[str, Any]:
        command = request.get("cmd")
        handler = {"load": self.load, "time": self.time, "memory": self.memory_now, "accuracy": self.accuracy,
                   "profile": self.profile, "sustained": self.sustained, "close": lambda _: {}}.get(command)
        if handler is None:
            raise AgentError(f"unknown request {command!r}")
        if command not in ("load", "close") and self.backend is None:
            raise AgentError(f"request {command!r} before a model was loaded")
        return handler(request)

    def load(self, request: Dict[str, Any]) -> Dict[str, Any]:
        bundle = load_bundle(request["bundle"], verify=False)  # the parent has checked every file already
        if bundle.manifest_sha256 != request["manifest_sha256"]:
            raise AgentError("the bundle's manifest changed while the agent was running")
        self.artifact = bundle.artifacts[request["artifact_index"]]
        self.setting = Setting(**request["setting"])
        tick = time.perf_counter_ns()
        backend = backend_for(str(self.artifact.get("format")), request.get("backend"))
        imported = _ms_since(tick)
        answer: Dict[str, Any] = {"backend": backend.name, "backend_version": backend.version()}
        self.path = verify_file(bundle, self.artifact)
        images, self.labels = load_eval(bundle, request.get("eval_limit"))
        self.inputs = prepare_inputs(images, bundle.manifest["preprocess"], self.artifact["input"]["layout"])
        gc.collect()
        self.peak_reset = reset_peak()
        self.memory = {"rss_before_load_mb": rss_mb()}
        tick = time.perf_counter_ns()
        backend.load(self.path, self.setting.threads, **self.setting.backend_options(backend.name))
        self.backend = backend
        loaded = _ms_since(tick)
        self.memory["rss_after_load_mb"] = rss_mb()
        check_shape(backend.input_shape(), self.inputs.shape[1:], str(self.artifact.get("name")))
        self.single = backend.prepare(self.inputs[:1])
        tick = time.perf_counter_ns()
        backend.invoke(self.single)
        first = _ms_since(tick)
        answer.update(delegate=getattr(backend, "delegate", None),
                      cold_start_ms={"import": imported, "load": loaded, "first_inference": first})
        return answer

    def time(self, request: Dict[str, Any]) -> Dict[str, Any]:
        backend, single = self.backend, self.single
        answer: Dict[str, Any] = {}
        warmup = request.get("warmup")
        if warmup:
            answer["warmup"] = warm_up(lambda: backend.invoke(single),
                                       TimingSettings(warmup_runs=warmup["runs"], warmup_seconds=warmup["seconds"],
                                                      max_seconds=warmup["max_seconds"]))
        settings = TimingSettings(min_runs=request["min_runs"], min_seconds=request["min_seconds"],
                                  max_seconds=request["max_seconds"])
        answer["samples_ns"] = timed_loop(lambda: backend.invoke(single), settings)
        return answer

    def memory_now(self, request: Dict[str, Any]) -> Dict[str, Any]:
        peak, method = peak_rss_mb(self.peak_reset)
        return dict(self.memory, peak_rss_mb=peak, peak_method=method,
                    model_file_mb=round(os.path.getsize(self.path) / 2**20, 4))

    def accuracy(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return accuracy(self.backend, self.inputs, self.labels)

    def profile(self, request: Dict[str, Any]) -> Dict[str, Any]:
        runtime = RUNTIMES.get(self.backend.name)
        if runtime is None or runtime.profiler is None:
            return {"available": False, "reason": f"the {self.backend.name} backend runs no model to profile"}
        module_name, function_name = runtime.profiler.split(":")
        profile = getattr(importlib.import_module(module_name), function_name)
        return profile(self.path, self.setting.to_json(), self.single, int(request["runs"]),
                       self.artifact.get("layers", {}))

    def sustained(self, request: Dict[str, Any]) -> Dict[str, Any]:
        backend, single = self.backend, self.single
        return run_sustained(lambda: backend.invoke(single), float(request["seconds"]))

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None
