"""The tiny real bundle the fleet's tests and benchmark send around (a pooled two-class ONNX on 8x8 images)."""

from __future__ import annotations

from pathlib import Path


def tiny_bundle(folder: Path) -> Path:
    from tests.badinput.test_agent_bundle import tiny_bundle as write

    return write(folder, images=8)
