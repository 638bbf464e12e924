"""One explanation per kind of unavailability, said once: a table cell names the kind in a few words and the
section states the full explanation (with what to run instead) once below the table, however many rows share it.

The agent writes the reason per run (with that run's artifact and thread count in it); `kind_of` folds those
specifics into placeholders so that every run of one kind reads the same."""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Tuple

# (how the agent's reason starts, the short cell text)
KINDS: Tuple[Tuple[str, str], ...] = (
    ("the TFLite Python interpreter", "TFLite: no per-operator profiler in Python (see below)"),
    ("the ONNX Runtime profiler failed", "ONNX Runtime profiler failed (see below)"),
    ("the ONNX Runtime profile holds no kernel events", "no kernel events (see below)"),
)


def kind_of(reason: str) -> Tuple[str, str]:
    """(short cell text, the explanation with the run's specifics made generic) for one agent reason."""
    for start, short in KINDS:
        if reason.startswith(start):
            generic = re.sub(r"--graph=\S+", "--graph=ARTIFACT.tflite", reason)
            generic = re.sub(r"--num_threads=\d+", "--num_threads=THREADS", generic)
            return short, generic
    return reason, ""


def explanations(reasons: Iterable[str]) -> List[str]:
    """Each distinct explanation once, in the order first met."""
    seen: Dict[str, None] = {}
    for reason in reasons:
        _, explanation = kind_of(reason)
        if explanation:
            seen.setdefault(explanation, None)
    return list(seen)
