"""Does no inference: what it measures is the harness's own cost per iteration."""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from device_agent.backends import Backend


class NullBackend(Backend):
    name = "null"

    def version(self) -> Optional[str]:
        return None

    def load(self, path: str, threads: int) -> None:
        self.output = np.zeros((1, 1), dtype=np.float32)

    def input_shape(self) -> List[int]:
        return []

    def invoke(self, prepared):
        return self.output
