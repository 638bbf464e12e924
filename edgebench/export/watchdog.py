"""Limits on the export stages that call into converters which can stall (onnx2tf building the TensorFlow graph,
TFLiteConverter and its int8 calibrator): a stage past its limit fails with the stage named, and the pipeline
counts that against the artifact (or, for onnx2tf, the format) alone; the other artifacts are kept.

`EDGEBENCH_STAGE_LIMITS` sets the limits: `SECONDS` for every stage, or `STAGE=SECONDS,...` with stages `onnx2tf`,
`onnx-fp32`, `onnx-int8`, `tflite-fp32`, `tflite-fp16`, `tflite-dynamic`, `tflite-int8` and `*` for the others.
Default: 1800 s each (onnx2tf took 479 s for ResNet-101 here, everything else far less).

The clock is SIGALRM (main thread, POSIX): a stall in Python code (a calibration loop, a download that waits, a
tool it runs, which `subprocess.run` kills on the way out) ends at the limit; a stall inside native code ends when
the code returns to Python, the alarm having marked the stage over its limit. Elsewhere the stage runs unlimited.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

from edgebench.errors import EdgebenchError

LIMITS_VARIABLE = "EDGEBENCH_STAGE_LIMITS"
DEFAULT_LIMIT_S = 1800.0
STAGES = ("onnx2tf", "onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8")


class StageTimeout(EdgebenchError):
    def __init__(self, stage: str, seconds: float):
        super().__init__(f"the {stage} stage ran past its limit of {seconds:g} s ({LIMITS_VARIABLE} sets it)")
        self.stage, self.seconds = stage, seconds


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise EdgebenchError(f"{LIMITS_VARIABLE}: '{where}' is not a limit: give seconds above 0, e.g. "
                             f"'tflite-int8=600' or '900'")
    return value


def limits(text: Optional[str] = None) -> Dict[str, float]:
    """Each stage's limit in seconds, from `text` (default: the environment variable)."""
    text = os.environ.get(LIMITS_VARIABLE, "") if text is None else text
    found = {"*": DEFAULT_LIMIT_S}
    for part in filter(None, (p.strip() for p in text.split(","))):
        stage, equals, value = part.rpartition("=")
        stage = stage.strip() if equals else "*"
        if stage not in STAGES and stage != "*":
            raise EdgebenchError(f"{LIMITS_VARIABLE}: unknown stage '{stage}'; valid: {', '.join(STAGES)}, *")
        found[stage] = _seconds(value.strip(), part)
    return found


def limit_of(stage: str) -> float:
    table = limits()
    return table.get(stage, table["*"])


@contextmanager
def stage_limit(stage: str, seconds: Optional[float] = None) -> Iterator[None]:
    """Run the block under the stage's limit; StageTimeout once it is over (see the module's notes)."""
    seconds = limit_of(stage) if seconds is None else seconds
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    state = {"armed": True, "expired": False}

    def on_alarm(signum, frame):
        if state["armed"]:  # not once the block is over and its limit is being taken down
            state["expired"] = True
            raise StageTimeout(stage, seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    except Exception:
        if state["expired"]:  # a converter may wrap the alarm's exception in its own: the stage is what failed
            raise StageTimeout(stage, seconds) from None
        raise
    finally:
        state["armed"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # an enclosing limit goes on with what was left of it
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer_delay - (time.monotonic() - started)))
    if state["expired"]:
        raise StageTimeout(stage, seconds)
