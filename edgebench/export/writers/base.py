"""The writer interface and its registry: each format's writer is named in the `FORMATS` table
(`edgebench/export/spec.py`) and imported only when that format is exported."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

import numpy as np

from edgebench.export.context import ExportContext
from edgebench.export.spec import FORMATS, Format, Precision

Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Written:
    """An artifact file as written: its input/output contract and how it was quantized."""

    input: dict
    output: dict
    quantization: Optional[dict]
    seconds: Optional[float] = None  # the writer's own seconds where the work ran elsewhere (a worker process)


class ArtifactWriter(Protocol):
    def write(self, precision: Precision, path: Path) -> Written: ...

    def logits(self, path: Path, inputs_nchw: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def open_writer(fmt: Format, context: ExportContext, work: Path, log: Log) -> ArtifactWriter:
    """The format's writer from the table; heavy converters are imported only here."""
    module_name, class_name = FORMATS[fmt].writer.split(":")
    return getattr(importlib.import_module(module_name), class_name)(context, work, log)
