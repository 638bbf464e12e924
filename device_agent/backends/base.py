"""The backend interface and its registry: one backend per runtime of the contract table
(`device_agent/formats.py`), plus `null`; the artifact's format picks the default one."""

from __future__ import annotations

import importlib
from typing import Dict, List, Optional

import numpy as np

from device_agent.errors import AgentError
from device_agent.formats import FORMATS, NULL_BACKEND, RUNTIMES


class Backend:
    """Load once, then `invoke` in the timed loop; `prepare`/`finish` convert outside the clock."""

    name = "backend"
    max_batch: Optional[int] = None  # None: any batch size

    def version(self) -> Optional[str]:
        return None

    def load(self, path: str, threads: int, **runtime_options) -> None:
        """Open the model with `threads` intra-op threads (0: the runtime's choice) and the backend's own
        options (`Setting.backend_options`)."""
        raise NotImplementedError

    def input_shape(self) -> List[int]:
        raise NotImplementedError

    def prepare(self, inputs: np.ndarray):
        """float32 model input -> what `invoke` takes (quantized for integer inputs)."""
        return inputs

    def invoke(self, prepared):
        raise NotImplementedError

    def finish(self, raw) -> np.ndarray:
        """What `invoke` returned -> float32 logits."""
        return np.asarray(raw, dtype=np.float32)

    def close(self) -> None:
        pass


# backend name -> "module:Class"; each module is imported only when its backend is used
BACKENDS: Dict[str, str] = {**{name: runtime.backend for name, runtime in RUNTIMES.items()}, "null": NULL_BACKEND}
FORMAT_BACKENDS: Dict[str, str] = {name: row.runtime for name, row in FORMATS.items()}


def create_backend(name: str) -> Backend:
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def backend_for(artifact_format: str, override: Optional[str] = None) -> Backend:
    if override is not None:
        if override not in BACKENDS:
            raise AgentError(f"unknown backend '{override}': choose from {', '.join(sorted(BACKENDS))}")
        return create_backend(override)
    if artifact_format not in FORMAT_BACKENDS:
        raise AgentError(f"unknown artifact format '{artifact_format}': this agent runs "
                         f"{', '.join(sorted(FORMAT_BACKENDS))}")
    return create_backend(FORMAT_BACKENDS[artifact_format])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
