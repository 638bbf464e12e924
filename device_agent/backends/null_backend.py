"""Does no inference: what it measures is the harness's own cost per iteration.

`EDGEBENCH_AGENT_NULL_CRASH=abort|segv|hang[:FILE]` makes its `load` crash the process for real (SIGABRT
through os.abort, SIGSEGV through a read of address 0) or never return, for every artifact or only the one
whose file is FILE: the way to exercise the agent's crash isolation without a broken runtime at hand.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import List, Optional

import numpy as np

from device_agent.backends.base import Backend

CRASH_VARIABLE = "EDGEBENCH_AGENT_NULL_CRASH"


def _crash_if_asked(path: str) -> None:
    how, _, only = os.environ.get(CRASH_VARIABLE, "").partition(":")
    if not how or (only and os.path.basename(path) != only):
        return
    if how == "abort":
        os.abort()
    if how == "segv":
        ctypes.string_at(0)
    if how == "hang":
        time.sleep(3600)


class NullBackend(Backend):
    name = "null"

    def version(self) -> Optional[str]:
        return None

    def load(self, path: str, threads: int, **runtime_options) -> None:
        _crash_if_asked(path)
        self.output = np.zeros((1, 1), dtype=np.float32)

    def input_shape(self) -> List[int]:
        return []

    def invoke(self, prepared):
        return self.output
