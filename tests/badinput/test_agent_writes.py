"""`device_agent` when the result cannot be written (full disk, read-only folder), when its reader goes away
(broken pipe) and when it is told to stop (SIGTERM): what was measured is never lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import mounted_tmpfs
from .test_agent_bundle import FAST, ROOT, agent, bundle, pristine, snapshot  # noqa: F401 (fixtures)


@pytest.fixture
def small_disk(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "size=64k") as folder:
        yield folder


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read-only"
    if os.geteuid() == 0:
        with mounted_tmpfs(folder, "ro,size=64k"):
            yield folder, "the file system is read-only"
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder, "permission denied"
        folder.chmod(0o755)


def test_full_disk_keeps_the_saved_runs_and_prints_the_whole_result(bundle, small_disk):
    """About 25 kB of samples per configuration once all rounds are done: the result is saved after every round
    and soon no longer fits the 64 kB disk beside its earlier version; the last one that did stays."""
    out = small_disk / "r.json"
    done = agent("run", str(bundle), "--out", str(out), "--backend", "null", "--samples", "--warmup-runs", "0",
                 "--min-runs", "1500", "--min-seconds", "0", "--quiet")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: cannot write {out}: no space left on the device; the result is "
                                        "printed on stdout instead"]
    printed = json.loads(done.stdout)
    assert [r["error"] for r in printed["runs"]] == [None, None] and printed["complete"] is True
    assert all(len(r["samples_ms"]) == 1500 and "partial" not in r for r in printed["runs"])
    kept = json.loads(out.read_text())
    assert [r["artifact"] for r in kept["runs"]] == ["onnx-fp32", "onnx-fp32-again"] and kept["complete"] is False
    for saved, whole in zip(kept["runs"], printed["runs"]):
        rounds = saved["partial"]["rounds_done"]
        assert 1 <= rounds < 10 and saved["rounds_ms"] == whole["rounds_ms"][:rounds]
        assert len(saved["samples_ms"]) == saved["latency_ms"]["n"] == 150 * rounds
        assert saved["samples_ms"] == whole["samples_ms"][:150 * rounds]
    assert os.listdir(small_disk) == ["r.json"]  # no temporary left behind


def test_read_only_folder_fails_before_measuring(bundle, read_only, tmp_path):
    folder, reason = read_only
    before = snapshot(tmp_path)
    done = agent("run", str(bundle), "--out", str(folder / "r.json"), *FAST)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: cannot write {folder / 'r.json'}: {reason}; the result is printed "
                                        "on stdout instead"]
    printed = json.loads(done.stdout)
    assert printed["runs"] == [] and printed["complete"] is False and printed["bundle"]["manifest_sha256"]
    assert snapshot(tmp_path) == before


def test_info_into_a_closed_pipe_exits_quietly():
    process = subprocess.Popen([sys.executable, "-m", "device_agent", "info"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the facts are printed, like `| head -c 0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and stderr == ""


def test_info_through_head():
    done = subprocess.run(f"{sys.executable} -m device_agent info | head -c 10", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "{\n  \"name\"" and done.stderr == ""


def _children(pid: int) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGTERM, 143, "terminated by SIGTERM"),
    pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),  # the same path, 12 s more
])
def test_stop_signal_keeps_the_finished_runs_and_stops_the_measuring_process(bundle, tmp_path, signum, code, line):
    out = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "device_agent", "run", str(bundle), "--out", str(out),
                                "--warmup-seconds", "0", "--min-seconds", "2", "--max-seconds", "2",
                                "--artifacts", "onnx-fp32,onnx-fp32-again", "--backend", "null", "--no-interleave"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    while not lines or not lines[-1].startswith("[2/2]"):
        lines.append(process.stderr.readline())
        assert lines[-1], "".join(lines)
    for _ in range(100):  # the second artifact's measuring process
        children = _children(process.pid)
        if children:
            break
        time.sleep(0.05)
    process.send_signal(signum)
    assert process.wait(timeout=60) == code
    rest = process.stderr.read()
    assert rest == f"{line}: 1 finished run(s) saved to {out} (marked incomplete)\n"
    result = json.loads(out.read_text())
    assert result["complete"] is False and result["error"] == ("interrupted" if code == 130 else line)
    assert [r["artifact"] for r in result["runs"]] == ["onnx-fp32"]
    assert children and not any(os.path.exists(f"/proc/{child}") for child in children)
