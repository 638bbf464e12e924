"""`edgebench optimize` on a full disk: one line naming the file it could not write, exit 1, and nothing
half-written: a disk full at the start leaves nothing, one that fills during the host stage stops the run at the
first export (every later one would fail the same way) and leaves a journal that reads back."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgebench.cli import cli

from .conftest import fill_disk, one_error_line

FAST = ("--max-drop", "1", "--device", "local", "--format", "onnx", "--threads", "1", "--eval-size", "20",
        "--calibration-size", "8", "--device-budget", "1m")


def optimize(out, *args):
    return CliRunner().invoke(cli, ["optimize", "test_resnet", "--out", str(out), *FAST, *args])


def test_a_full_disk_at_the_start_is_one_line_and_leaves_nothing(tiny_tmpfs):
    fill_disk(tiny_tmpfs)
    out = tiny_tmpfs / "o"
    result = optimize(out)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert line.startswith(f"error: cannot write {out}") and line.endswith(": no space left on the device")
    assert [p.name for p in tiny_tmpfs.iterdir()] == [".filler"]


@pytest.mark.slow
def test_a_disk_that_fills_during_the_exports_stops_at_the_first_one(tiny_tmpfs):
    fill_disk(tiny_tmpfs, leave=32 * 1024)
    out = tiny_tmpfs / "o"
    result = optimize(out)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert line.startswith(f"error: cannot write {out / 'cache' / 'exports'}/onnx-")
    assert line.endswith("/model.fp32.onnx: no space left on the device")
    assert "export onnx-mix" not in result.output  # stopped at the first export, not tried for each
    journal = json.loads((out / "journal.json").read_text())
    assert journal["kind"] == "edgebench.optimize.journal"
    assert list((out / "cache" / "exports").iterdir()) == []  # no half-written export folder
