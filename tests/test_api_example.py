"""`examples/notebook.py` runs cell by cell in one namespace, as a notebook would, and reaches its answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notebook.py"


def cells(text: str):
    """The code cells (from a line `# %%` to the next), without the Markdown ones (`# %% [markdown]`)."""
    chunks = re.split(r"^# %%", text, flags=re.MULTILINE)
    return [chunk for chunk in chunks[1:] if not chunk.startswith(" [markdown]")]


def test_cells_are_marked():
    code = cells(EXAMPLE.read_text())
    assert len(code) == 6 and all(chunk.strip() for chunk in code)


@pytest.mark.slow  # trains, exports and measures end to end (about as long as tests/test_api.py's export)
def test_example_notebook_runs(capsys):
    namespace = {"__name__": "__main__"}
    for number, chunk in enumerate(cells(EXAMPLE.read_text())):
        exec(compile(chunk, f"{EXAMPLE}#cell{number}", "exec"), namespace)
    out = capsys.readouterr().out
    bundle, rep = namespace["bundle"], namespace["rep"]
    assert [a.name for a in bundle.artifacts] == ["onnx-fp32", "onnx-int8"]
    assert bundle["onnx-fp32"].accuracy > 0.8  # 60 full-batch steps on the digits
    assert rep.answer is not None and rep.answer.max_drop_pp == 1.0
    assert rep.answer.smallest == "digits-cnn/onnx-int8"  # int8 within 1 pp and the smaller file
    assert "refused (exit 2 on the command line): max_drop -1 is out of range" in out
    assert (namespace["work"] / "report.html").read_text().startswith("<!DOCTYPE html>")
