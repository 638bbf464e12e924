"""The command line itself: unknown commands and options, a closed pipe, and `demo` / `models` with bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import one_error_line
from .test_train import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args, code, message", [
    (["trian"], 2, "error: No such command 'trian'."),
    (["train", "test_vgg", "--epoch", "3"], 2, "error: No such option '--epoch'. Did you mean '--epochs'?"),
    (["train"], 2, "error: Missing argument 'MODEL'."),
    (["demo", "--epochs", "0"], 2, "--epochs 0 is out of range: give a whole number >= 1"),
    (["demo", "--threads", "0"], 2, "--threads 0 is out of range: give a thread count >= 1"),
    (["models", "--classes", "1"], 2, "Invalid value for '--classes'"),
    (["models", "--family", "resnt"], 1, "error: unknown family 'resnt': valid families are"),
])
def test_usage_errors_are_one_line(tmp_path, args, code, message):
    result = run(tmp_path, *args)
    line = one_error_line(result.output)
    assert result.exit_code == code and message in line
    assert "Usage:" not in result.output


def test_demo_never_writes_into_a_folder_of_the_users(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    result = run(tmp_path, "demo", "--out", str(mine), "--epochs", "1")
    assert result.exit_code == 1
    assert one_error_line(result.output) == (f"error: {mine} exists and was not created by edgebench: it is never "
                                             "replaced; choose another output folder")


def test_closed_pipe_ends_quietly():
    process = subprocess.Popen([sys.executable, "-m", "edgebench", "models", "--family", "test"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head -c 0` would: the first write meets a closed pipe
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert process.returncode == 141 and stderr == ""
